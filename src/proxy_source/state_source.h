// proxy_source/state_source.h — the proxy's view of berth's own state: a proxy::BackendSource
// that follows the containers (their labels, environment, networks, health, running or being
// stopped) and publishes the routing table their berth.proxy.* labels and VIRTUAL_HOST ask for
// (proxy/labels.h). Layer 4: it reads the engine, so it cannot live in proxy/ (docs/proxy.md,
// "Routes from containers").
//
// How it follows: every change it cares about is a write to berth.db (start, die, destroy, a
// health status the monitor reports, network wiring) or a file in a running container's
// directory (the monitor's health.json, the engine's stop request). inotify on the root
// directory (berth.db-wal) and on each running container's directory wakes it; a short poll
// is the safety net. A wake-up is coalesced for a few milliseconds, the table rebuilt, and
// published only when it differs from the last one.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"
#include "proxy/labels.h"
#include "proxy/routes.h"

namespace berth::proxy_source {

struct StateSourceOptions {
  engine::Layout layout;
  engine::Programs programs;
  std::string project;   // only this compose project's containers; "" every container
  int poll_ms = 1000;    // the safety net's period
  int coalesce_ms = 5;   // after a wake-up, wait this long for the rest of a burst
  // Called with each new table's problems and conflicts (when they change), from run's thread.
  std::function<void(const proxy::LabelRoutes&)> on_problems;
};

// Every container (of the project, if given) as the label parser sees it.
Result<std::vector<proxy::ContainerView>> container_views(engine::Engine& engine, const std::string& project);

// The routes berth's containers ask for now, with the problems and conflicts of their labels.
Result<proxy::LabelRoutes> routes_from_state(engine::Engine& engine, const std::string& project);

// A one-line-per-field rendering of a table, equal for equal tables (generation left out).
std::string table_fingerprint(const proxy::RouteTable& table);

class StateSource : public proxy::BackendSource {
 public:
  explicit StateSource(StateSourceOptions options) : options_(std::move(options)) {}
  // Opens its own engine handle (one thread owns it); returns on stop or a fatal error (berth.db
  // cannot be opened, inotify fails). A failed rebuild is logged and retried at the next poll.
  Result<void> run(const std::function<void(proxy::RouteTable)>& publish, std::stop_token stop) override;

 private:
  StateSourceOptions options_;
};

}  // namespace berth::proxy_source
