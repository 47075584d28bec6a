#include "monitor/health.h"

#include <fmt/format.h>

#include "monitor/detail/json_text.h"

namespace berth::monitor {
namespace {

std::string quoted(std::string_view text) {
  std::string out = "\"";
  detail::append_json_escaped(out, text);
  return out + "\"";
}

}  // namespace

bool HealthState::record(HealthProbe probe, uint64_t since_start_ms) {
  std::string before = status_;
  if (probe.output.size() > 4096) probe.output.resize(4096);
  bool ok = probe.exit_code == 0;
  log_.push_back(std::move(probe));
  if (log_.size() > 5) log_.pop_front();
  if (ok) {
    failing_ = 0;
    status_ = "healthy";
  } else if (since_start_ms >= config_.start_period_ms || status_ != "starting") {
    if (++failing_ >= config_.retries) status_ = "unhealthy";
  }
  return status_ != before;
}

std::string HealthState::to_json() const {
  std::string log;
  for (const auto& p : log_)
    log += fmt::format("{}{{\"Start\":{},\"End\":{},\"ExitCode\":{},\"Output\":{}}}", log.empty() ? "" : ",",
                       quoted(p.start), quoted(p.end), p.exit_code, quoted(p.output));
  return fmt::format("{{\"Status\":{},\"FailingStreak\":{},\"Log\":[{}]}}\n", quoted(status_), failing_, log);
}

}  // namespace berth::monitor
