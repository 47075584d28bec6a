// base/clock.h — time as berth writes it: RFC 3339 in UTC with nanoseconds, and a monotonic ms
// clock for timeouts and back-off.
#pragma once

#include <cstdint>
#include <string>

namespace berth::clock {

// "2026-11-25T07:35:15.707815358Z"
std::string rfc3339_now();
uint64_t monotonic_ms();

}  // namespace berth::clock
