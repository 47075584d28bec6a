// project/detail/crash_point.h — for tests only, as engine/detail/crash_point.h: with
// BERTH_CRASH_AT=<name> in the environment, berth dies by SIGKILL at that point of `compose up`
// (tests/e2e/compose.bats shows the next `up` converges from each).
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace berth::project::detail {

inline void crash_point(std::string_view name) {
  if (const char* at = std::getenv("BERTH_CRASH_AT"); at && name == at) ::kill(::getpid(), SIGKILL);
}

}  // namespace berth::project::detail
