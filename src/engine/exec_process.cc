// engine/exec_process.cc — an exec as a child process (containers.h: spawn_exec). A server must
// not run the runtime's exec in-process: it joins namespaces, blocks every signal and relays
// the caller's own stdio. `berth exec` in a child does all of that with the fds it is given.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "engine/containers.h"

namespace berth::engine {

std::vector<std::string> exec_argv(const Layout& layout, const Programs& programs,
                                   const std::string& id, const ExecRequest& request) {
  std::vector<std::string> argv{programs.berth, "--root",        layout.root,
                                "--run-root",   layout.run_root, "exec"};
  if (request.interactive) argv.push_back("--interactive");
  if (request.tty) argv.push_back("--tty");
  if (request.detach) argv.push_back("--detach");
  for (const auto& e : request.env) argv.insert(argv.end(), {"--env", e});
  if (!request.user.empty()) argv.insert(argv.end(), {"--user", request.user});
  if (!request.workdir.empty()) argv.insert(argv.end(), {"--workdir", request.workdir});
  // The command keeps its own flags: options stop at the first positional after the container.
  argv.push_back(id);
  argv.insert(argv.end(), request.args.begin(), request.args.end());
  return argv;
}

Result<pid_t> spawn_exec(const Engine& engine, const std::string& id, const ExecRequest& request,
                         const ExecIo& io) {
  if (request.args.empty())
    return Error(ErrorKind::invalid_argument, "exec: no command given").with_hint("give Cmd");
  std::vector<std::string> args = exec_argv(engine.layout, engine.programs, id, request);
  std::vector<char*> cargv;  // built before the fork: the child only makes async-signal-safe calls
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork '{}' for an exec in '{}'", args[0], id);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // a server's threads block signals; execs must not
    ::setsid();
    int null = ::open("/dev/null", O_RDWR);
    int fds[3] = {io.stdin_fd, io.stdout_fd, io.stderr_fd};
    for (int target = 0; target < 3; ++target) {
      int from = fds[target] >= 0 ? fds[target] : null;
      // dup2 onto itself leaves FD_CLOEXEC set: clear it instead.
      if (from == target)
        ::fcntl(target, F_SETFD, 0);
      else
        ::dup2(from, target);
    }
    if (io.controlling_terminal) ::ioctl(0, TIOCSCTTY, 0);
    ::close_range(3, ~0U, 0);
    ::execv(cargv[0], cargv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace berth::engine
