// runtime/mounts.h — mount options as the kernel wants them, and resolving a container path to a
// host path and a descriptor without letting symlinks in the rootfs escape it. Unit-tested
// without root.
#pragma once

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

}  // namespace berth::runtime
