// runtime/mounts.h — mount options as the kernel wants them, and resolving a container path to a
// host path without letting symlinks in the rootfs escape it. Pure: unit-tested without root.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"

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

}  // namespace berth::runtime
