// runtime/cgroup/v1.cc — cgroup v1: one directory per mounted hierarchy, knobs per controller.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <thread>

#include "base/sys.h"
#include "base/unique_fd.h"
#include "runtime/cgroup/cgroup.h"
#include "runtime/cgroup/detail/cgroup_internal.h"

namespace berth::runtime::cgroup {

namespace {

using detail::has_knob;
using detail::read_knob;
using detail::write_knob;

std::string device_number(const std::optional<int64_t>& n) {
  return n && *n >= 0 ? std::to_string(*n) : "*";
}

Result<void> write_memory(int dirfd, const oci::Memory& m) {
  if (m.swap) {
    const std::string memsw = "memory.memsw.limit_in_bytes";
    if (!has_knob(dirfd, memsw)) {
      // Without swap accounting there is no swap limit to lift: "unlimited" is already true.
      if (*m.swap != -1)
        return Error::make(ErrorKind::unsupported,
                           "write '{}' to '{}': this kernel has no '{}' (swap accounting is off)",
                           *m.swap, memsw, memsw);
    } else {
      // The kernel keeps limit <= memsw at every step: when the new memsw is above the current
      // limit, raise memsw first; otherwise lower the limit first.
      uint64_t current = 0;
      if (auto text = read_knob(dirfd, "memory.limit_in_bytes"))
        std::from_chars(text->data(), text->data() + text->size(), current);
      bool memsw_first = *m.swap == -1 || current < static_cast<uint64_t>(*m.swap);
      if (memsw_first) BERTH_TRY_VOID(write_knob(dirfd, memsw, std::to_string(*m.swap)));
      if (m.limit)
        BERTH_TRY_VOID(write_knob(dirfd, "memory.limit_in_bytes", std::to_string(*m.limit)));
      if (!memsw_first) BERTH_TRY_VOID(write_knob(dirfd, memsw, std::to_string(*m.swap)));
    }
  }
  if (m.limit && (!m.swap || !has_knob(dirfd, "memory.memsw.limit_in_bytes")))
    BERTH_TRY_VOID(write_knob(dirfd, "memory.limit_in_bytes", std::to_string(*m.limit)));
  if (m.reservation)
    BERTH_TRY_VOID(write_knob(dirfd, "memory.soft_limit_in_bytes", std::to_string(*m.reservation)));
  // Kernel memory limits are deprecated (writes fail on 5.16+, files gone on 6.x): best effort.
  if (m.kernel && has_knob(dirfd, "memory.kmem.limit_in_bytes"))
    (void)write_knob(dirfd, "memory.kmem.limit_in_bytes", std::to_string(*m.kernel));
  if (m.kernel_tcp && has_knob(dirfd, "memory.kmem.tcp.limit_in_bytes"))
    (void)write_knob(dirfd, "memory.kmem.tcp.limit_in_bytes", std::to_string(*m.kernel_tcp));
  if (m.swappiness) {
    if (*m.swappiness > 100)
      return Error::make(ErrorKind::invalid_argument,
                         "invalid memory.swappiness {}: must be between 0 and 100", *m.swappiness);
    BERTH_TRY_VOID(write_knob(dirfd, "memory.swappiness", std::to_string(*m.swappiness)));
  }
  if (m.disable_oom_killer && *m.disable_oom_killer)
    BERTH_TRY_VOID(write_knob(dirfd, "memory.oom_control", "1"));
  return {};
}

Result<void> write_cpu(int dirfd, const oci::Cpu& c) {
  if (c.shares && *c.shares != 0)
    BERTH_TRY_VOID(write_knob(dirfd, "cpu.shares", std::to_string(*c.shares)));
  // The period first: the kernel checks quota against the period in force.
  if (c.period && *c.period != 0)
    BERTH_TRY_VOID(write_knob(dirfd, "cpu.cfs_period_us", std::to_string(*c.period)));
  if (c.quota && *c.quota != 0)
    BERTH_TRY_VOID(write_knob(dirfd, "cpu.cfs_quota_us", std::to_string(*c.quota)));
  if (c.realtime_period && *c.realtime_period != 0)
    BERTH_TRY_VOID(write_knob(dirfd, "cpu.rt_period_us", std::to_string(*c.realtime_period)));
  if (c.realtime_runtime && *c.realtime_runtime != 0)
    BERTH_TRY_VOID(write_knob(dirfd, "cpu.rt_runtime_us", std::to_string(*c.realtime_runtime)));
  if (c.idle) BERTH_TRY_VOID(write_knob(dirfd, "cpu.idle", std::to_string(*c.idle)));
  return {};
}

Result<void> write_blkio(int dirfd, const oci::BlockIo& b) {
  // CFQ's blkio.weight is gone with the legacy block layer; BFQ offers blkio.bfq.weight.
  std::string prefix = has_knob(dirfd, "blkio.weight") || !has_knob(dirfd, "blkio.bfq.weight")
                           ? "blkio."
                           : "blkio.bfq.";
  if (b.weight) BERTH_TRY_VOID(write_knob(dirfd, prefix + "weight", std::to_string(*b.weight)));
  if (b.leaf_weight)
    BERTH_TRY_VOID(write_knob(dirfd, "blkio.leaf_weight", std::to_string(*b.leaf_weight)));
  for (const auto& d : b.weight_device) {
    if (d.weight)
      BERTH_TRY_VOID(write_knob(dirfd, prefix + "weight_device",
                                fmt::format("{}:{} {}", d.major, d.minor, *d.weight)));
    if (d.leaf_weight)
      BERTH_TRY_VOID(write_knob(dirfd, "blkio.leaf_weight_device",
                                fmt::format("{}:{} {}", d.major, d.minor, *d.leaf_weight)));
  }
  auto throttle = [&](const std::vector<oci::ThrottleDevice>& devices,
                      const char* file) -> Result<void> {
    for (const auto& d : devices)
      BERTH_TRY_VOID(write_knob(dirfd, file, fmt::format("{}:{} {}", d.major, d.minor, d.rate)));
    return {};
  };
  BERTH_TRY_VOID(throttle(b.throttle_read_bps, "blkio.throttle.read_bps_device"));
  BERTH_TRY_VOID(throttle(b.throttle_write_bps, "blkio.throttle.write_bps_device"));
  BERTH_TRY_VOID(throttle(b.throttle_read_iops, "blkio.throttle.read_iops_device"));
  BERTH_TRY_VOID(throttle(b.throttle_write_iops, "blkio.throttle.write_iops_device"));
  return {};
}

bool is_all_devices(const oci::DeviceRule& rule) {
  return (rule.type.empty() || rule.type == "a") && !rule.major && !rule.minor;
}

Result<void> write_devices(int dirfd, const std::vector<oci::DeviceRule>& rules) {
  for (const auto& rule : rules) {
    if (rule.type != "a" && rule.type != "c" && rule.type != "b" && !rule.type.empty())
      return Error::make(ErrorKind::invalid_argument, "invalid device rule type '{}'", rule.type);
    const char* file = rule.allow ? "devices.allow" : "devices.deny";
    // "a" alone switches the cgroup's default (deny-all or allow-all) and clears its list.
    std::string value = is_all_devices(rule)
                            ? "a"
                            : fmt::format("{} {}:{} {}", rule.type, device_number(rule.major),
                                          device_number(rule.minor), rule.access);
    BERTH_TRY_VOID(write_knob(dirfd, file, value));
  }
  return {};
}

Result<void> write_hugetlb(int dirfd, const std::vector<oci::HugepageLimit>& limits) {
  for (const auto& l : limits) {
    if (l.page_size.empty() || l.page_size.find('/') != std::string::npos)
      return Error::make(ErrorKind::invalid_argument, "invalid hugepage size '{}'", l.page_size);
    BERTH_TRY_VOID(write_knob(dirfd, fmt::format("hugetlb.{}.limit_in_bytes", l.page_size),
                              std::to_string(l.limit)));
  }
  return {};
}

Result<void> write_net_prio(int dirfd, const std::vector<oci::InterfacePriority>& priorities) {
  // The kernel takes one "interface priority" pair per write.
  for (const auto& p : priorities)
    BERTH_TRY_VOID(
        write_knob(dirfd, "net_prio.ifpriomap", fmt::format("{} {}", p.name, p.priority)));
  return {};
}

struct Request {
  const char* controller;
  const char* field;  // in linux.resources, for the error
};

// The v1 controllers `r` asks for.
std::vector<Request> requested_controllers(const oci::Resources& r) {
  std::vector<Request> out;
  if (r.memory) out.push_back({"memory", "memory"});
  if (r.cpu && (r.cpu->shares || r.cpu->quota || r.cpu->period || r.cpu->realtime_runtime ||
                r.cpu->realtime_period || r.cpu->idle))
    out.push_back({"cpu", "cpu"});
  if (r.cpu && (!r.cpu->cpus.empty() || !r.cpu->mems.empty())) out.push_back({"cpuset", "cpu"});
  if (r.pids_limit) out.push_back({"pids", "pids"});
  if (r.block_io) out.push_back({"blkio", "blockIO"});
  if (!r.devices.empty()) out.push_back({"devices", "devices"});
  if (!r.hugepage_limits.empty()) out.push_back({"hugetlb", "hugepageLimits"});
  if (r.network && r.network->class_id) out.push_back({"net_cls", "network.classID"});
  if (r.network && !r.network->priorities.empty())
    out.push_back({"net_prio", "network.priorities"});
  return out;
}

Result<UniqueFd> open_dir(const std::string& dir) {
  return sys::open(dir, O_RDONLY | O_DIRECTORY).context("open cgroup");
}

class V1Cgroup final : public Cgroup {
 public:
  V1Cgroup(std::string path, std::vector<Hierarchy> hierarchies)
      : path_(std::move(path)), hierarchies_(std::move(hierarchies)) {}

  Result<void> apply(const oci::Resources& r) override {
    if (!r.unified.empty())
      return Error::make(ErrorKind::unsupported,
                         "apply 'unified' resources ({}): this host uses cgroup v1",
                         r.unified.begin()->first);
    // A container must not run with less accounting or limits than its config asks for.
    for (const auto& [controller, field] : requested_controllers(r))
      if (!find(controller))
        return Error::make(ErrorKind::unsupported,
                           "apply {}: the cgroup v1 controller '{}' is not mounted", field,
                           controller)
            .with_hint(fmt::format(
                "mount its hierarchy (if /proc/cgroups lists it: mkdir /sys/fs/cgroup/{0} && "
                "mount -t cgroup -o {0} cgroup /sys/fs/cgroup/{0}), or leave {1} out of "
                "linux.resources",
                controller, field));
    for (const auto& h : hierarchies_) {
      std::string dir = dir_for(h);
      BERTH_TRY(auto fd, open_dir(dir));
      for (const auto& controller : h.controllers)
        BERTH_TRY_VOID(write_v1_controller(fd.get(), controller, r)
                           .context(fmt::format("apply cgroup '{}'", dir)));
    }
    return {};
  }

  Result<void> add_process(pid_t pid) override {
    for (const auto& h : hierarchies_) {
      std::string dir = dir_for(h);
      BERTH_TRY(auto fd, open_dir(dir));
      BERTH_TRY_VOID(write_knob(fd.get(), "cgroup.procs", std::to_string(pid))
                         .context(fmt::format("add process to cgroup '{}'", dir)));
    }
    return {};
  }

  Result<std::vector<UniqueFd>> open_self_join() override {
    std::vector<UniqueFd> files;
    for (const auto& h : hierarchies_) {
      std::string tasks = dir_for(h) + "/tasks";
      BERTH_TRY(auto fd, sys::open(tasks, O_WRONLY | O_CLOEXEC).context("open cgroup"));
      files.push_back(std::move(fd));
    }
    return files;
  }

  Result<UniqueFd> open_clone_target() override { return UniqueFd(); }

  Result<std::vector<pid_t>> processes() const override {
    const Hierarchy* h = process_hierarchy();
    if (!h) return std::vector<pid_t>{};
    return detail::tree_processes(dir_for(*h));
  }

  Result<void> freeze(bool frozen) override {
    const Hierarchy* h = find("freezer");
    if (!h)
      return Error::make(ErrorKind::unsupported,
                         "freeze cgroup '{}': the cgroup v1 freezer is not mounted", path_);
    std::string dir = dir_for(*h);
    BERTH_TRY(auto fd, open_dir(dir));
    if (!frozen) return write_knob(fd.get(), "freezer.state", "THAWED").context("thaw cgroup");
    // FREEZING can linger while tasks are forking; writing FROZEN again nudges the kernel on.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (int i = 0;; ++i) {
      if (i % 50 == 0)
        BERTH_TRY_VOID(write_knob(fd.get(), "freezer.state", "FROZEN").context("freeze cgroup"));
      BERTH_TRY(auto state, read_knob(fd.get(), "freezer.state"));
      if (state == "FROZEN") return {};
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(i < 10 ? 1 : 10));
    }
    (void)write_knob(fd.get(), "freezer.state", "THAWED");
    return Error::make(ErrorKind::unavailable, "freeze cgroup '{}': still freezing after 2s", dir);
  }

  bool frozen() const override {
    const Hierarchy* h = find("freezer");
    if (!h) return false;
    auto state = sys::read_file(dir_for(*h) + "/freezer.state");
    return state && state->rfind("FROZEN", 0) == 0;
  }

  Result<void> destroy() override {
    // Check first, so that a busy cgroup is left whole rather than removed from some hierarchies.
    // Every hierarchy: a process joins them one by one (cgroup/join.cc), so one killed while it
    // joins, or an exec'd one, can be in cpu or cpuset and not yet in pids.
    if (const Hierarchy* h = process_hierarchy())
      BERTH_TRY_VOID(detail::wait_until_empty(dir_for(*h)));
    for (const auto& h : hierarchies_)
      if (sys::exists(dir_for(h))) BERTH_TRY_VOID(detail::wait_until_empty(dir_for(h)));
    Result<void> first;
    for (const auto& h : hierarchies_) {
      auto r = detail::remove_tree(dir_for(h));
      if (!r && first.ok()) first = std::move(r);
    }
    return first;
  }

  const std::string& path() const override { return path_; }
  Mode mode() const override { return Mode::v1; }

 private:
  std::string dir_for(const Hierarchy& h) const { return h.mount_point + path_; }
  // The hierarchy whose cgroup.procs tells which processes the container has.
  const Hierarchy* process_hierarchy() const {
    const Hierarchy* h = find("pids");
    if (!h) h = find("memory");
    if (!h && !hierarchies_.empty()) h = &hierarchies_.front();
    return h;
  }
  const Hierarchy* find(std::string_view controller) const {
    for (const auto& h : hierarchies_)
      if (std::find(h.controllers.begin(), h.controllers.end(), controller) != h.controllers.end())
        return &h;
    return nullptr;
  }

  std::string path_;
  std::vector<Hierarchy> hierarchies_;
};

}  // namespace

Result<void> write_v1_controller(int dirfd, std::string_view controller, const oci::Resources& r) {
  if (controller == "memory" && r.memory) return write_memory(dirfd, *r.memory);
  if (controller == "cpu" && r.cpu) return write_cpu(dirfd, *r.cpu);
  if (controller == "cpuset" && r.cpu) {
    if (!r.cpu->cpus.empty()) BERTH_TRY_VOID(write_knob(dirfd, "cpuset.cpus", r.cpu->cpus));
    if (!r.cpu->mems.empty()) BERTH_TRY_VOID(write_knob(dirfd, "cpuset.mems", r.cpu->mems));
    return {};
  }
  if (controller == "pids" && r.pids_limit)
    return write_knob(dirfd, "pids.max",
                      *r.pids_limit <= 0 ? std::string("max") : std::to_string(*r.pids_limit));
  if (controller == "blkio" && r.block_io) return write_blkio(dirfd, *r.block_io);
  if (controller == "devices") return write_devices(dirfd, r.devices);
  if (controller == "hugetlb") return write_hugetlb(dirfd, r.hugepage_limits);
  if (controller == "net_cls" && r.network && r.network->class_id)
    return write_knob(dirfd, "net_cls.classid", std::to_string(*r.network->class_id));
  if (controller == "net_prio" && r.network) return write_net_prio(dirfd, r.network->priorities);
  return {};
}

namespace detail {

std::unique_ptr<Cgroup> make_v1(const std::string& path, std::vector<Hierarchy> hierarchies) {
  return std::make_unique<V1Cgroup>(path, std::move(hierarchies));
}

namespace {
// A new cpuset cgroup starts with empty cpus and mems, and adding a task to it fails with ENOSPC:
// copy them down from the parent at every level.
Result<void> inherit_cpuset(const std::string& mount_point, const std::string& path) {
  std::string parent = mount_point;
  for (const auto& part : sys::split(path, '/')) {
    std::string child = parent + "/" + part;
    BERTH_TRY(auto parent_fd, open_dir(parent));
    BERTH_TRY(auto child_fd, open_dir(child));
    for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
      BERTH_TRY(auto mine, read_knob(child_fd.get(), file));
      if (!mine.empty()) continue;
      BERTH_TRY(auto inherited, read_knob(parent_fd.get(), file));
      if (!inherited.empty())
        BERTH_TRY_VOID(write_knob(child_fd.get(), file, inherited)
                           .context(fmt::format("set up cpuset '{}'", child)));
    }
    parent = child;
  }
  return {};
}
}  // namespace

Result<void> create_v1_dirs(const std::string& path, const std::vector<Hierarchy>& hierarchies) {
  std::vector<std::string> created;
  for (const auto& h : hierarchies) {
    auto r = make_dirs(h.mount_point, path, created);
    if (r && std::find(h.controllers.begin(), h.controllers.end(), "cpuset") != h.controllers.end())
      r = inherit_cpuset(h.mount_point, path);
    if (!r) {
      remove_created(created);
      return std::move(r).context(fmt::format("create cgroup '{}'", path));
    }
  }
  return {};
}

}  // namespace detail
}  // namespace berth::runtime::cgroup
