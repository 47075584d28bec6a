// base/crash_point.h — for tests only: with BERTH_CRASH_AT=<name> in the environment, the process
// dies by SIGKILL at the crash point of that name, exactly as a kill -9 there would end it.
// Without the variable a crash point costs one getenv.
//
// Names read "<operation>:<after-what>" ("create:after-files", "pull:after-blobs"), one literal
// per call so that `scripts/crash-points` finds every point in the sources:
// tests/integration/crash_walk.bats kills berth at each one it lists and proves the next command
// and `berth system check` leave nothing behind; a new point is walked without a new test, and
// one whose operation the walk does not know fails it.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace berth {

inline void crash_point(std::string_view name) {
  if (const char* at = std::getenv("BERTH_CRASH_AT"); at && name == at) ::kill(::getpid(), SIGKILL);
}

}  // namespace berth
