// runtime/detail/rootfs.h — the container's file system view, done in the child's new mount
// namespace: spec mounts, /dev, pivot_root, masked and read-only paths.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "oci/runtime_spec.h"
#include "runtime/cgroup/cgroup.h"

namespace berth::runtime {

struct RootfsOptions {
  const oci::Spec* spec = nullptr;
  std::string rootfs;  // absolute host path
  std::string bundle;  // relative bind sources resolve against it
  bool user_namespace = false;
  std::string cgroup_path;
  cgroup::Mode cgroup_mode = cgroup::Mode::v1;
  std::vector<cgroup::Hierarchy> hierarchies;  // v1 only, read by the parent
  bool cgroup_namespace = false;
};

// Without a new mount namespace the root is entered with chroot and nothing is mounted: the
// mount namespace is the host's or a joined one, and mounts there would outlive the container
// (crun makes them anyway). Warns naming the settings of `spec` this leaves unapplied.
void warn_without_mount_namespace(const oci::Spec& spec);

// Before pivot_root: root propagation, the rootfs bind, every spec mount, devices.
Result<void> mount_rootfs(const RootfsOptions& options);
// pivot_root into the rootfs (or MS_MOVE + chroot with no_pivot) and detach the old root.
Result<void> enter_rootfs(const std::string& rootfs, bool no_pivot, bool mount_namespace);
// After pivot_root: masked and read-only paths, /dev/console, read-only root, propagation.
Result<void> finish_rootfs(const oci::Spec& spec, const std::string& console_path);

}  // namespace berth::runtime
