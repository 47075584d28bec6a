// runtime/detail/init.h — what runs in the container's first process between clone and exec,
// and the process set-up (rlimits, user, capabilities, seccomp, exec) shared with `exec`.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "oci/runtime_spec.h"
#include "runtime/capabilities.h"
#include "runtime/detail/rootfs.h"
#include "runtime/seccomp.h"

namespace berth::runtime {

struct ProcessSetup {
  const oci::Process* process = nullptr;
  std::optional<CapabilitySets> caps;
  SeccompProgram seccomp;
  std::string apparmor_profile;  // taken at exec; "" for none (see apparmor_profile_to_apply)
  int preserve_fds = 0;
  bool user_namespace = false;  // setgroups may be denied there
};

struct InitContext {
  const oci::Spec* spec = nullptr;
  ProcessSetup setup;
  RootfsOptions rootfs;
  int sync_fd = -1;     // child's end of the sync socket
  int fifo_fd = -1;     // exec.fifo, read-write (create); -1 when the parent sends Msg::start (run)
  int console_socket = -1;
  bool no_pivot = false;
  bool no_new_keyring = false;
  bool new_mount_ns = false, new_user_ns = false, new_cgroup_ns = false;
  bool run_hooks = false;
  bool tied_to_parent = false;  // foreground run: the container dies with the runtime
  std::vector<std::pair<int, int>> join_namespaces;  // (fd, CLONE_NEW*) in join order
  std::vector<int> cgroup_join_fds;  // cgroup::join_self: written first, then closed
};

// Never returns: execs the user process, or reports the error on sync_fd and exits 1.
[[noreturn]] void container_init(InitContext& ctx);

// The steps after the file system is in place: rlimits, oom score, user, caps, cwd; then (in
// `finish_and_exec`) no_new_privs, seccomp, fds, exec. Both report errors as Result.
Result<std::string> prepare_process(const ProcessSetup& setup);
Result<void> finish_and_exec(const ProcessSetup& setup, const std::string& executable);

// The clone flag of a namespace type ("pid" → CLONE_NEWPID), 0 if unknown.
int namespace_flag(std::string_view type);

}  // namespace berth::runtime
