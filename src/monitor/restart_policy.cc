#include "monitor/restart_policy.h"

#include <cstdlib>
#include <string>

namespace berth::monitor {

Result<RestartPolicy> RestartPolicy::parse(std::string_view text) {
  RestartPolicy p;
  std::string_view name = text.substr(0, text.find(':'));
  if (name == "no" || name.empty()) p.kind = Kind::no;
  else if (name == "always") p.kind = Kind::always;
  else if (name == "unless-stopped") p.kind = Kind::unless_stopped;
  else if (name == "on-failure") p.kind = Kind::on_failure;
  else
    return Error::make(ErrorKind::invalid_argument,
                       "restart policy '{}': use no, on-failure[:N], always or unless-stopped", text);
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    if (p.kind != Kind::on_failure)
      return Error::make(ErrorKind::invalid_argument, "restart policy '{}': only on-failure takes a count", text);
    std::string count(text.substr(colon + 1));
    char* end = nullptr;
    long n = std::strtol(count.c_str(), &end, 10);
    if (count.empty() || *end != '\0' || n < 0)
      return Error::make(ErrorKind::invalid_argument, "restart policy '{}': '{}' is not a count", text, count);
    p.max_retries = static_cast<unsigned>(n);
  }
  return p;
}

bool RestartPolicy::should_restart(int exit_code, unsigned restarts, bool stop_requested) const {
  if (stop_requested) return false;
  switch (kind) {
    case Kind::no: return false;
    case Kind::always:
    case Kind::unless_stopped: return true;
    case Kind::on_failure: return exit_code != 0 && (max_retries == 0 || restarts < max_retries);
  }
  return false;
}

uint64_t restart_delay_ms(unsigned consecutive_restarts) {
  uint64_t delay = 100;
  for (unsigned i = 0; i < consecutive_restarts && delay < 60000; ++i) delay *= 2;
  return delay < 60000 ? delay : 60000;
}

bool resets_backoff(uint64_t ran_for_ms) { return ran_for_ms >= 10000; }

}  // namespace berth::monitor
