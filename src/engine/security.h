// engine/security.h — what a container is allowed by default, as Docker allows it: capabilities,
// the seccomp profile, masked and read-only paths and the standard mounts, plus the user's
// --cap-add/--cap-drop and `--security-opt seccomp=FILE` applied on top.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "oci/runtime_spec.h"

namespace berth::engine {

// Docker's default set, "CAP_X" names in Docker's order.
std::vector<std::string> default_capabilities();

// --cap-add/--cap-drop applied to the defaults. Names may be given as "NET_ADMIN",
// "CAP_NET_ADMIN" or "net_admin"; the result uses "CAP_NET_ADMIN", without duplicates. As Docker:
// ALL in add gives every capability the kernel has except those dropped; otherwise ALL in drop
// gives exactly the added ones. Unknown names fail with invalid_argument
// ("--cap-add: unknown capability 'FOO'").
Result<std::vector<std::string>> effective_capabilities(const std::vector<std::string>& add,
                                                        const std::vector<std::string>& drop);

// Docker's default seccomp profile for the host architecture and these capabilities (the
// container's bounding set): deny with EPERM, allow the usual syscalls; clone without namespace
// flags, personality with the common personas, socket except AF_VSOCK; clone3 gives ENOSYS (so
// libcs fall back to clone); each capability adds the syscalls it is for (CAP_SYS_ADMIN: mount,
// unshare, setns, ...; CAP_SYS_PTRACE: ptrace, process_vm_*; ...).
oci::Seccomp default_seccomp_profile(const std::vector<std::string>& capabilities);

// `--security-opt seccomp=FILE`: a Docker/podman seccomp profile (defaultAction,
// defaultErrnoRet, architectures or archMap, flags, listenerPath, syscalls[] with name or names,
// action, errnoRet, args, includes {caps, arches, minKernel} and excludes {caps, arches}),
// resolved for these capabilities, the host architecture and the running kernel. Errors name the
// file and the field: "p.json: syscalls[3].action: unknown action 'SCMP_ACT_FOO'".
Result<oci::Seccomp> load_seccomp_profile(const std::string& path,
                                          const std::vector<std::string>& capabilities);

// Paths Docker hides (a /dev/null or empty tmpfs over them) and remounts read-only in /proc and
// /sys.
std::vector<std::string> default_masked_paths();
std::vector<std::string> default_readonly_paths();
// /proc, /dev (tmpfs), /dev/pts, /sys (ro), /sys/fs/cgroup (ro), /dev/mqueue, /dev/shm (64 MiB).
std::vector<oci::Mount> default_mounts();

}  // namespace berth::engine
