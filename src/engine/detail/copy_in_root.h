// engine/detail/copy_in_root.h — `berth cp` between the host and a container's root file system
// without ever leaving it. A container controls every name in its file system and may change
// them while berth copies (CVE-2018-15664 in docker cp), so no container path is handed to a
// tool as a string: the path the user gave is resolved by the kernel relative to the root
// (openat2 RESOLVE_IN_ROOT: "..", absolute and relative symlinks stay inside it), and the tree
// below is walked one name at a time relative to directory descriptors, with O_NOFOLLOW. An
// existing symlink at a destination name is replaced, never written through. A container that
// swaps a directory for a symlink to / mid-copy makes the copy fail; it never makes berth read
// or write the host's files.
#pragma once

#include <string>

#include "base/error.h"

namespace berth::engine::detail {

// As `cp -a HOST_SOURCE ROOTFS/CONTAINER_DESTINATION` with Docker's destination rules: into an
// existing directory under the source's name, else as that path (its parent must exist).
// Regular files, directories, symlinks and fifos are copied with mode, owner and times; device
// nodes and sockets are skipped.
Result<void> copy_into_root(const std::string& rootfs, const std::string& host_source,
                            const std::string& container_destination);

// The other way: CONTAINER_SOURCE in the root to HOST_DESTINATION (trusted, resolved as usual).
Result<void> copy_out_of_root(const std::string& rootfs, const std::string& container_source,
                              const std::string& host_destination);

}  // namespace berth::engine::detail
