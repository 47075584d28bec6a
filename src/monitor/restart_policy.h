// monitor/restart_policy.h — Docker's restart policies and the back-off between restarts.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/error.h"

namespace berth::monitor {

struct RestartPolicy {
  enum class Kind { no, on_failure, always, unless_stopped } kind = Kind::no;
  unsigned max_retries = 0;  // on-failure:N; 0 = unlimited

  // "no", "on-failure", "on-failure:3", "always", "unless-stopped".
  static Result<RestartPolicy> parse(std::string_view text);

  // Whether to start again after an exit with `exit_code`, having restarted `restarts` times.
  // A stop the user asked for never restarts.
  bool should_restart(int exit_code, unsigned restarts, bool stop_requested) const;
};

// Docker's back-off: 100 ms doubling per consecutive restart, at most 60 s; a container that
// ran for 10 s or more before exiting starts again from 100 ms.
uint64_t restart_delay_ms(unsigned consecutive_restarts);
bool resets_backoff(uint64_t ran_for_ms);

}  // namespace berth::monitor
