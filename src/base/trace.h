// base/trace.h — where one command's time goes: named phases of the start path, printed at
// exit when BERTH_TRACE is set (docs/containers.md, "Where the time goes").
//   BERTH_TRACE=1      a table on stderr
//   BERTH_TRACE=/path  one JSON line per command appended to that file (bench/run.sh reads it)
// Off, a mark costs one branch. Not thread-safe: marks come from the command's main thread.
#pragma once

#include <string_view>

namespace berth::trace {

bool enabled();
// Ends the phase that started at the previous mark (or at process start) and names it.
void mark(std::string_view phase);
// Writes the phases (once; later calls do nothing). Called at exit by the first mark's atexit.
void report();

}  // namespace berth::trace
