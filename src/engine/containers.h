// engine/containers.h — containers as users see them: create, start, stop, kill, rm, ps,
// inspect, wait, logs, exec, pause, rename. No daemon: each call reads the truth from berth.db
// and from what each container's monitor left on disk (monitor/protocol.h), and writes back
// what it learned.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "engine/container_config.h"
#include "engine/engine.h"

namespace berth::engine {

struct ContainerRecord {
  std::string id, name, image_id, image_ref;
  ContainerConfig config;
  std::string state;  // created, running, paused, restarting, exited, removing, dead
  std::optional<int64_t> pid, monitor_pid, exit_code;
  bool oom_killed = false;
  int64_t restart_count = 0;
  int64_t created = 0;
  std::optional<int64_t> started, finished;
  std::string error;  // why the last start failed, if it did
  std::string health;  // starting, healthy, unhealthy; empty without a health check or not running

  bool running() const { return state == "running" || state == "paused" || state == "restarting"; }
  // The bundle: config.json, etc/, rootfs/ (the mount point), the monitor's files and the log.
  // Layout::container(id), or Layout::run_container(id) for a --rm container.
  std::string dir;
  std::string layer_dir;  // upper/ and work/ of the overlay: Layout::container(id), on disk
};

struct CreateResult {
  ContainerRecord container;
  std::vector<std::string> warnings;
};

// Resolves the image, unpacks its layers, prepares the bundle and records the container
// (state created). `name` empty → a generated one. Bad input changes nothing.
Result<CreateResult> create_container(Engine& engine, const ContainerConfig& config, std::string name);

// A container by full id, unique id prefix, or name; its state brought up to date first.
Result<ContainerRecord> find_container(Engine& engine, std::string_view name_or_id);
// All containers (newest first), each brought up to date.
Result<std::vector<ContainerRecord>> list_containers(Engine& engine);

// Starts a created or exited container under its own berth-monitor and returns once it runs
// (or failed to start, with the runtime's reason).
Result<ContainerRecord> start_container(Engine& engine, const std::string& id);

// Runs the container with this process as its monitor: output goes to the log and to the
// given fds; stdin_fd (or -1) is the container's stdin; with a terminal, the runtime relays it.
// Returns the exit code. With `remove` (--rm) a container that ran is removed once it exited
// (its exit and its removal recorded together); one that never started is left to the caller.
struct ForegroundOptions {
  int stdin_fd = -1;
  int stdout_fd = 1, stderr_fd = 2;
  bool remove = false;
};
Result<int> run_foreground(Engine& engine, const std::string& id, const ForegroundOptions& options);

// SIGTERM (or the stop signal), then SIGKILL after `timeout` seconds (nullopt: the container's
// --stop-timeout, or 10). Stopping a stopped container succeeds.
Result<ContainerRecord> stop_container(Engine& engine, const std::string& id, std::optional<int> timeout);
Result<void> kill_container(Engine& engine, const std::string& id, int signal);
Result<void> pause_container(Engine& engine, const std::string& id, bool pause);
// Refuses a running container unless `force` (then kills it). `volumes` also removes its
// anonymous volumes.
Result<void> remove_container(Engine& engine, const std::string& id, bool force, bool volumes);
Result<void> rename_container(Engine& engine, const std::string& id, const std::string& new_name);
// Blocks until the container is not running; returns its exit code.
Result<int64_t> wait_container(Engine& engine, const std::string& id);

// Finishes what a dead monitor left behind: records the exit, unmounts the rootfs, and for
// --rm containers removes them. Called by every reader; also `berth container cleanup`.
Result<ContainerRecord> refresh_container(Engine& engine, ContainerRecord record);

struct ExecRequest {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string user, workdir;
  bool tty = false, detach = false, interactive = false;
};
Result<int> exec_in_container(Engine& engine, const std::string& id, const ExecRequest& request);

// An exec as a child of this process (`berth exec` with the engine's root and run root), for
// servers that relay its streams: fds 0/1/2 are `io`'s (-1: /dev/null), it runs in a session of
// its own, and with `controlling_terminal` its stdin (a pty slave) becomes its controlling
// terminal, so a resize of the master reaches it as SIGWINCH. It exits with the command's status
// (126/127 when it cannot be run, 125 when the exec fails first); the caller reaps it.
struct ExecIo {
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
  bool controlling_terminal = false;
};
Result<pid_t> spawn_exec(const Engine& engine, const std::string& id, const ExecRequest& request,
                         const ExecIo& io);
// The command line spawn_exec runs.
std::vector<std::string> exec_argv(const Layout& layout, const Programs& programs,
                                   const std::string& id, const ExecRequest& request);

struct LogOptions {
  bool follow = false, timestamps = false;
  std::optional<int64_t> tail;   // last N lines
  std::optional<int64_t> since, until;  // ns
  int reader_fd = -1;  // following: a socket whose hang-up ends the follow (its reader left)
};
// Writes the log's records to out/err (by stream) and, following, keeps going until the
// container stops.
Result<void> read_logs(Engine& engine, const std::string& id, const LogOptions& options, int out, int err);
// The same, each record's text (with its timestamp when asked) handed to `sink`, which returns
// false to stop reading (its reader went away).
using LogSink = std::function<bool(bool is_stderr, std::string_view text)>;
Result<void> read_logs(Engine& engine, const std::string& id, const LogOptions& options, const LogSink& sink);

// Processes of a running container: pid, user, time, command, as `top` shows them.
struct ProcessRow {
  pid_t pid;
  std::string user, time, command;
};
Result<std::vector<ProcessRow>> container_processes(Engine& engine, const std::string& id);

struct Stats {
  std::string id, name;
  double cpu_percent = 0;
  int64_t memory = 0, memory_limit = 0;
  int64_t pids = 0;
};
Result<Stats> container_stats(Engine& engine, const std::string& id);

// One reading of a container's cgroup counters, v1 or v2 (zeros when it is not running), for
// Docker's stats API, whose clients compute rates from two readings.
struct CgroupCounters {
  bool cgroup_v2 = false;
  int64_t cpu_ns = 0;                       // CPU time used, all its processes
  int64_t memory = 0, memory_limit = 0;     // bytes; the limit is the host's memory when none
  int64_t inactive_file = -1;               // page cache that can be reclaimed (-1: unknown)
  int64_t pids = 0, pids_limit = -1;        // -1: no limit
};
Result<CgroupCounters> container_counters(Engine& engine, const std::string& id);

// What a container changed in its root file system, as `docker diff` lists it: Kind 0 changed
// (also in the image), 1 added, 2 deleted; sorted by path.
struct Change {
  std::string path;  // "/etc/motd"
  int kind = 0;
};
Result<std::vector<Change>> container_changes(Engine& engine, const std::string& id);
// The same for a writable layer `upper` over `lowers` (overlayfs: a 0/0 character device is a
// deletion).
std::vector<Change> layer_changes(const std::string& upper, const std::vector<std::string>& lowers);

// `cp`: "CONTAINER:PATH" on either side. Paths in the container cannot escape its root.
Result<void> copy_files(Engine& engine, const std::string& source, const std::string& destination);

// Runs `work` with the host path of `path` inside the container's root file system, which is
// mounted for the call when the container is not running (and the container locked meanwhile).
// The path is resolved inside the root (symlinks too): it cannot escape it. Volumes and bind
// mounts of a running container are not seen there.
Result<void> with_container_path(Engine& engine, const std::string& id, const std::string& path,
                                 const std::function<Result<void>(const std::string& host_path)>& work);

// Docker's `inspect` document for a container.
std::string inspect_json(Engine& engine, const ContainerRecord& record);

// The name rules: [a-zA-Z0-9][a-zA-Z0-9_.-]*.
Result<void> validate_container_name(std::string_view name);

// The exit status for a process the runtime could not exec, from its message: 127 when the
// file does not exist, 126 when it cannot be run (as docker and podman exit).
int exec_failure_status(std::string_view error);

}  // namespace berth::engine
