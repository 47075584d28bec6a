// monitor/health.h — a container's health check (Docker's HEALTHCHECK): run a command in the
// container every interval; `retries` failures in a row make it unhealthy, one success healthy.
// The monitor runs the checks and writes health.json (protocol.h); the engine reads it.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace berth::monitor {

struct HealthConfig {
  std::vector<std::string> command;  // argv run in the container; empty: no health check
  uint64_t interval_ms = 30'000, timeout_ms = 30'000, start_period_ms = 0;
  unsigned retries = 3;
  bool enabled() const { return !command.empty(); }
};

struct HealthProbe {
  std::string start, end;  // RFC 3339
  int exit_code = 0;
  std::string output;      // the first 4 KiB
};

// The state machine: starting → healthy / unhealthy, with Docker's rules for the start period
// (failures during it do not count).
class HealthState {
 public:
  explicit HealthState(const HealthConfig& config) : config_(config) {}
  // Records one probe; `since_start_ms` is the container's run time when the probe started.
  // Returns true when the status changed.
  bool record(HealthProbe probe, uint64_t since_start_ms);
  const std::string& status() const { return status_; }
  unsigned failing_streak() const { return failing_; }
  // {"Status":..,"FailingStreak":..,"Log":[{"Start","End","ExitCode","Output"}...]} (last 5).
  std::string to_json() const;

 private:
  HealthConfig config_;
  std::string status_ = "starting";
  unsigned failing_ = 0;
  std::deque<HealthProbe> log_;
};

}  // namespace berth::monitor
