// base/min_rate.h — a stream's minimum rate, checked over windows: how berth's HTTP servers tell
// a slow client from a stalled one that drips a byte now and then.
#pragma once

#include <chrono>
#include <cstdint>

namespace berth {

// Each window must bring at least `bytes_per_second` times its length. An idle timeout alone
// counts any byte as progress, so a byte a minute would hold a connection (and, in a proxy, a
// backend's) for ever; a window rather than a moving average lets a client pause, as real ones
// do, as long as the window's total keeps up.
class MinimumRate {
 public:
  using Clock = std::chrono::steady_clock;

  // bytes_per_second 0: no minimum.
  MinimumRate(uint64_t bytes_per_second, std::chrono::milliseconds window)
      : rate_(bytes_per_second), window_(window) {}

  // A stream starts (a request body): the first window opens now.
  void start(Clock::time_point now) {
    window_start_ = now;
    window_bytes_ = 0;
  }
  void add(uint64_t bytes) { window_bytes_ += bytes; }
  // Time spent on something other than waiting for the stream (a proxy writing to a slow
  // backend, which is not reading the client meanwhile) does not count against it.
  void exclude(Clock::duration spent) { window_start_ += spent; }

  // True when a window that has ended brought too little. One that brought enough opens the next.
  bool too_slow(Clock::time_point now) {
    if (rate_ == 0 || now - window_start_ < window_) return false;
    const double seconds = std::chrono::duration<double>(now - window_start_).count();
    if (static_cast<double>(window_bytes_) < static_cast<double>(rate_) * seconds) return true;
    start(now);
    return false;
  }

 private:
  uint64_t rate_;
  std::chrono::milliseconds window_;
  Clock::time_point window_start_ = Clock::now();
  uint64_t window_bytes_ = 0;
};

}  // namespace berth
