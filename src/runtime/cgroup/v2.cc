// runtime/cgroup/v2.cc — cgroup v2: one directory in the unified hierarchy; controllers are
// enabled top-down through each ancestor's cgroup.subtree_control.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "base/sys.h"
#include "base/unique_fd.h"
#include "runtime/cgroup/cgroup.h"
#include "runtime/cgroup/detail/cgroup_internal.h"

namespace berth::runtime::cgroup {

namespace {

using detail::read_knob;
using detail::write_knob;

std::string limit_value(int64_t v) { return v < 0 ? std::string("max") : std::to_string(v); }

Result<void> write_memory(int dirfd, const oci::Memory& m) {
  if (m.limit) BERTH_TRY_VOID(write_knob(dirfd, "memory.max", limit_value(*m.limit)));
  if (m.swap) {
    // OCI's swap is memory+swap (v1's memsw); v2's memory.swap.max counts swap alone.
    std::string value;
    if (*m.swap == -1) {
      value = "max";
    } else if (!m.limit || *m.limit == -1) {
      return Error::make(ErrorKind::invalid_argument,
                         "invalid memory.swap {}: a swap limit needs a memory limit", *m.swap);
    } else if (*m.swap < *m.limit) {
      return Error::make(ErrorKind::invalid_argument,
                         "invalid memory.swap {}: must be at least memory.limit {}", *m.swap,
                         *m.limit);
    } else {
      value = std::to_string(*m.swap - *m.limit);
    }
    // No swap limit to lift where the kernel does not account swap.
    if (*m.swap != -1 || detail::has_knob(dirfd, "memory.swap.max"))
      BERTH_TRY_VOID(write_knob(dirfd, "memory.swap.max", value));
  }
  if (m.reservation) BERTH_TRY_VOID(write_knob(dirfd, "memory.low", limit_value(*m.reservation)));
  // kernel, kernelTCP, swappiness and disableOOMKiller are v1 concepts with no v2 knob; runc and
  // crun ignore them on v2 too, so configs written for either version keep working.
  return {};
}

Result<void> write_cpu(int dirfd, const oci::Cpu& c) {
  if (c.shares && *c.shares != 0)
    BERTH_TRY_VOID(
        write_knob(dirfd, "cpu.weight", std::to_string(cpu_shares_to_weight(*c.shares))));
  if ((c.quota && *c.quota != 0) || (c.period && *c.period != 0)) {
    std::string quota = c.quota && *c.quota > 0 ? std::to_string(*c.quota) : "max";
    uint64_t period = c.period && *c.period != 0 ? *c.period : 100000;
    BERTH_TRY_VOID(write_knob(dirfd, "cpu.max", fmt::format("{} {}", quota, period)));
  }
  if ((c.realtime_runtime && *c.realtime_runtime != 0) ||
      (c.realtime_period && *c.realtime_period != 0))
    return Error::make(ErrorKind::unsupported,
                       "apply cpu.realtimeRuntime/realtimePeriod: cgroup v2 has no realtime knobs");
  if (c.idle) BERTH_TRY_VOID(write_knob(dirfd, "cpu.idle", std::to_string(*c.idle)));
  if (!c.cpus.empty()) BERTH_TRY_VOID(write_knob(dirfd, "cpuset.cpus", c.cpus));
  if (!c.mems.empty()) BERTH_TRY_VOID(write_knob(dirfd, "cpuset.mems", c.mems));
  return {};
}

Result<void> write_io(int dirfd, const oci::BlockIo& b) {
  // io.weight takes 1..10000; BFQ's io.bfq.weight keeps v1's 10..1000 scale.
  bool bfq = !detail::has_knob(dirfd, "io.weight") && detail::has_knob(dirfd, "io.bfq.weight");
  std::string weight_file = bfq ? "io.bfq.weight" : "io.weight";
  auto convert = [bfq](uint64_t w) { return bfq ? w : blkio_weight_to_io_weight(w); };
  if (b.weight) BERTH_TRY_VOID(write_knob(dirfd, weight_file, std::to_string(convert(*b.weight))));
  for (const auto& d : b.weight_device)
    if (d.weight)
      BERTH_TRY_VOID(write_knob(dirfd, weight_file,
                                fmt::format("{}:{} {}", d.major, d.minor, convert(*d.weight))));
  auto throttle = [&](const std::vector<oci::ThrottleDevice>& devices,
                      const char* key) -> Result<void> {
    for (const auto& d : devices)
      BERTH_TRY_VOID(
          write_knob(dirfd, "io.max", fmt::format("{}:{} {}={}", d.major, d.minor, key, d.rate)));
    return {};
  };
  BERTH_TRY_VOID(throttle(b.throttle_read_bps, "rbps"));
  BERTH_TRY_VOID(throttle(b.throttle_write_bps, "wbps"));
  BERTH_TRY_VOID(throttle(b.throttle_read_iops, "riops"));
  BERTH_TRY_VOID(throttle(b.throttle_write_iops, "wiops"));
  return {};
}

// The v2 controllers `r` needs enabled in the cgroup.
std::set<std::string> needed_controllers(const oci::Resources& r) {
  std::set<std::string> out;
  if (r.memory && (r.memory->limit || r.memory->swap || r.memory->reservation))
    out.insert("memory");
  if (r.cpu && (r.cpu->shares || r.cpu->quota || r.cpu->period || r.cpu->idle)) out.insert("cpu");
  if (r.cpu && (!r.cpu->cpus.empty() || !r.cpu->mems.empty())) out.insert("cpuset");
  if (r.pids_limit) out.insert("pids");
  if (r.block_io &&
      (r.block_io->weight || !r.block_io->weight_device.empty() ||
       !r.block_io->throttle_read_bps.empty() || !r.block_io->throttle_write_bps.empty() ||
       !r.block_io->throttle_read_iops.empty() || !r.block_io->throttle_write_iops.empty()))
    out.insert("io");
  if (!r.hugepage_limits.empty()) out.insert("hugetlb");
  for (const auto& [name, value] : r.unified) {
    auto dot = name.find('.');
    std::string prefix = name.substr(0, dot);
    if (dot != std::string::npos && prefix != "cgroup") out.insert(prefix);
  }
  return out;
}

std::set<std::string> word_set(const std::string& text) {
  std::set<std::string> out;
  for (const auto& line : sys::split(text, '\n'))
    for (const auto& word : sys::split(line, ' ')) out.insert(word);
  return out;
}

Result<UniqueFd> open_dir(const std::string& dir) {
  return sys::open(dir, O_RDONLY | O_DIRECTORY).context("open cgroup");
}

class V2Cgroup final : public Cgroup {
 public:
  V2Cgroup(std::string path, std::string mount_root)
      : path_(std::move(path)), mount_root_(std::move(mount_root)), dir_(mount_root_ + path_) {}

  Result<void> apply(const oci::Resources& r) override {
    if (r.network && (r.network->class_id || !r.network->priorities.empty()))
      return Error(ErrorKind::unsupported,
                   "apply network: cgroup v2 has no net_cls or net_prio controller")
          .with_hint(
              "leave network out of linux.resources (on cgroup v2, match traffic by "
              "cgroup path instead, e.g. nftables' 'socket cgroupv2')");
    auto needed = needed_controllers(r);
    BERTH_TRY_VOID(enable_controllers(needed));
    BERTH_TRY(auto fd, open_dir(dir_));
    BERTH_TRY(auto available_text, read_knob(fd.get(), "cgroup.controllers"));
    auto available = word_set(available_text);
    for (const auto& c : needed)
      if (!available.count(c))
        return Error::make(ErrorKind::unsupported,
                           "apply cgroup '{}': the cgroup v2 controller '{}' is not available "
                           "(cgroup.controllers has '{}')",
                           dir_, c, available_text);
    return write_v2_resources(fd.get(), r).context(fmt::format("apply cgroup '{}'", dir_));
  }

  Result<void> add_process(pid_t pid) override {
    BERTH_TRY(auto fd, open_dir(dir_));
    return write_knob(fd.get(), "cgroup.procs", std::to_string(pid))
        .context(fmt::format("add process to cgroup '{}'", dir_));
  }

  Result<std::vector<UniqueFd>> open_self_join() override { return std::vector<UniqueFd>{}; }
  Result<UniqueFd> open_clone_target() override {
    return sys::open(dir_, O_RDONLY | O_DIRECTORY | O_CLOEXEC).context("open cgroup");
  }

  Result<std::vector<pid_t>> processes() const override { return detail::tree_processes(dir_); }

  Result<void> freeze(bool frozen) override {
    BERTH_TRY(auto fd, open_dir(dir_));
    BERTH_TRY_VOID(write_knob(fd.get(), "cgroup.freeze", frozen ? "1" : "0")
                       .context(fmt::format("{} cgroup '{}'", frozen ? "freeze" : "thaw", dir_)));
    // cgroup.freeze only asks; cgroup.events says "frozen 1" once every task has stopped.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (int i = 0;; ++i) {
      if (is_frozen(fd.get()) == frozen) return {};
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(i < 10 ? 1 : 10));
    }
    if (frozen) (void)write_knob(fd.get(), "cgroup.freeze", "0");
    return Error::make(ErrorKind::unavailable, "{} cgroup '{}': no change after 2s",
                       frozen ? "freeze" : "thaw", dir_);
  }

  bool frozen() const override {
    auto fd = sys::open(dir_, O_RDONLY | O_DIRECTORY);
    return fd && is_frozen(fd->get());
  }

  Result<void> destroy() override {
    BERTH_TRY_VOID(detail::wait_until_empty(dir_));
    return detail::remove_tree(dir_);
  }

  const std::string& path() const override { return path_; }
  Mode mode() const override { return Mode::v2; }

 private:
  static bool is_frozen(int dirfd) {
    auto events = read_knob(dirfd, "cgroup.events");
    if (!events) return false;
    for (const auto& line : sys::split(*events, '\n'))
      if (line == "frozen 1") return true;
    return false;
  }

  // Enables `needed` in cgroup.subtree_control of every ancestor, top-down, where the ancestor
  // offers it. A controller that cannot be enabled shows up as missing in apply's check.
  Result<void> enable_controllers(const std::set<std::string>& needed) {
    if (needed.empty()) return {};
    auto parts = sys::split(path_, '/');
    std::string dir = mount_root_;
    for (size_t i = 0; i < parts.size(); ++i) {
      BERTH_TRY(auto fd, open_dir(dir));
      BERTH_TRY(auto available, read_knob(fd.get(), "cgroup.controllers"));
      BERTH_TRY(auto enabled, read_knob(fd.get(), "cgroup.subtree_control"));
      auto offered = word_set(available), on = word_set(enabled);
      for (const auto& c : needed)
        if (offered.count(c) && !on.count(c))
          (void)write_knob(fd.get(), "cgroup.subtree_control", "+" + c);
      dir += "/" + parts[i];
    }
    return {};
  }

  std::string path_;
  std::string mount_root_;
  std::string dir_;
};

}  // namespace

Result<void> write_v2_resources(int dirfd, const oci::Resources& r) {
  if (r.memory) BERTH_TRY_VOID(write_memory(dirfd, *r.memory));
  if (r.cpu) BERTH_TRY_VOID(write_cpu(dirfd, *r.cpu));
  if (r.pids_limit)
    BERTH_TRY_VOID(
        write_knob(dirfd, "pids.max",
                   *r.pids_limit <= 0 ? std::string("max") : std::to_string(*r.pids_limit)));
  if (r.block_io) BERTH_TRY_VOID(write_io(dirfd, *r.block_io));
  for (const auto& l : r.hugepage_limits) {
    if (l.page_size.empty() || l.page_size.find('/') != std::string::npos)
      return Error::make(ErrorKind::invalid_argument, "invalid hugepage size '{}'", l.page_size);
    BERTH_TRY_VOID(
        write_knob(dirfd, fmt::format("hugetlb.{}.max", l.page_size), std::to_string(l.limit)));
  }
  if (!r.devices.empty()) BERTH_TRY_VOID(detail::attach_device_filter(dirfd, r.devices));
  // Last, so that explicit unified entries override what the fields above wrote.
  for (const auto& [name, value] : r.unified) {
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
      return Error::make(ErrorKind::invalid_argument, "invalid unified cgroup file name '{}'",
                         name);
    BERTH_TRY_VOID(write_knob(dirfd, name, value));
  }
  return {};
}

namespace detail {

std::unique_ptr<Cgroup> make_v2(const std::string& path, const std::string& mount_root) {
  return std::make_unique<V2Cgroup>(path, mount_root);
}

Result<void> create_v2_dirs(const std::string& path, const std::string& mount_root) {
  std::vector<std::string> created;
  auto r = make_dirs(mount_root, path, created);
  if (!r) {
    remove_created(created);
    return std::move(r).context(fmt::format("create cgroup '{}'", path));
  }
  return {};
}

}  // namespace detail
}  // namespace berth::runtime::cgroup
