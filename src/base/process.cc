#include "base/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "base/clock.h"
#include "base/unique_fd.h"

namespace berth::proc {

int exit_code_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 255;
}

namespace {
std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

Result<int> run(const RunOptions& options) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return Error::from_errno("pipe");
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  UniqueFd output_read, output_write;
  if (options.output) {
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return Error::from_errno("pipe");
    output_read.reset(pipe_fds[0]);
    output_write.reset(pipe_fds[1]);
  }
  std::vector<std::string> args = options.args.empty() ? std::vector<std::string>{options.path} : options.args;
  auto argv = c_strings(args);
  auto envp = c_strings(options.env);

  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork for '{}'", options.path);
  if (pid == 0) {
    ::dup2(options.stdin_fd >= 0 ? options.stdin_fd : read_end.get(), 0);
    if (options.stdout_fd >= 0)
      ::dup2(options.stdout_fd, 1);
    else if (output_write)
      ::dup2(output_write.get(), 1);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    if (!options.cwd.empty()) (void)::chdir(options.cwd.c_str());
    ::execve(options.path.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  read_end.reset();
  output_write.reset();
  // A hook that does not read its stdin must not block us: ignore EPIPE, write what fits.
  signal(SIGPIPE, SIG_IGN);
  (void)!::write(write_end.get(), options.input.data(), options.input.size());
  write_end.reset();

  const int64_t deadline =
      options.timeout_seconds ? static_cast<int64_t>(clock::monotonic_ms()) + *options.timeout_seconds * 1000LL : 0;
  auto past_deadline = [&] { return deadline && static_cast<int64_t>(clock::monotonic_ms()) >= deadline; };
  auto kill_for_timeout = [&]() -> Error {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return Error::make(ErrorKind::unavailable, "'{}' ran past its timeout of {}s and was killed", options.path,
                       *options.timeout_seconds);
  };
  // Its stdout until EOF, so a chatty program never blocks on a full pipe while we wait for it.
  while (output_read) {
    struct pollfd p {output_read.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, deadline ? 50 : -1);
    if (ready < 0 && errno != EINTR) return Error::from_errno("read the output of '{}'", options.path);
    if (ready > 0) {
      char buf[4096];
      ssize_t n = ::read(output_read.get(), buf, sizeof buf);
      if (n > 0) {
        options.output->append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || errno != EINTR) output_read.reset();
    }
    if (past_deadline()) return kill_for_timeout();
  }
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, deadline ? WNOHANG : 0);
    if (r == pid) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return Error::make(ErrorKind::not_found, "run '{}': could not execute it (exit 127)", options.path);
      return exit_code_of(status);
    }
    if (r < 0 && errno != EINTR) return Error::from_errno("wait for '{}'", options.path);
    if (past_deadline()) return kill_for_timeout();
    if (deadline) ::poll(nullptr, 0, 5);
  }
}

std::optional<std::string> find_in_path(const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? std::optional(name) : std::nullopt;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    std::string_view dir = dirs.substr(0, colon);
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    std::string candidate = std::string(dir.empty() ? "." : dir) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return std::nullopt;
}

Result<pid_t> spawn_detached(const std::vector<std::string>& argv, const std::string& log_path, int ready_fd) {
  // posix_spawn, not fork: it clones without copying the caller's page tables, so a server with
  // many threads and pages (berth serve starting a container's monitor) pays neither that copy
  // nor the copy-on-write faults that follow a fork.
  std::vector<std::string> args = argv;  // posix_spawn wants char*
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  // The child's fds 2 and 3 come from these, above the fds the file actions write to.
  UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log) log = UniqueFd(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  if (!log) return Error::from_errno("open '{}'", log_path);
  UniqueFd log_high(::fcntl(log.get(), F_DUPFD_CLOEXEC, 4));
  UniqueFd ready_high(ready_fd >= 0 ? ::fcntl(ready_fd, F_DUPFD_CLOEXEC, 4) : -1);
  if (!log_high || (ready_fd >= 0 && !ready_high))
    return Error::from_errno("dup for '{}'", argv.at(0));

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDWR, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_RDWR, 0);
  posix_spawn_file_actions_adddup2(&actions, log_high.get(), 2);
  if (ready_high) posix_spawn_file_actions_adddup2(&actions, ready_high.get(), 3);
  posix_spawn_file_actions_addclosefrom_np(&actions, 4);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, cargv[0], &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    errno = rc;
    return Error::from_errno("spawn '{}'", argv.at(0));
  }
  return pid;
}

}  // namespace berth::proc
