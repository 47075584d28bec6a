// runtime/mounts.h — mount options as the kernel wants them, and resolving a container path to a
// host path and a descriptor without letting symlinks in the rootfs escape it. Unit-tested
// without root.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace berth::runtime {

struct MountOptions {
  unsigned long flags = 0;        // MS_* set by the options (MS_RDONLY, MS_NOSUID, MS_BIND, ...)
  unsigned long propagation = 0;  // MS_PRIVATE/MS_SHARED/MS_SLAVE/MS_UNBINDABLE (| MS_REC)
  std::string data;               // filesystem-specific options joined with ',' ("mode=755,size=64k")
  bool bind() const;
  bool recursive_bind() const;
};

// Parses OCI mount options; unknown words pass through as filesystem data, as runc does.
// `idmap`/`ridmap` are refused as unsupported (they need mount_setattr id-mapped mounts).
Result<MountOptions> parse_mount_options(const std::vector<std::string>& options);

// The host path for `container_path` inside `root`, following symlinks as if `root` were "/":
// "../../etc" and a link to "/etc" both stay under root. Missing components are kept as given.
Result<std::string> secure_join(const std::string& root, const std::string& container_path);

// The mount point `host_path` (secure_join's result for a container path: under `root`, no
// symlink in it), opened O_PATH; what is missing is created, as directories or, unless is_dir,
// the last component as an empty file. Mount on mount_point_path(fd), never on the name again:
// a container sharing a volume with this one may swap a component of the name for a symlink, or
// rename it, between secure_join and the mount, and the mount would land where it points (the
// class of runc's CVE-2021-30465). Each component is opened with openat2(RESOLVE_IN_ROOT |
// RESOLVE_NO_SYMLINKS) and created with mkdirat in its parent's descriptor, and the result must
// still be at host_path: a swap fails with failed_precondition, naming the path. Opened after a
// mount, the descriptor is the new mount's root (for a remount or a propagation change).
Result<UniqueFd> open_mount_point(const std::string& root, const std::string& host_path, bool is_dir);

// "/proc/self/fd/N": the path that mount(2) follows to exactly the descriptor's file.
std::string mount_point_path(const UniqueFd& fd);

// A device node (or FIFO) to make: `mode` is its type (S_IFCHR, S_IFBLK, S_IFIFO) and permissions.
struct DeviceNode {
  mode_t mode = 0;
  dev_t dev = 0;
  bool chown = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Makes `node` at `host_path` (secure_join's result), replacing what is there, through
// descriptors as open_mount_point mounts: mknodat in the parent's descriptor, then chmod and
// chown of the node's own O_PATH descriptor, checked to be the node just made. By name, a
// container sharing a volume with this one could swap a component between secure_join and the
// mknod (the node lands on the host), or the node for a link between mknod and chmod (a host
// file gets the node's mode and owner). A swap fails with failed_precondition; mknod's errors
// keep their errno (EPERM in a user namespace).
Result<void> make_device_node(const std::string& root, const std::string& host_path, const DeviceNode& node);

}  // namespace berth::runtime
