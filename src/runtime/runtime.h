// runtime/runtime.h — the OCI runtime operations, as berth-runtime's commands call them.
// Each call is one short-lived process's work; state lives under GlobalOptions::root.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "oci/runtime_spec.h"
#include "runtime/state.h"

namespace berth::runtime {

struct GlobalOptions {
  std::string root = "/run/berth/runtime";
  bool systemd_cgroup = false;
};

struct CreateOptions {
  std::string id;
  std::string bundle = ".";
  std::string pid_file;
  std::string console_socket;
  int preserve_fds = 0;
  bool no_pivot = false;
  bool no_new_keyring = false;
  // The container's stdin, stdout and stderr; -1 inherits the caller's. For callers that run
  // containers in-process (a foreground `berth run`) and own the pipes to them.
  int stdio[3] = {-1, -1, -1};
  // A foreground run sets it to whether the kernel OOM-killed a process of the container,
  // read from its memory cgroup before the cgroup is removed.
  bool* oom_killed = nullptr;
};

// create: the container process waits, fully set up, for `start`. Returns its pid.
Result<pid_t> create(const GlobalOptions& global, const CreateOptions& options);
Result<void> start(const GlobalOptions& global, const std::string& id);
// run: create + start. In the foreground it forwards signals, waits, deletes the container and
// returns the container's exit status (128+N if killed by signal N); detached it returns 0.
Result<int> run(const GlobalOptions& global, const CreateOptions& options, bool detach);

Result<std::string> state(const GlobalOptions& global, const std::string& id);
Result<void> kill(const GlobalOptions& global, const std::string& id, int signal, bool all);
Result<void> remove(const GlobalOptions& global, const std::string& id, bool force);
// Writes the resources set in `resources` to a created or running container's cgroup (runc
// update); the others are left as they are.
Result<void> update(const GlobalOptions& global, const std::string& id, const oci::Resources& resources);
Result<void> pause(const GlobalOptions& global, const std::string& id);
Result<void> resume(const GlobalOptions& global, const std::string& id);
Result<std::vector<pid_t>> processes(const GlobalOptions& global, const std::string& id);

struct ListEntry {
  ContainerRecord record;
  Status status;
};
std::vector<ListEntry> list(const GlobalOptions& global);

struct ExecOptions {
  std::string id;
  std::string process_file;           // --process: a process.json; otherwise built from below
  std::vector<std::string> args;
  std::string cwd;
  std::vector<std::string> env;
  std::string user;                   // "uid[:gid]"
  std::vector<uint32_t> additional_gids;
  std::vector<std::string> add_caps;  // --cap
  bool tty = false;
  bool detach = false;
  bool no_new_privs = false;
  std::string apparmor_profile;  // --apparmor; otherwise the container's
  std::string pid_file;
  std::string console_socket;
  int preserve_fds = 0;
};
// Runs a new process in a running container; returns its exit status (0 when detached).
Result<int> exec(const GlobalOptions& global, const ExecOptions& options);

// "KILL", "SIGKILL", "kill", "9" → 9.
Result<int> parse_signal(std::string_view text);
// The runtime-spec features document (features.md).
std::string features_json();

}  // namespace berth::runtime
