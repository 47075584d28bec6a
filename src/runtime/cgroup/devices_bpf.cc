// runtime/cgroup/devices_bpf.cc — device access on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE
// program, hand-assembled from the OCI rules, attached to the cgroup with bpf(2).
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "base/unique_fd.h"
#include "runtime/cgroup/detail/cgroup_internal.h"

namespace berth::runtime::cgroup::detail {

namespace {

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

// Registers: r1 = struct bpf_cgroup_dev_ctx*, then r2 = device type, r3 = access asked for,
// r4 = major, r5 = minor; r1 is scratch once they are loaded.
constexpr uint8_t kCtx = 1, kType = 2, kAccess = 3, kMajor = 4, kMinor = 5, kScratch = 1;
constexpr uint8_t kLoadWord = BPF_LDX | BPF_W | BPF_MEM;
constexpr uint8_t kJneImm = BPF_JMP | BPF_JNE | BPF_K;
constexpr uint8_t kJneReg = BPF_JMP | BPF_JNE | BPF_X;
constexpr uint8_t kJeqImm = BPF_JMP | BPF_JEQ | BPF_K;

int32_t access_bits(const std::string& access) {
  if (access.empty()) return BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;
  int32_t bits = 0;
  for (char c : access) {
    if (c == 'r') bits |= BPF_DEVCG_ACC_READ;
    if (c == 'w') bits |= BPF_DEVCG_ACC_WRITE;
    if (c == 'm') bits |= BPF_DEVCG_ACC_MKNOD;
  }
  return bits;
}

long bpf(int cmd, bpf_attr* attr) { return ::syscall(SYS_bpf, cmd, attr, sizeof(*attr)); }

uint64_t ptr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

Result<UniqueFd> load_program(const std::vector<bpf_insn>& program) {
  static const char kLicense[] = "Apache-2.0";
  bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = ptr(program.data());
  attr.insn_cnt = static_cast<uint32_t>(program.size());
  attr.license = ptr(kLicense);
  long fd = bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  int saved = errno;
  // Load again with the verifier's log, so the error says what it rejected.
  std::string log(65536, '\0');
  attr.log_buf = ptr(log.data());
  attr.log_size = static_cast<uint32_t>(log.size());
  attr.log_level = 1;
  fd = bpf(BPF_PROG_LOAD, &attr);
  if (fd >= 0) return UniqueFd(static_cast<int>(fd));
  log.resize(std::strlen(log.c_str()));
  while (!log.empty() && log.back() == '\n') log.pop_back();
  auto error = Error::with_errno(saved, "load the device cgroup bpf program");
  return log.empty() ? std::move(error) : std::move(error).with_hint("verifier: " + log);
}

}  // namespace

std::vector<bpf_insn> device_filter_program(const std::vector<oci::DeviceRule>& rules) {
  std::vector<bpf_insn> p = {
      insn(kLoadWord, kType, kCtx, offsetof(bpf_cgroup_dev_ctx, access_type), 0),
      insn(BPF_ALU | BPF_AND | BPF_K, kType, 0, 0, 0xffff),
      insn(kLoadWord, kAccess, kCtx, offsetof(bpf_cgroup_dev_ctx, access_type), 0),
      insn(BPF_ALU | BPF_RSH | BPF_K, kAccess, 0, 0, 16),
      insn(kLoadWord, kMajor, kCtx, offsetof(bpf_cgroup_dev_ctx, major), 0),
      insn(kLoadWord, kMinor, kCtx, offsetof(bpf_cgroup_dev_ctx, minor), 0),
  };
  constexpr int32_t kAll = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;
  for (auto rule = rules.rbegin(); rule != rules.rend(); ++rule) {
    std::vector<bpf_insn> block;
    std::vector<size_t> exits;  // jumps to the next rule, patched once the block is complete
    auto jump_out = [&](bpf_insn j) {
      exits.push_back(block.size());
      block.push_back(j);
    };
    if (rule->type == "c" || rule->type == "b")
      jump_out(
          insn(kJneImm, kType, 0, 0, rule->type == "c" ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK));
    int32_t bits = access_bits(rule->access);
    if (bits != kAll) {
      block.push_back(insn(BPF_ALU | BPF_MOV | BPF_X, kScratch, kAccess, 0, 0));
      block.push_back(insn(BPF_ALU | BPF_AND | BPF_K, kScratch, 0, 0, bits));
      // Allow: every access asked for is granted. Deny: any access asked for is denied.
      if (rule->allow)
        jump_out(insn(kJneReg, kScratch, kAccess, 0, 0));
      else
        jump_out(insn(kJeqImm, kScratch, 0, 0, 0));
    }
    if (rule->major && *rule->major >= 0)
      jump_out(insn(kJneImm, kMajor, 0, 0, static_cast<int32_t>(*rule->major)));
    if (rule->minor && *rule->minor >= 0)
      jump_out(insn(kJneImm, kMinor, 0, 0, static_cast<int32_t>(*rule->minor)));
    block.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, rule->allow ? 1 : 0));
    block.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    for (size_t at : exits) block[at].off = static_cast<int16_t>(block.size() - at - 1);
    p.insert(p.end(), block.begin(), block.end());
    // A rule that matches every access makes the rest unreachable, which the verifier rejects.
    if (exits.empty()) return p;
  }
  p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1));
  p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  return p;
}

Result<void> attach_device_filter(int dirfd, const std::vector<oci::DeviceRule>& rules) {
  for (const auto& rule : rules)
    if (rule.type != "a" && rule.type != "c" && rule.type != "b" && !rule.type.empty())
      return Error::make(ErrorKind::invalid_argument, "invalid device rule type '{}'", rule.type);
  BERTH_TRY(auto program, load_program(device_filter_program(rules)));

  // Programs attached before (an earlier apply): replaced once the new one is in place, so that
  // no moment passes without a filter.
  uint32_t old_ids[64] = {};
  bpf_attr query;
  std::memset(&query, 0, sizeof query);
  query.query.target_fd = static_cast<uint32_t>(dirfd);
  query.query.attach_type = BPF_CGROUP_DEVICE;
  query.query.prog_ids = ptr(old_ids);
  query.query.prog_cnt = 64;
  uint32_t old_count = bpf(BPF_PROG_QUERY, &query) == 0 ? query.query.prog_cnt : 0;

  bpf_attr attach;
  std::memset(&attach, 0, sizeof attach);
  attach.target_fd = static_cast<uint32_t>(dirfd);
  attach.attach_bpf_fd = static_cast<uint32_t>(program.get());
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf(BPF_PROG_ATTACH, &attach) < 0)
    return Error::from_errno("attach the device cgroup bpf program");

  for (uint32_t i = 0; i < old_count && i < 64; ++i) {
    bpf_attr get;
    std::memset(&get, 0, sizeof get);
    get.prog_id = old_ids[i];
    long fd = bpf(BPF_PROG_GET_FD_BY_ID, &get);
    if (fd < 0) continue;
    UniqueFd old(static_cast<int>(fd));
    bpf_attr detach;
    std::memset(&detach, 0, sizeof detach);
    detach.target_fd = static_cast<uint32_t>(dirfd);
    detach.attach_bpf_fd = static_cast<uint32_t>(old.get());
    detach.attach_type = BPF_CGROUP_DEVICE;
    if (bpf(BPF_PROG_DETACH, &detach) < 0)
      return Error::from_errno("detach the previous device cgroup bpf program");
  }
  return {};
}

}  // namespace berth::runtime::cgroup::detail
