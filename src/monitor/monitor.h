// monitor/monitor.h — one container's monitor (conmon's role): starts it through the OCI
// runtime with stdio pipes it owns, writes its output to the log, reaps it (as a subreaper),
// records each exit in exit.json, and restarts it per policy with back-off.
//
// Two hosts run this loop: berth-monitor (one small process per detached container, driving
// berth-runtime as a program) and a foreground `berth run` (driving the runtime library
// in-process and echoing the output to the user's terminal).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "monitor/health.h"
#include "monitor/log_writer.h"
#include "monitor/restart_policy.h"

namespace berth::monitor {

// How the monitor drives the OCI runtime for one start of the container.
class RuntimeDriver {
 public:
  virtual ~RuntimeDriver() = default;
  // Creates the container with the given stdio (-1: /dev/null); returns its pid. A container
  // with a terminal sends its master to `console_socket` (the runtime's --console-socket).
  virtual Result<pid_t> create(int in, int out, int err, const std::string& console_socket) = 0;
  virtual Result<void> start() = 0;
  // `delete --force`, best effort: the container is gone or going.
  virtual void remove() = 0;
  // Starts `args` in the running container with stdout and stderr to `out`; returns the pid of
  // a child of this process that exits with the command's status (health checks).
  virtual Result<pid_t> spawn_exec(const std::vector<std::string>& args, int out) = 0;
};

// `runtime --root ROOT exec ID ARGS...` as a child of this process.
Result<pid_t> spawn_runtime_exec(const std::string& binary, const std::string& root, const std::string& id,
                                 const std::vector<std::string>& args, int out);

struct MonitorOptions {
  std::string id;
  std::string dir;           // where log.jsonl, exit.json, monitor.json go (protocol.h)
  std::string cgroup_path;   // the container's cgroupsPath, to tell an OOM kill ("" = unknown)
  RestartPolicy restart;
  uint64_t log_max_size = 10 << 20;
  unsigned log_max_files = 3;
  int stdin_fd = -1;                          // given to the container as its stdin
  // A container run with a terminal (its master is read as stdout) or an open stdin: clients
  // attach through DIR/attach.sock (protocol.h) to write its input and read its output live.
  bool tty = false, interactive = false;
  int echo_stdout = -1, echo_stderr = -1;     // also copy the output here (foreground run)
  std::string unmount_at_end;                 // the rootfs mount to detach when all is over
  std::vector<std::string> exit_command;      // run (and not waited for) when all is over
  HealthConfig health;
  // Once the container runs, and again after a second without events, give back the pages the
  // monitor touched on the way (monitor/idle_memory.h). berth-monitor sets this: it spends its
  // life waiting, once per container.
  bool release_memory_when_idle = false;
  // Called when the health status changes ("healthy", "unhealthy").
  std::function<void(const std::string&)> on_health_changed;
  // Called once the container runs (pid) and after each exit; errors are logged, not fatal.
  std::function<void(pid_t)> on_started;
  std::function<void()> on_exited;
};

// Runs until the container exits for good (no restart follows) and returns its last exit
// code. SIGTERM/SIGINT/SIGHUP/SIGQUIT to the monitor are passed to the container and end the
// restarts.
Result<int> run_monitor(const MonitorOptions& options, RuntimeDriver& runtime);

// The driver of berth-monitor: runs the runtime binary (berth-runtime) with --root.
class ExecRuntime : public RuntimeDriver {
 public:
  ExecRuntime(std::string binary, std::string root, std::string bundle, std::string id,
              std::string dir)
      : binary_(std::move(binary)), root_(std::move(root)), bundle_(std::move(bundle)),
        id_(std::move(id)), dir_(std::move(dir)) {}
  Result<pid_t> create(int in, int out, int err, const std::string& console_socket) override;
  Result<void> start() override;
  void remove() override;
  Result<pid_t> spawn_exec(const std::vector<std::string>& args, int out) override;

 private:
  Result<int> run(std::vector<std::string> args, int in, int out, int err);
  std::string binary_, root_, bundle_, id_, dir_;
};

}  // namespace berth::monitor
