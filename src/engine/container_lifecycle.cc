// engine/container_lifecycle.cc — containers: start, run in the foreground, stop, kill, pause, wait.
#include "engine/containers.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/trace.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys.h"
#include "engine/container_watch.h"
#include "engine/detail/container_records.h"
#include "engine/detail/crash_point.h"
#include "engine/events.h"
#include "engine/networks.h"
#include "engine/images.h"
#include "engine/proxy_drain.h"
#include "engine/spec.h"
#include "engine/volumes.h"
#include "monitor/monitor.h"
#include "monitor/protocol.h"
#include "monitor/runtime_library.h"
#include "runtime/mounts.h"
#include "runtime/runtime.h"
#include "state/lock.h"
#include "state/transaction.h"

namespace berth::engine {

using namespace detail;

namespace {

Result<void> prepare_start(Engine& engine, const ContainerRecord& r) {
  if (r.state == "running" || r.state == "restarting" || r.state == "paused")
    return Error::make(ErrorKind::failed_precondition, "container '{}' is already {}", r.name, r.state);
  for (const char* file :
       {monitor::kExitFile, monitor::kPidFile, monitor::kStopRequestFile, monitor::kRestartPolicyFile})
    ::unlink((r.dir + "/" + file).c_str());
  (void)runtime::remove(runtime_options(engine), r.id, true);  // a leftover of a crashed start
  BERTH_TRY_VOID(write_etc_files(engine, r));
  trace::mark("start: /etc/hosts, resolv.conf");
  BERTH_TRY_VOID(wire_container(engine, r.id, r.config));
  detail::crash_point("start:after-network");
  trace::mark("start: network");
  if (auto mounted = mount_rootfs(engine, r); !mounted) {
    unwire_container(engine, r.id, r.config);
    return std::move(mounted).error();
  }
  detail::crash_point("start:after-mount");
  trace::mark("start: overlay mount");
  return {};
}

Result<void> mark_started(Engine& engine, const ContainerRecord& r, pid_t pid, pid_t monitor_pid,
                          int64_t now = clock::now_ns()) {
  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  BERTH_TRY(auto stmt, engine.db.prepare("UPDATE containers SET state = 'running', pid = ?2, monitor_pid = ?3, "
                                         "started = ?4, exit_code = NULL, finished = NULL, oom_killed = 0, "
                                         "error = '' WHERE id = ?1"));
  stmt.bind_all(r.id, pid, monitor_pid, now);
  BERTH_TRY_VOID(stmt.run());
  BERTH_TRY_VOID(record_event(engine.db, "container", "start", r.id, event_attributes(r), now));
  return tx.commit();
}

Result<void> mark_start_failed(Engine& engine, const ContainerRecord& r, const std::string& error) {
  unmount_rootfs(r);
  unwire_container(engine, r.id, r.config);
  BERTH_TRY(auto stmt, engine.db.prepare("UPDATE containers SET error = ?2, exit_code = ?3 WHERE id = ?1"));
  stmt.bind_all(r.id, error, exec_failure_status(error));
  return stmt.run();
}

std::vector<std::string> monitor_command(const Engine& engine, const ContainerRecord& r, int ready_fd) {
  std::vector<std::string> argv = {engine.programs.monitor, "--runtime", engine.programs.runtime, "--runtime-root",
                                   engine.layout.runtime_root(), "--bundle", r.dir, "--dir", r.dir,
                                   "--cgroup-path", cgroups_path_of(r.id), "--restart", r.config.restart,
                                   "--ready-fd", std::to_string(ready_fd), "--unmount", rootfs_of(r),
                                   "--runtime-in-process", "--exit-command", engine.programs.berth};
  for (const std::string& arg : {std::string("--root"), engine.layout.root, std::string("--run-root"),
                                 engine.layout.run_root, std::string("container"), std::string("cleanup"), r.id}) {
    argv.push_back("--exit-arg");
    argv.push_back(arg);
  }
  if (!r.config.health_command.empty()) {
    for (const auto& arg : r.config.health_command) {
      argv.push_back("--health-arg");
      argv.push_back(arg);
    }
    for (auto [name, value] : {std::pair{"--health-interval", r.config.health_interval_ms},
                               std::pair{"--health-timeout", r.config.health_timeout_ms},
                               std::pair{"--health-start-period", r.config.health_start_period_ms},
                               std::pair{"--health-retries", int64_t{r.config.health_retries}}}) {
      argv.push_back(name);
      argv.push_back(std::to_string(value));
    }
  }
  if (r.config.tty) argv.push_back("--tty");
  if (r.config.interactive) argv.push_back("--interactive");
  argv.push_back(r.id);
  return argv;
}

}  // namespace

Result<ContainerRecord> start_container(Engine& engine, const std::string& name_or_id) {
  BERTH_TRY(auto found, find_container(engine, name_or_id));
  BERTH_TRY(auto lock, lock_container(engine, found.id));
  auto r_found = find_container(engine, found.id);
  if (!r_found) {
    if (r_found.error().kind() == ErrorKind::not_found) lock.remove_file();  // removed while we waited
    return std::move(r_found).error();
  }
  ContainerRecord r = std::move(*r_found);
  if (r.state == "running" || r.state == "restarting") return r;
  BERTH_TRY_VOID(prepare_start(engine, r));
  undrain_before_start(engine, r);

  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) < 0) return Error::from_errno("pipe");
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  auto argv = monitor_command(engine, r, 3);
  int64_t started_at = clock::now_ns();  // before any output the container can write
  BERTH_TRY(pid_t monitor_pid, proc::spawn_detached(argv, r.dir + "/monitor.log", ready_w.get()));
  ready_w.reset();
  BERTH_TRY(auto answer, sys::read_fd(ready_r.get()));
  if (answer != "ok") {
    int status;
    ::waitpid(monitor_pid, &status, 0);
    if (answer.empty()) answer = fmt::format("the monitor exited (status {}) before the container started",
                                             proc::exit_code_of(status));
    BERTH_TRY_VOID(mark_start_failed(engine, r, answer));
    return Error::make(ErrorKind::failed_precondition, "start container '{}': {}", r.name, answer);
  }
  detail::crash_point("start:after-monitor");
  pid_t pid = 0;
  if (auto text = sys::read_file(r.dir + "/" + monitor::kPidFile)) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_object()) pid = j.value("pid", 0);
  }
  BERTH_TRY_VOID(mark_started(engine, r, pid, monitor_pid, started_at));
  r.state = "running";
  r.started = started_at;
  r.pid = pid;
  r.monitor_pid = monitor_pid;
  return r;
}

Result<int> run_foreground(Engine& engine, const std::string& id, const ForegroundOptions& options) {
  BERTH_TRY(auto r, find_container(engine, id));
  // Records the exit of a container that ran; with --rm it goes at once, under its lock.
  auto finish = [&](const ContainerRecord& ran) -> Result<void> {
    if (!options.remove) {
      BERTH_TRY_VOID(finish_exit(engine, ran));
      return {};
    }
    BERTH_TRY(auto lock, lock_container(engine, ran.id));
    BERTH_TRY(auto finished, finish_exit(engine, ran, true));
    return destroy(engine, finished, true, lock, Marked::yes);
  };
  {
    BERTH_TRY(auto lock, lock_container(engine, r.id));
    BERTH_TRY_VOID(prepare_start(engine, r));
  }
  if (r.config.tty) {
    // The runtime relays the terminal itself; output is not logged (as with `docker run -t`
    // attached, the terminal is the log).
    BERTH_TRY(auto lock_fd, sys::open(r.dir + "/" + monitor::kLockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ::flock(lock_fd.get(), LOCK_EX);
    BERTH_TRY_VOID(mark_started(engine, r, 0, ::getpid()));
    runtime::CreateOptions o;
    o.id = r.id;
    o.bundle = r.dir;
    bool oom_killed = false;
    o.oom_killed = &oom_killed;
    auto code = runtime::run(runtime_options(engine), o, false);
    int exit_code = code ? *code : 127;
    std::string now = clock::rfc3339_now();
    (void)sys::atomic_write(r.dir + "/" + monitor::kExitFile,
                            fmt::format("{{\"exitCode\":{},\"oomKilled\":{},\"finishedAt\":\"{}\"}}\n", exit_code,
                                        oom_killed, now),
                            0644, sys::Durability::process_crash);
    lock_fd.reset();
    r.state = "running";
    BERTH_TRY_VOID(finish(r));
    if (!code) return std::move(code).error();
    return exit_code;
  }
  // A foreground `berth run` is the container's monitor, with the runtime library in-process.
  monitor::LibraryRuntime driver(runtime_options(engine), r.id, r.dir, engine.programs.runtime);
  monitor::MonitorOptions o;
  o.id = r.id;
  o.dir = r.dir;
  o.cgroup_path = cgroups_path_of(r.id);
  BERTH_TRY(o.restart, monitor::RestartPolicy::parse(r.config.restart));
  o.stdin_fd = options.stdin_fd;
  o.echo_stdout = options.stdout_fd;
  o.echo_stderr = options.stderr_fd;
  o.health.command = r.config.health_command;
  o.health.interval_ms = static_cast<uint64_t>(r.config.health_interval_ms);
  o.health.timeout_ms = static_cast<uint64_t>(r.config.health_timeout_ms);
  o.health.start_period_ms = static_cast<uint64_t>(r.config.health_start_period_ms);
  o.health.retries = static_cast<unsigned>(r.config.health_retries);
  o.on_health_changed = [&](const std::string&) {
    auto fresh = query(engine, "WHERE id = ?1", r.id);
    if (fresh && !fresh->empty()) (void)note_health(engine, fresh->front());
  };
  bool started = false;
  o.on_started = [&](pid_t pid) {
    if (auto marked = mark_started(engine, r, pid, ::getpid()); !marked) log::warn(marked.error().message());
    trace::mark("start: record (berth.db)");
    started = true;
    detail::crash_point("run:after-start");
  };
  auto code = monitor::run_monitor(o, driver);
  trace::mark("the container runs, exits; monitor reaps it");
  if (!code) {
    if (!started) {
      (void)mark_start_failed(engine, r, code.error().message());
      return std::move(code).error();
    }
  }
  r.state = "running";
  BERTH_TRY_VOID(finish(r));
  if (!code) return std::move(code).error();
  return *code;
}

Result<ContainerRecord> stop_container(Engine& engine, const std::string& name_or_id, std::optional<int> timeout) {
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  if (!r.running()) return r;
  BERTH_TRY_VOID(sys::atomic_write(r.dir + "/" + monitor::kStopRequestFile, "", 0644, sys::Durability::process_crash));
  // Proxies take it out of rotation and finish its requests before the signal (no request lost).
  drain_before_stop(engine, r, timeout);
  int signal;
  parse_signal_or(r.config.stop_signal, SIGTERM, signal);
  auto global = runtime_options(engine);
  if (r.state == "paused") (void)runtime::resume(global, r.id);
  if (r.state == "restarting" && r.monitor_pid) ::kill(static_cast<pid_t>(*r.monitor_pid), SIGTERM);
  else (void)runtime::kill(global, r.id, signal, false);
  int seconds = timeout.value_or(r.config.stop_timeout.value_or(10));
  if (!wait_monitor_exit(r, int64_t{seconds} * 1000)) {
    (void)runtime::kill(global, r.id, SIGKILL, true);
    if (!wait_monitor_exit(r, 10'000))
      return Error::make(ErrorKind::unavailable, "container '{}' did not stop after SIGKILL", r.name);
  }
  BERTH_TRY(auto fresh, query(engine, "WHERE id = ?1", r.id));
  if (fresh.empty()) return r;
  return refresh(engine, fresh.front(), true);
}

Result<void> kill_container(Engine& engine, const std::string& name_or_id, int signal) {
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  if (r.state != "running" && r.state != "paused")
    return Error::make(ErrorKind::failed_precondition, "container '{}' is not running", r.name);
  return runtime::kill(runtime_options(engine), r.id, signal, false);
}

Result<void> pause_container(Engine& engine, const std::string& name_or_id, bool pause) {
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  BERTH_TRY(auto lock, lock_container(engine, r.id));
  if (pause ? r.state != "running" : r.state != "paused")
    return Error::make(ErrorKind::failed_precondition, "container '{}' is {}, not {}", r.name, r.state,
                       pause ? "running" : "paused");
  auto global = runtime_options(engine);
  BERTH_TRY_VOID(pause ? runtime::pause(global, r.id) : runtime::resume(global, r.id));
  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  BERTH_TRY_VOID(update(engine, pause ? "UPDATE containers SET state = 'paused' WHERE id = ?1"
                                      : "UPDATE containers SET state = 'running' WHERE id = ?1",
                        r.id));
  BERTH_TRY_VOID(record_event(engine.db, "container", pause ? "pause" : "unpause", r.id, event_attributes(r)));
  return tx.commit();
}

Result<int64_t> wait_container(Engine& engine, const std::string& name_or_id) {
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  if (r.running()) {
    ExitWaiter waiter(r);  // the refresh below records the exit
    int fd = ::open((r.dir + "/" + monitor::kLockFile).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      UniqueFd guard(fd);
      while (::flock(fd, LOCK_SH) < 0 && errno == EINTR) {
      }
    }
    BERTH_TRY(auto rows, query(engine, "WHERE id = ?1", r.id));
    if (rows.empty()) return r.exit_code.value_or(0);
    BERTH_TRY(r, refresh(engine, rows.front(), false));
    // --rm containers go once their waiter has read the exit code.
    if (r.config.auto_remove) (void)refresh(engine, r, true);
  }
  return r.exit_code.value_or(0);
}

}  // namespace berth::engine
