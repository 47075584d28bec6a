// engine/detail/crash_point.h — for tests only: with BERTH_CRASH_AT=<name> in the environment,
// berth dies by SIGKILL at the crash point of that name, exactly as a kill -9 there would end it
// (tests/integration/crash.bats proves every such point is repaired by the next command or by
// `berth system check`). Without the variable a crash point costs one getenv.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace berth::engine::detail {

// Names read "<operation>:<after-what>", e.g. "create:after-files", "rm:after-mark".
inline void crash_point(std::string_view name) {
  if (const char* at = std::getenv("BERTH_CRASH_AT"); at && name == at) ::kill(::getpid(), SIGKILL);
}

}  // namespace berth::engine::detail
