// engine/detail/crash_point.h — the engine's crash points (base/crash_point.h: BERTH_CRASH_AT,
// tests/integration/crash.bats and crash_walk.bats).
#pragma once

#include "base/crash_point.h"

namespace berth::engine::detail {

using berth::crash_point;

}  // namespace berth::engine::detail
