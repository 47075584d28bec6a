// build/detail/run_step.h — one RUN: its process through berth-runtime, its output line by line.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "oci/runtime_spec.h"

namespace berth::build::detail {

struct RunRequest {
  std::string runtime;       // berth-runtime
  std::string runtime_root;  // its --root: builds keep their containers apart from the engine's
  std::string id;            // the runtime container's id
  std::string bundle;        // a directory for config.json
  const oci::Spec* spec = nullptr;
  std::function<void(std::string_view line)> on_line;  // stdout and stderr, merged
};

struct RunOutcome {
  int exit_code = 0;
  std::vector<std::string> tail;  // the last lines of output, for the error message
};

// Runs the container to its end. An error only when it could not be run at all; a command that
// fails is an exit code.
Result<RunOutcome> run_container(const RunRequest& request);

// Kills the RUN steps now running and makes every later one fail: for SIGINT/SIGTERM, after
// which the build cleans up as after any failure. Thread-safe (not async-signal-safe).
void cancel_runs();
bool runs_cancelled();

// `berth-runtime --root ROOT delete --force ID` for each container whose id starts with prefix.
void remove_runtime_containers(const std::string& runtime, const std::string& runtime_root, const std::string& prefix);

}  // namespace berth::build::detail
