// runtime/cgroup/cgroup.h — one interface over cgroup v1 and v2: create a container's cgroup,
// apply oci resources, move processes in, list them, freeze, and remove it again.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "oci/runtime_spec.h"

namespace berth::runtime::cgroup {

enum class Mode { v1, v2 };

// v2 when /sys/fs/cgroup is a cgroup2 mount; v1 otherwise (a "hybrid" host with an empty cgroup2
// at /sys/fs/cgroup/unified is treated as v1: its controllers are all on v1).
Mode detect_mode(const std::string& mount_root = "/sys/fs/cgroup");

// One mounted v1 hierarchy, e.g. {"/sys/fs/cgroup/cpu,cpuacct", {"cpu","cpuacct"}} or
// {"/sys/fs/cgroup/systemd", {"name=systemd"}}; read from /proc/self/mountinfo.
struct Hierarchy {
  std::string mount_point;
  std::vector<std::string> controllers;
};
std::vector<Hierarchy> v1_hierarchies();

// The cgroup path (relative to each hierarchy's root, starting with '/') for a container:
// the spec's cgroupsPath if set ("/a/b", or "a/b" taken from the root); with systemd-style
// "slice:prefix:name" (--systemd-cgroup) it maps to "/slice/prefix-name.scope"; absent, it is
// "/berth/<id>".
Result<std::string> resolve_path(const std::optional<std::string>& cgroups_path,
                                 std::string_view container_id, bool systemd_style);

// The kernel's count of OOM kills in the memory cgroup at `path` (v1 memory.oom_control, v2
// memory.events), 0 if unknown.
uint64_t oom_kills(const std::string& path);

class Cgroup {
 public:
  virtual ~Cgroup() = default;

  // Creates (mkdir -p) the cgroup at `path` in every hierarchy; an existing cgroup is reused.
  static Result<std::unique_ptr<Cgroup>> create(const std::string& path, Mode mode);
  // Opens an existing cgroup for kill/pause/delete; no error if some hierarchy lacks it.
  static std::unique_ptr<Cgroup> open(const std::string& path, Mode mode);

  // Writes every resource the spec sets; errors name the file and value
  // ("write '104857600' to 'memory.limit_in_bytes': device or resource busy").
  virtual Result<void> apply(const oci::Resources& resources) = 0;
  virtual Result<void> add_process(pid_t pid) = 0;
  // Files through which a single-threaded process joins this cgroup itself, writing "0" to each
  // (join_self): on v1 each hierarchy's `tasks`. A thread moving itself skips the global lock
  // that moving another process takes, whose first use after a quiet spell waits for an RCU
  // grace period (~10 ms on an idle 2-core VM: most of a container's start). Empty on v2, where
  // a process moves whole, through cgroup.procs (add_process), and pays that wait: there a new
  // process is cloned into its cgroup instead (open_clone_target).
  virtual Result<std::vector<UniqueFd>> open_self_join() = 0;
  // On v2, the cgroup's directory, for clone3(CLONE_INTO_CGROUP): the child is born inside, with
  // no move at all. An invalid fd on v1.
  virtual Result<UniqueFd> open_clone_target() = 0;
  // Every process in the cgroup and its descendants.
  virtual Result<std::vector<pid_t>> processes() const = 0;
  virtual Result<void> freeze(bool frozen) = 0;
  virtual bool frozen() const = 0;
  // Removes the cgroup directories (children first). Fails with failed_precondition while any
  // process is still inside after a short wait.
  virtual Result<void> destroy() = 0;

  virtual const std::string& path() const = 0;
  virtual Mode mode() const = 0;
};

// Moves the calling (single-threaded) process into the cgroup of each file open_self_join gave.
// Uses no memory allocation on success: it runs in a container's first process.
Result<void> join_self(const std::vector<int>& fds);

// Writers used by Cgroup::apply, exposed so unit tests can hand them a temp directory fd.
// `dirfd` is the cgroup directory in the hierarchy of `controller`; only the knobs of that
// controller are written, and files the kernel lacks (e.g. memory.memsw.* without swap
// accounting) give a clear unsupported error only when the spec asks for them.
Result<void> write_v1_controller(int dirfd, std::string_view controller, const oci::Resources& r);
Result<void> write_v2_resources(int dirfd, const oci::Resources& r);

// Conversions the kernel interfaces need (public for tests).
uint64_t cpu_shares_to_weight(uint64_t shares);    // v1 shares 2..262144 → v2 weight 1..10000
uint64_t blkio_weight_to_io_weight(uint64_t weight);  // 10..1000 → 1..10000

}  // namespace berth::runtime::cgroup
