// base/backoff.h — sleeps for a polling loop that start short and double up to a ceiling: the
// poll notices a quick change (a short-lived container's exit) at once and costs little while
// the wait lasts.
#pragma once

#include <unistd.h>

#include <algorithm>

namespace berth {

class Backoff {
 public:
  Backoff(useconds_t first_us, useconds_t ceiling_us) : first_(first_us), ceiling_(ceiling_us), next_(first_us) {}
  void sleep() {
    ::usleep(next_);
    next_ = std::min(next_ * 2, ceiling_);
  }
  // Something happened: the next waits are short again.
  void reset() { next_ = first_; }

 private:
  useconds_t first_, ceiling_, next_;
};

}  // namespace berth
