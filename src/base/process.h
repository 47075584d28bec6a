// base/process.h — running a helper program (hooks): argv, env, data on stdin, a timeout, and
// its exit status in Docker's convention (128+N when killed by signal N).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace berth::proc {

// Exit status of a waitpid() status word: the exit code, or 128+signal.
int exit_code_of(int wait_status);

struct RunOptions {
  std::string path;
  std::vector<std::string> args;  // argv, including argv[0]; {path} when empty
  std::vector<std::string> env;
  std::string input;              // written to stdin, then stdin is closed
  std::optional<int> timeout_seconds;
  std::string* output = nullptr;  // when set, receives what it writes to stdout (else inherited)
  std::string cwd;                // its working directory when it can enter it; else inherited
  // When >= 0, its stdin (instead of `input`) or its stdout (instead of `output` or ours): a
  // file or socket it reads or writes itself.
  int stdin_fd = -1, stdout_fd = -1;
};

// Runs the program to completion. Returns its exit code (0 = success); an error if it could not
// be started or ran past its timeout (it is then killed with SIGKILL).
Result<int> run(const RunOptions& options);

// The program's path: `name` itself when it has a '/', else the first executable of that name
// in $PATH; nullopt when there is none.
std::optional<std::string> find_in_path(const std::string& name);

// Starts a long-lived helper (a container's monitor, a network's DNS responder) in its own
// session: stdin and stdout /dev/null, stderr appended to `log_path`, `ready_fd` as its fd 3,
// and no other fd of the caller's (an inherited pipe would keep `berth run -d | cat` waiting).
// The caller reads the other end of ready_fd to learn that it is up.
Result<pid_t> spawn_detached(const std::vector<std::string>& argv, const std::string& log_path, int ready_fd);

}  // namespace berth::proc
