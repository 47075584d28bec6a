// project/detail/crash_point.h — crash points of `compose up`/`down` (base/crash_point.h;
// tests/e2e/compose.bats shows the next `up` converges from each).
#pragma once

#include "base/crash_point.h"

namespace berth::project::detail {

using berth::crash_point;

}  // namespace berth::project::detail
