// monitor/monitor.h — one container's monitor (conmon's role): starts it through the OCI
// runtime with stdio pipes it owns, writes its output to the log, reaps it (as a subreaper),
// records each exit in exit.json, and restarts it per policy with back-off.
#pragma once

#include <string>

#include "base/error.h"
#include "monitor/log_writer.h"
#include "monitor/restart_policy.h"

namespace berth::monitor {

struct MonitorOptions {
  std::string runtime;       // the OCI runtime binary (berth-runtime)
  std::string runtime_root;  // its --root
  std::string id;
  std::string bundle;
  std::string dir;           // where log.jsonl, exit.json, monitor.json go (protocol.h)
  std::string cgroup_path;   // the container's cgroupsPath, to tell an OOM kill ("" = unknown)
  RestartPolicy restart;
  uint64_t log_max_size = 10 << 20;
  unsigned log_max_files = 3;
};

// Runs until the container exits for good (no restart follows) and returns its last exit
// code. SIGTERM/SIGINT to the monitor are passed to the container and end the restarts.
Result<int> run_monitor(const MonitorOptions& options);

}  // namespace berth::monitor
