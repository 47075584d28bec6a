// engine/container_top.h — docker top as dockerd does it: the host's `ps` with the caller's
// arguments, its rows kept to the container's processes (so the columns are ps's own).
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"

namespace berth::engine {

struct ProcessTable {
  std::vector<std::string> titles;             // ps's header: UID PID PPID C STIME TTY TIME CMD
  std::vector<std::vector<std::string>> rows;  // one per process; the last column holds the rest
};

// `ps_args` empty means "-ef". A running container only (failed_precondition otherwise); ps
// output without a PID column, or an argument dockerd refuses ("user=PID"), is invalid_argument.
Result<ProcessTable> container_top(Engine& engine, const std::string& name_or_id,
                                   const std::string& ps_args);

// The rows of ps output whose PID is in `pids` (and the thread lines that follow them); public
// for tests.
Result<ProcessTable> parse_ps_output(const std::string& output, const std::vector<pid_t>& pids);

}  // namespace berth::engine
