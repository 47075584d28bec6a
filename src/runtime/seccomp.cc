// runtime/seccomp.cc — linux.seccomp → libseccomp → BPF, exported once in the runtime process;
// the container child only hands the finished program to seccomp(2).
#include "runtime/seccomp.h"

#include <fmt/ranges.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>

#include "base/sys.h"
#include "base/unique_fd.h"
#include "runtime/detail/bpf_fold.h"

namespace berth::runtime {
namespace {

static_assert(sizeof(sock_filter) == sizeof(uint64_t), "SeccompProgram stores 8-byte entries");

struct ContextDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using FilterContext = std::unique_ptr<void, ContextDeleter>;

// libseccomp returns -errno.
Error libseccomp_error(int rc, std::string message) {
  return Error::with_errno(-rc, std::move(message));
}

// The OCI action for a syscall rule or the default; `field` is the action's path for errors and
// errno_ret the matching errnoRet/defaultErrnoRet.
Result<uint32_t> parse_action(std::string_view name, std::optional<unsigned> errno_ret,
                              const std::string& field) {
  // runc's default for both ERRNO and TRACE without errnoRet.
  unsigned errno_value = errno_ret.value_or(EPERM);
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(errno_value);
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(errno_value);
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_NOTIFY")
    return Error::make(ErrorKind::unsupported,
                       "{}: action 'SCMP_ACT_NOTIFY' is not supported (berth has no seccomp agent)",
                       field);
  return Error::make(ErrorKind::invalid_argument, "{}: unknown action '{}'", field, name);
}

Result<scmp_compare> parse_op(std::string_view name, const std::string& field) {
  static constexpr std::array<std::pair<std::string_view, scmp_compare>, 7> kOps{{
      {"SCMP_CMP_NE", SCMP_CMP_NE},
      {"SCMP_CMP_LT", SCMP_CMP_LT},
      {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ},
      {"SCMP_CMP_GE", SCMP_CMP_GE},
      {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
  }};
  for (const auto& [op_name, op] : kOps)
    if (op_name == name) return op;
  return Error::make(ErrorKind::invalid_argument, "{}: unknown operator '{}'", field, name);
}

// "SCMP_ARCH_X86_64" → libseccomp's token for "x86_64", or 0.
uint32_t resolve_arch(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  constexpr std::string_view kPrefix = "scmp_arch_";
  if (lower.starts_with(kPrefix)) lower.erase(0, kPrefix.size());
  if (lower.empty()) return 0;
  return seccomp_arch_resolve_name(lower.c_str());
}

Result<unsigned> parse_flag(std::string_view name, const std::string& field) {
  if (name == "SECCOMP_FILTER_FLAG_TSYNC") return SECCOMP_FILTER_FLAG_TSYNC;
  if (name == "SECCOMP_FILTER_FLAG_LOG") return SECCOMP_FILTER_FLAG_LOG;
  if (name == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") return SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  return Error::make(ErrorKind::invalid_argument, "{}: unknown flag '{}'", field, name);
}

Result<void> add_rules(scmp_filter_ctx ctx, uint32_t default_action,
                       const oci::SeccompSyscall& rule, const std::string& field) {
  BERTH_TRY(uint32_t action, parse_action(rule.action, rule.errno_ret, field + ".action"));
  // libseccomp refuses rules that repeat the default action; they would change nothing anyway.
  if (action == default_action) return {};

  std::vector<scmp_arg_cmp> conditions;
  for (size_t i = 0; i < rule.args.size(); ++i) {
    const oci::SeccompArg& arg = rule.args[i];
    std::string arg_field = fmt::format("{}.args[{}]", field, i);
    BERTH_TRY(scmp_compare op, parse_op(arg.op, arg_field + ".op"));
    if (arg.index > 5)
      return Error::make(ErrorKind::invalid_argument, "{}.index: argument index {} is above 5",
                         arg_field, arg.index);
    // For MASKED_EQ libseccomp takes the mask first and the value second, as runc passes them.
    conditions.push_back(
        scmp_arg_cmp{arg.index, op, arg.value, op == SCMP_CMP_MASKED_EQ ? arg.value_two : 0});
  }
  // As runc: several conditions on one argument mean "any of them" (a rule each); conditions on
  // distinct arguments mean "all of them" (one rule).
  bool repeated_index = false;
  for (size_t i = 0; i < conditions.size() && !repeated_index; ++i)
    for (size_t j = i + 1; j < conditions.size(); ++j)
      if (conditions[i].arg == conditions[j].arg) repeated_index = true;

  for (const std::string& name : rule.names) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // a syscall this libseccomp/arch does not know
    auto add = [&](unsigned count, const scmp_arg_cmp* conds) -> Result<void> {
      int rc = seccomp_rule_add_array(ctx, action, nr, count, conds);
      if (rc < 0) return libseccomp_error(rc, fmt::format("{}: add rule for '{}'", field, name));
      return {};
    };
    if (repeated_index) {
      for (const scmp_arg_cmp& cond : conditions) BERTH_TRY_VOID(add(1, &cond));
    } else {
      BERTH_TRY_VOID(add(static_cast<unsigned>(conditions.size()), conditions.data()));
    }
  }
  return {};
}

Result<std::vector<uint64_t>> export_bpf(scmp_filter_ctx ctx) {
  int raw = ::memfd_create("berth-seccomp", MFD_CLOEXEC);
  if (raw < 0) return Error::from_errno("export seccomp filter: memfd_create");
  UniqueFd fd(raw);
  int rc = seccomp_export_bpf(ctx, fd.get());
  if (rc < 0) return libseccomp_error(rc, "export seccomp filter");
  if (::lseek(fd.get(), 0, SEEK_SET) < 0) return Error::from_errno("export seccomp filter: lseek");
  BERTH_TRY_CTX(std::string bytes, sys::read_fd(fd.get()), "export seccomp filter");
  if (bytes.size() % sizeof(sock_filter) != 0)
    return Error::make(ErrorKind::internal,
                       "export seccomp filter: {} bytes is not a whole program", bytes.size());
  std::vector<uint64_t> instructions(bytes.size() / sizeof(sock_filter));
  std::memcpy(instructions.data(), bytes.data(), bytes.size());
  return instructions;
}

}  // namespace

Result<SeccompProgram> compile_seccomp(const oci::Seccomp& seccomp, bool fold) {
  SeccompProgram program;
  for (size_t i = 0; i < seccomp.flags.size(); ++i) {
    BERTH_TRY(unsigned flag,
              parse_flag(seccomp.flags[i], fmt::format("linux.seccomp.flags[{}]", i)));
    program.flags |= flag;
  }

  BERTH_TRY(uint32_t default_action, parse_action(seccomp.default_action, seccomp.default_errno_ret,
                                                  "linux.seccomp.defaultAction"));
  FilterContext ctx(seccomp_init(default_action));
  if (!ctx)
    return Error::make(ErrorKind::invalid_argument,
                       "linux.seccomp.defaultAction: libseccomp rejected '{}'",
                       seccomp.default_action);
  // The runtime sets no_new_privs itself, and only when process.noNewPrivileges asks for it.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0); rc < 0)
    return libseccomp_error(rc, "seccomp: clear no_new_privs attribute");

  for (size_t i = 0; i < seccomp.architectures.size(); ++i) {
    const std::string& name = seccomp.architectures[i];
    uint32_t arch = resolve_arch(name);
    if (arch == 0)
      return Error::make(ErrorKind::invalid_argument,
                         "linux.seccomp.architectures[{}]: unknown architecture '{}'", i, name);
    int rc = seccomp_arch_add(ctx.get(), arch);
    // EEXIST: the native architecture, which seccomp_init already added.
    if (rc < 0 && rc != -EEXIST)
      return libseccomp_error(rc,
                              fmt::format("linux.seccomp.architectures[{}]: add '{}'", i, name));
  }

  for (size_t i = 0; i < seccomp.syscalls.size(); ++i)
    BERTH_TRY_VOID(add_rules(ctx.get(), default_action, seccomp.syscalls[i],
                             fmt::format("linux.seccomp.syscalls[{}]", i)));

  BERTH_TRY(auto exported, export_bpf(ctx.get()));
  // Docker's default profile exports as ~960 single-number tests; as ranges it is a quarter of
  // that, which the kernel installs (checks, converts, JIT-compiles) in a quarter of the time.
  program.instructions = fold ? detail::fold_equality_runs(exported) : std::move(exported);
  return program;
}

namespace {

// Everything compile_seccomp reads, as text: equal texts compile to equal programs.
std::string cache_key_text(const oci::Seccomp& s) {
  const scmp_version* v = seccomp_version();
  struct utsname u;
  ::uname(&u);
  std::string text = fmt::format("libseccomp {}.{}.{} api {} kernel {} {} folded\n", v->major, v->minor, v->micro,
                                 seccomp_api_get(), u.release, u.machine);
  text += fmt::format("{}|{}|{}|{}\n", s.default_action, s.default_errno_ret.value_or(~0u),
                      fmt::join(s.architectures, ","), fmt::join(s.flags, ","));
  for (const auto& rule : s.syscalls) {
    text += fmt::format("{}|{}|{}", fmt::join(rule.names, ","), rule.action, rule.errno_ret.value_or(~0u));
    for (const auto& a : rule.args) text += fmt::format("|{},{},{},{}", a.index, a.value, a.value_two, a.op);
    text += "\n";
  }
  return text;
}

// 128 bits of FNV-1a (two 64-bit lanes with different offsets), in hex.
std::string cache_key(std::string_view text) {
  uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
  for (unsigned char ch : text) {
    a = (a ^ ch) * 0x100000001b3ull;
    b = (b ^ (ch + 0x9e)) * 0x100000001b3ull;
  }
  return fmt::format("{:016x}{:016x}", a, b);
}

}  // namespace

Result<SeccompProgram> compile_seccomp_cached(const oci::Seccomp& seccomp, const std::string& cache_dir) {
  std::string path = fmt::format("{}/{}.bpf", cache_dir, cache_key(cache_key_text(seccomp)));
  if (auto bytes = sys::read_file(path); bytes && bytes->size() >= 8 && bytes->size() % 8 == 0) {
    SeccompProgram program;
    uint64_t flags;
    std::memcpy(&flags, bytes->data(), 8);
    program.flags = static_cast<unsigned>(flags);
    program.instructions.resize(bytes->size() / 8 - 1);
    std::memcpy(program.instructions.data(), bytes->data() + 8, bytes->size() - 8);
    if (!program.instructions.empty()) return program;
  }
  BERTH_TRY(auto program, compile_seccomp(seccomp));
  // Best effort: a cache that cannot be written only costs the next start its compile time.
  if (sys::mkdir_all(cache_dir, 0700)) {
    std::string bytes(8 + program.instructions.size() * 8, '\0');
    uint64_t flags = program.flags;
    std::memcpy(bytes.data(), &flags, 8);
    std::memcpy(bytes.data() + 8, program.instructions.data(), program.instructions.size() * 8);
    (void)sys::atomic_write(path, bytes, 0600, sys::Durability::process_crash);
  }
  return program;
}

Result<void> load_seccomp(const SeccompProgram& program) {
  // Runs in the container child just before execve: one syscall, nothing allocated unless it fails.
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(program.instructions.size());
  prog.filter = reinterpret_cast<sock_filter*>(const_cast<uint64_t*>(program.instructions.data()));
  if (program.instructions.size() > BPF_MAXINSNS)
    return Error::make(ErrorKind::invalid_argument,
                       "load seccomp filter: {} instructions exceed the kernel's limit of {}",
                       program.instructions.size(), BPF_MAXINSNS);
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, program.flags, &prog) < 0)
    return Error::from_errno("load seccomp filter");
  return {};
}

}  // namespace berth::runtime
