#include "monitor/monitor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys.h"
#include "base/unix_socket.h"
#include "monitor/attach.h"
#include "monitor/health.h"
#include "monitor/idle_memory.h"
#include "monitor/protocol.h"
#include "runtime/cgroup/cgroup.h"

namespace berth::monitor {
namespace {

// Forks and execs argv[0] with the given stdio (-1: /dev/null) and no signal blocked; with
// `new_session` the child leaves the monitor's session (commands run as the monitor ends).
Result<pid_t> spawn(const std::vector<std::string>& argv, int in, int out, int err, bool new_session = false) {
  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork '{}'", argv.at(0));
  if (pid > 0) return pid;
  if (new_session) ::setsid();
  int null = ::open("/dev/null", O_RDWR);
  ::dup2(in >= 0 ? in : null, 0);
  ::dup2(out >= 0 ? out : null, 1);
  ::dup2(err >= 0 ? err : null, 2);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  ::execv(cargv[0], cargv.data());
  _exit(127);
}

// When the loop gives back its pages (monitor/idle_memory.h): once start-up is over, as soon as
// what it left pending (such as the runtime's exits) is handled; after that, when a second
// without events follows a burst of them.
class IdleRelease {
 public:
  explicit IdleRelease(bool enabled) : enabled_(enabled), due_(enabled) {}

  // Before a wait of `timeout` ms (-1: none) on `fds`: releases if it is time and nothing is
  // pending; returns the timeout to wait with, shortened to when a release falls due.
  int before_wait(struct pollfd* fds, nfds_t count, int timeout) {
    if (!due_) return timeout;
    uint64_t now = clock::monotonic_ms(), at = last_event_ms_ + kQuietMs;
    if (now < at) {
      bool sooner = timeout >= 0 && static_cast<uint64_t>(timeout) <= at - now;
      return sooner ? timeout : static_cast<int>(at - now);
    }
    if (::poll(fds, count, 0) != 0) return 0;  // handle what is pending first
    release_idle_memory();
    due_ = false;
    released_ = true;
    return timeout;
  }
  // After a wait that returned events.
  void saw_events() {
    if (!enabled_) return;
    due_ = true;
    if (released_) last_event_ms_ = clock::monotonic_ms();  // start-up's events need no quiet second
  }

 private:
  static constexpr uint64_t kQuietMs = 1000;
  bool enabled_, due_, released_ = false;
  uint64_t last_event_ms_ = 0;
};

struct Run {
  int exit_code = 0;
  bool oom_killed = false;
  std::string started_at, finished_at;
  uint64_t ran_for_ms = 0;
  bool terminated = false;  // the monitor was asked to stop
};

void spawn_detached(const std::vector<std::string>& command);

// Runs the container's health checks from the monitor's event loop: one probe at a time, started
// when due, killed past its timeout, its result recorded when the monitor reaps it.
class HealthChecker {
 public:
  HealthChecker(const MonitorOptions& o, RuntimeDriver& runtime, uint64_t started_ms)
      : o_(o), runtime_(runtime), state_(o.health), started_ms_(started_ms),
        next_ms_(started_ms + o.health.interval_ms) {
    if (o_.health.enabled()) write();
  }

  // How long poll may sleep before the next probe is due or the running one times out.
  int poll_timeout_ms() const {
    if (!o_.health.enabled()) return -1;
    uint64_t now = clock::monotonic_ms(), due = probe_pid_ > 0 ? deadline_ms_ : next_ms_;
    return due <= now ? 0 : static_cast<int>(std::min<uint64_t>(due - now, 60'000));
  }

  // Out of line, as reaped(): their frames stay out of the wait loop's (monitor/idle_memory.h).
  [[gnu::noinline]] void tick() {
    if (!o_.health.enabled()) return;
    uint64_t now = clock::monotonic_ms();
    if (probe_pid_ > 0) {
      if (now >= deadline_ms_ && !timed_out_) {
        timed_out_ = true;
        ::kill(probe_pid_, SIGKILL);
      }
      return;
    }
    if (now < next_ms_) return;
    int out[2];
    if (::pipe2(out, O_CLOEXEC | O_NONBLOCK) < 0) return;
    output_ = UniqueFd(out[0]);
    UniqueFd writer(out[1]);
    auto spawned = runtime_.spawn_exec(o_.health.command, writer.get());
    if (!spawned) {
      finish(-1, spawned.error().message());
      return;
    }
    probe_pid_ = *spawned;
    probe_started_ms_ = now;
    deadline_ms_ = now + o_.health.timeout_ms;
    timed_out_ = false;
    probe_.start = clock::rfc3339_now();
  }

  [[gnu::noinline]] void reaped(pid_t pid, int status) {
    if (pid != probe_pid_ || pid <= 0) return;
    probe_pid_ = 0;
    std::string text;
    char buf[4096];
    for (ssize_t got; (got = ::read(output_.get(), buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(got));
    output_.reset();
    if (timed_out_) text = fmt::format("Health check exceeded timeout ({}ms)", o_.health.timeout_ms);
    finish(timed_out_ ? -1 : proc::exit_code_of(status), text);
  }

  // The container stopped: a probe still running goes with it.
  void stop() {
    if (probe_pid_ > 0) {
      ::kill(probe_pid_, SIGKILL);
      ::waitpid(probe_pid_, nullptr, 0);
      probe_pid_ = 0;
    }
  }

 private:
  void finish(int exit_code, std::string output) {
    probe_.end = clock::rfc3339_now();
    probe_.exit_code = exit_code;
    probe_.output = std::move(output);
    bool changed = state_.record(probe_, probe_started_ms_ - started_ms_);
    next_ms_ = clock::monotonic_ms() + o_.health.interval_ms;
    write();
    if (!changed) return;
    if (o_.on_health_changed) o_.on_health_changed(state_.status());
    spawn_detached(o_.exit_command);  // `berth container cleanup` records the health_status event
  }
  void write() {
    (void)sys::atomic_write(sys::join_path(o_.dir, kHealthFile), state_.to_json(), 0644,
                            sys::Durability::process_crash);
  }

  const MonitorOptions& o_;
  RuntimeDriver& runtime_;
  HealthState state_;
  uint64_t started_ms_, next_ms_, deadline_ms_ = 0, probe_started_ms_ = 0;
  pid_t probe_pid_ = 0;
  bool timed_out_ = false;
  UniqueFd output_;
  HealthProbe probe_;
};

// Reads what the container wrote on one of its pipes into the log (and the echo); false at EOF.
// Out of the loop's frame: its buffer is stack below the loop, which the next release discards.
[[gnu::noinline]] Result<bool> forward_output(const MonitorOptions& o, LogWriter& log, AttachServer* attach, int fd,
                                              bool is_stdout) {
  char buf[16384];  // as much as a pipe gives at once, mostly; a bigger one only touches more
  ssize_t got = ::read(fd, buf, sizeof buf);
  if (got <= 0) return false;  // a terminal's master reads EIO once the container closed it
  std::string_view chunk(buf, static_cast<size_t>(got));
  if (int echo = is_stdout ? o.echo_stdout : o.echo_stderr; echo >= 0) (void)sys::write_all(echo, chunk);
  if (attach) attach->output(is_stdout, chunk);
  BERTH_TRY_VOID(log.write(is_stdout ? "stdout" : "stderr", chunk, clock::rfc3339_now()));
  return true;
}

// The stdio of a container that can be attached to (MonitorOptions::tty, interactive): its
// stdin pipe, or the console socket the runtime sends its terminal to.
struct AttachableStdio {
  UniqueFd stdin_r, stdin_w;
  std::string console_path;
  UniqueFd console_listener;
};

[[gnu::noinline]] Result<AttachableStdio> attachable_stdio(const MonitorOptions& o) {
  AttachableStdio s;
  if (o.tty) {
    s.console_path = sys::join_path(o.dir, kConsoleSocket);
    BERTH_TRY(s.console_listener, sys::listen_unix(s.console_path, SOCK_STREAM));
  } else if (o.interactive && o.stdin_fd < 0) {
    int in[2];
    if (::pipe2(in, O_CLOEXEC) < 0) return Error::from_errno("pipe");
    s.stdin_r = UniqueFd(in[0]);
    s.stdin_w = UniqueFd(in[1]);
  }
  return s;
}

// After create: with a terminal, its master becomes the output to read (`out_r`); the attach
// socket for a container with a terminal or an open stdin (nullptr otherwise).
[[gnu::noinline]] Result<std::unique_ptr<AttachServer>> attach_container_stdio(const MonitorOptions& o,
                                                                               AttachableStdio& s,
                                                                               UniqueFd& out_r) {
  UniqueFd input = std::move(s.stdin_w);
  if (o.tty) {
    auto master = receive_terminal(s.console_listener.get(), 10'000);
    ::unlink(s.console_path.c_str());
    if (!master) return std::move(master).error();
    input = UniqueFd(::fcntl(master->get(), F_DUPFD_CLOEXEC, 0));
    out_r = std::move(*master);
  }
  if (!o.tty && !o.interactive) return std::unique_ptr<AttachServer>();
  return AttachServer::listen(o.dir, std::move(input), o.tty);
}

// One start of the container, from create to delete. Hot: its wait loop is where an idle
// monitor sits, on the pages idle_layout.ld keeps together.
[[gnu::hot]] Result<Run> run_once(const MonitorOptions& o, RuntimeDriver& runtime, LogWriter& log, int signal_fd) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) < 0 || ::pipe2(err, O_CLOEXEC) < 0) return Error::from_errno("pipe");
  UniqueFd out_r(out[0]), out_w(out[1]), err_r(err[0]), err_w(err[1]);
  BERTH_TRY(auto stdio, attachable_stdio(o));
  BERTH_TRY(pid_t pid, runtime.create(o.stdin_fd >= 0 ? o.stdin_fd : stdio.stdin_r.get(), out_w.get(), err_w.get(),
                                      stdio.console_path));
  out_w.reset();
  err_w.reset();
  stdio.stdin_r.reset();
  std::unique_ptr<AttachServer> attach;
  if (auto attached = attach_container_stdio(o, stdio, out_r); attached) {
    attach = std::move(*attached);
  } else {
    runtime.remove();
    return std::move(attached).error();
  }
  uint64_t oom_before = runtime::cgroup::oom_kills(o.cgroup_path);
  Run run;
  run.started_at = clock::rfc3339_now();
  uint64_t started = clock::monotonic_ms();
  if (auto started_ok = runtime.start(); !started_ok) {
    runtime.remove();
    return started_ok.error();
  }
  BERTH_TRY_VOID(sys::atomic_write(sys::join_path(o.dir, kPidFile), fmt::format("{{\"pid\":{}}}", pid), 0644,
                                   sys::Durability::process_crash));
  if (o.on_started) o.on_started(pid);

  bool exited = false;
  bool out_open = true, err_open = true;
  HealthChecker health(o, runtime, started);
  IdleRelease idle(o.release_memory_when_idle);
  // Until the container exited and both pipes reached EOF (a child of it may keep them open:
  // once the container is gone, drain what is there and stop).
  while (!exited || out_open || err_open) {
    struct pollfd fds[3 + AttachServer::kMaxPollFds] = {{signal_fd, POLLIN, 0},
                                                        {out_open ? out_r.get() : -1, POLLIN, 0},
                                                        {err_open ? err_r.get() : -1, POLLIN, 0}};
    nfds_t count = 3 + (attach ? attach->poll_fds(fds + 3) : 0);
    int timeout = exited ? 100 : idle.before_wait(fds, count, health.poll_timeout_ms());
    int n = ::poll(fds, count, timeout);
    if (!exited) health.tick();
    if (n < 0 && errno != EINTR) return Error::from_errno("poll");
    if (n == 0 && exited) break;
    if (n > 0) idle.saw_events();
    for (int i = 1; i <= 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      BERTH_TRY(bool open, forward_output(o, log, attach.get(), fds[i].fd, i == 1));
      if (!open) (i == 1 ? out_open : err_open) = false;
    }
    if (attach && n > 0) attach->handle(fds + 3, static_cast<int>(count) - 3);
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo info;
      if (::read(signal_fd, &info, sizeof info) == sizeof info && info.ssi_signo != SIGCHLD) {
        run.terminated = true;
        ::kill(pid, static_cast<int>(info.ssi_signo));
      }
      int status;
      pid_t reaped;
      while ((reaped = ::waitpid(-1, &status, WNOHANG)) > 0) {
        if (reaped == pid) {
          exited = true;
          run.exit_code = proc::exit_code_of(status);
        }
        health.reaped(reaped, status);
      }
    }
  }
  BERTH_TRY_VOID(log.flush(clock::rfc3339_now()));
  run.finished_at = clock::rfc3339_now();
  run.ran_for_ms = clock::monotonic_ms() - started;
  run.oom_killed = runtime::cgroup::oom_kills(o.cgroup_path) > oom_before;
  health.stop();
  attach.reset();  // attached clients see the end of the output
  runtime.remove();
  ::unlink(sys::join_path(o.dir, kPidFile).c_str());
  ::unlink(sys::join_path(o.dir, kHealthFile).c_str());
  return run;
}

// Starts `command` in its own session and does not wait for it: the monitor is about to exit.
void spawn_detached(const std::vector<std::string>& command) {
  // stderr stays the monitor's (monitor.log): the command's errors are worth keeping.
  if (!command.empty()) (void)spawn(command, -1, -1, 2, true);
}

// The message of the runtime's last log record (JSON lines: {"level":…,"msg":"…",…}).
std::string last_runtime_error(const std::string& log) {
  std::string line;
  for (const auto& l : sys::split(log, '\n'))
    if (!l.empty()) line = l;
  auto at = line.find("\"msg\":\"");
  if (at == std::string::npos) return line;
  std::string msg;
  for (size_t i = at + 7; i < line.size() && line[i] != '"'; ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) {
      ++i;
      msg += line[i] == 'n' ? '\n' : line[i];
    } else {
      msg += line[i];
    }
  }
  return msg;
}

Result<int> monitor_loop(const MonitorOptions& o, RuntimeDriver& runtime);

// Whether a process holds kWaiterLockFile (protocol.h): it records the container's end.
bool waiter_present(const std::string& dir) {
  UniqueFd fd(::open(sys::join_path(dir, kWaiterLockFile).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  return ::flock(fd.get(), LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

}  // namespace

Result<int> run_monitor(const MonitorOptions& o, RuntimeDriver& runtime) {
  BERTH_TRY_VOID(sys::mkdir_all(o.dir, 0700));
  BERTH_TRY(auto lock, sys::open(sys::join_path(o.dir, kLockFile), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) < 0)
    return Error::from_errno("lock '{}': is another monitor running for container '{}'?", kLockFile, o.id);
  BERTH_TRY(int code, monitor_loop(o, runtime));
  // Asked while the monitor's lock is still held: a waiter there now sees its release.
  bool waiter_records_end = waiter_present(o.dir);
  lock.reset();
  if (!o.unmount_at_end.empty()) ::umount2(o.unmount_at_end.c_str(), MNT_DETACH);
  if (!waiter_records_end) spawn_detached(o.exit_command);
  return code;
}

Result<pid_t> ExecRuntime::create(int in, int out, int err, const std::string& console_socket) {
  std::string pid_file = sys::join_path(dir_, "container.pid");
  std::vector<std::string> args = {"create", "--bundle", bundle_, "--pid-file", pid_file};
  if (!console_socket.empty()) args.insert(args.end(), {"--console-socket", console_socket});
  args.push_back(id_);
  BERTH_TRY(int created, run(args, in, out, err));
  if (created != 0) {
    auto log = sys::read_file(sys::join_path(dir_, "runtime.log"));
    return Error::make(ErrorKind::failed_precondition, "create container '{}' failed (status {}): {}", id_,
                       created, log ? last_runtime_error(*log) : "no runtime log");
  }
  BERTH_TRY(auto pid_text, sys::read_file(pid_file));
  return static_cast<pid_t>(std::atoi(pid_text.c_str()));
}

Result<void> ExecRuntime::start() {
  BERTH_TRY(int status, run({"start", id_}, -1, -1, -1));
  if (status != 0) return Error::make(ErrorKind::failed_precondition, "start container '{}' failed (status {})", id_, status);
  return {};
}

void ExecRuntime::remove() { (void)run({"delete", "--force", id_}, -1, -1, -1); }

Result<pid_t> ExecRuntime::spawn_exec(const std::vector<std::string>& args, int out) {
  return spawn_runtime_exec(binary_, root_, id_, args, out);
}

Result<pid_t> spawn_runtime_exec(const std::string& binary, const std::string& root, const std::string& id,
                                 const std::vector<std::string>& args, int out) {
  std::vector<std::string> argv = {binary, "--root", root, "exec", id};
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn(argv, -1, out, out);
}

// Runs the OCI runtime with the given stdio and waits for it (not for the container).
Result<int> ExecRuntime::run(std::vector<std::string> args, int in, int out, int err) {
  std::vector<std::string> argv = {binary_, "--root", root_, "--log", sys::join_path(dir_, "runtime.log"),
                                   "--log-format", "json"};
  argv.insert(argv.end(), args.begin(), args.end());
  BERTH_TRY(pid_t pid, spawn(argv, in, out, err));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return proc::exit_code_of(status);
}

namespace {
Result<int> monitor_loop(const MonitorOptions& o, RuntimeDriver& runtime) {
  BERTH_TRY_VOID(sys::mkdir_all(o.dir, 0700));
  // The container's parent (the runtime) exits after create: we adopt and reap it.
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) return Error::from_errno("become a subreaper");
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&handled, sig);
  sigprocmask(SIG_BLOCK, &handled, nullptr);
  int sfd = ::signalfd(-1, &handled, SFD_CLOEXEC);
  if (sfd < 0) return Error::from_errno("signalfd");
  UniqueFd signals(sfd);
  BERTH_TRY(auto log, LogWriter::open({sys::join_path(o.dir, kLogFile), o.log_max_size, o.log_max_files}));

  unsigned restarts = 0, consecutive = 0;
  for (;;) {
    BERTH_TRY(Run run, run_once(o, runtime, log, sfd));
    bool stop_requested = run.terminated || sys::exists(sys::join_path(o.dir, kStopRequestFile));
    BERTH_TRY_VOID(sys::atomic_write(
        sys::join_path(o.dir, kExitFile),
        fmt::format("{{\"exitCode\":{},\"oomKilled\":{},\"startedAt\":\"{}\",\"finishedAt\":\"{}\",\"restartCount\":{}}}\n",
                    run.exit_code, run.oom_killed ? "true" : "false", run.started_at, run.finished_at, restarts),
        // A power loss ends every container anyway: the record only has to outlive us.
        0644, sys::Durability::process_crash));
    if (o.on_exited) o.on_exited();
    RestartPolicy policy = o.restart;
    if (auto changed = sys::read_file(sys::join_path(o.dir, kRestartPolicyFile)))
      if (auto parsed = RestartPolicy::parse(*changed)) policy = *parsed;
    if (!policy.should_restart(run.exit_code, restarts, stop_requested)) return run.exit_code;
    consecutive = resets_backoff(run.ran_for_ms) ? 0 : consecutive + 1;
    // Wait out the back-off; a stop request during it ends the monitor at once.
    const uint64_t deadline = clock::monotonic_ms() + restart_delay_ms(consecutive > 0 ? consecutive - 1 : 0);
    for (uint64_t now = clock::monotonic_ms(); now < deadline; now = clock::monotonic_ms()) {
      struct pollfd p{sfd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(deadline - now)) <= 0) continue;
      struct signalfd_siginfo info;
      if (::read(sfd, &info, sizeof info) != sizeof info) continue;
      if (info.ssi_signo != SIGCHLD) return run.exit_code;
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
    }
    ++restarts;
  }
}

}  // namespace
}  // namespace berth::monitor
