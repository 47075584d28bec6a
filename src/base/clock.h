// base/clock.h — time as berth writes it: RFC 3339 in UTC with nanoseconds, Unix nanoseconds
// (berth.db's unit), and a monotonic ms clock for timeouts and back-off.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::clock {

// "2026-11-25T07:35:15.707815358Z"
std::string rfc3339_now();
std::string rfc3339(int64_t unix_ns);
// Accepts "Z" or "±hh:mm" offsets and any number of fraction digits; nullopt if malformed.
std::optional<int64_t> parse_rfc3339(std::string_view text);
int64_t now_ns();
uint64_t monotonic_ms();

}  // namespace berth::clock
