// runtime/cgroup/detail/cgroup_internal.h — pieces shared by the v1 and v2 implementations,
// exposed to unit tests: mountinfo parsing, knob writing, tree walks, the v2 device filter.
#pragma once

#include <linux/bpf.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "oci/runtime_spec.h"
#include "runtime/cgroup/cgroup.h"

namespace berth::runtime::cgroup::detail {

// The v1 hierarchies named by /proc/self/mountinfo text (fs type "cgroup"; the super options give
// the controllers, including "name=systemd").
std::vector<Hierarchy> parse_mountinfo(std::string_view text);

// Writes one value to a knob in `dirfd` (one write call). A knob this kernel lacks gives an
// unsupported error naming it; other failures read "write '<value>' to '<file>': <strerror>".
Result<void> write_knob(int dirfd, const std::string& file, std::string_view value);
bool has_knob(int dirfd, const std::string& file);
// Reads a knob, without its trailing newline.
Result<std::string> read_knob(int dirfd, const std::string& file);

// Every directory under `root` (included), parents before children.
std::vector<std::string> cgroup_tree(const std::string& root);
// The pids listed in cgroup.procs of `root` and every cgroup below it.
Result<std::vector<pid_t>> tree_processes(const std::string& root);
// Waits up to about a second for the cgroup tree at `root` to hold no process; failed_precondition
// naming a pid if one stays.
Result<void> wait_until_empty(const std::string& root);
// Removes `root` and every cgroup below it, deepest first. A cgroup stays busy for a moment after
// its last task exits, so EBUSY is retried for about a second; ENOENT counts as removed.
Result<void> remove_tree(const std::string& root);
// mkdir -p `rel` under `mount_point`; appends each directory it created to `created` so that a
// failure can undo exactly that.
Result<void> make_dirs(const std::string& mount_point, const std::string& rel,
                       std::vector<std::string>& created);
void remove_created(const std::vector<std::string>& created);

// The eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) that enforces OCI device rules on cgroup v2: the
// rules are checked last to first and the first that matches decides (so later rules override
// earlier ones, as in v1); a device no rule matches is allowed, as the v1 root allows it. An allow
// rule matches when it grants every access asked for; a deny rule when it denies any of them.
std::vector<bpf_insn> device_filter_program(const std::vector<oci::DeviceRule>& rules);
// Loads the program for `rules`, attaches it to the cgroup directory `dirfd` and detaches the
// device programs attached there before.
Result<void> attach_device_filter(int dirfd, const std::vector<oci::DeviceRule>& rules);

std::unique_ptr<Cgroup> make_v1(const std::string& path, std::vector<Hierarchy> hierarchies);
std::unique_ptr<Cgroup> make_v2(const std::string& path, const std::string& mount_root);
Result<void> create_v1_dirs(const std::string& path, const std::vector<Hierarchy>& hierarchies);
Result<void> create_v2_dirs(const std::string& path, const std::string& mount_root);

}  // namespace berth::runtime::cgroup::detail
