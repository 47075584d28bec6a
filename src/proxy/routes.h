// proxy/routes.h — the routing table berth proxy serves: which requests (or TCP connections) a
// route takes, and the backends it sends them to. The contract between the two halves of the
// proxy: a BackendSource builds RouteTables (from berth's containers, or from a static file), the
// server (proxy/server.h) serves whichever table it was handed last. Plain data, no I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"

namespace berth::proxy {

enum class Mode { http, tcp };
enum class Balance { round_robin, least_connections };

struct Backend {
  std::string id;       // stable key across tables: a container id, or "host:port" from a file
  std::string name;     // shown in stats, logs and error pages: "shop-web-2"
  std::string address;  // "10.88.0.5:8080" (IPv4 or [IPv6]:port)
  int weight = 1;       // >= 1; weighted round robin
  // The source's view: false while the container's own health check is starting or failing.
  // The proxy's active and passive checks can take a backend out further, never put it back in
  // while this is false.
  bool healthy = true;
  // Being stopped or removed: no new requests or connections, in-flight ones finish.
  bool draining = false;
};

struct HealthCheck {
  enum class Kind { none, tcp, http } kind = Kind::none;
  std::string path = "/";  // http: GET this path; 2xx and 3xx are healthy
  int interval_ms = 2000;
  int timeout_ms = 1000;
  int rise = 2;  // consecutive successes to come back
  int fall = 3;  // consecutive failures to go out
};

struct RouteMatch {
  // Exact ("shop.example") or leading wildcard ("*.example", one or more labels). Compared
  // case-insensitively, without the port. Empty: any host.
  std::vector<std::string> hosts;
  std::string path_prefix;  // "/api" matches "/api" and "/api/x", not "/apix"; empty: any
  std::string path_glob;    // VIRTUAL_HOST's "*/styles/*.*" form: `*` matches any run of chars
  std::vector<std::string> methods;                          // empty: any
  std::vector<std::pair<std::string, std::string>> headers;  // name (any case), exact value
};

struct Route {
  std::string service;     // what a 503 page and the stats name: "shop_web"
  std::string entrypoint;  // the listener it is served on (its --listen name); empty: every one
  Mode mode = Mode::http;
  RouteMatch match;  // http only; a tcp route takes every connection of its entrypoint
  // Orders overlapping routes before specificity does (VIRTUAL_HOST_WEIGHT): higher first.
  int priority = 0;
  bool tls = false;             // served only on TLS listeners
  bool redirect_https = false;  // plain-HTTP requests get a 301 to https://
  Balance balance = Balance::round_robin;
  std::string sticky_cookie;  // non-empty: sessions stick to a backend by this cookie
  HealthCheck check;
  std::vector<Backend> backends;
};

// Every route the proxy serves. The server picks a route for a request with match_route
// (proxy/match.h): priority, then the most specific match (exact host over wildcard over none,
// longer path prefix, then glob, then methods, then headers), then the order here.
struct RouteTable {
  std::vector<Route> routes;
  uint64_t generation = 0;  // increases with every table a source hands out
};

// Where routing tables come from. A source calls `publish` from a thread of its own with the
// whole table, once at start and again after each change (it may coalesce changes, but must
// publish within 100 ms of one); run returns when `stop` is requested or on a fatal error.
class BackendSource {
 public:
  virtual ~BackendSource() = default;
  virtual Result<void> run(const std::function<void(RouteTable)>& publish,
                           std::stop_token stop) = 0;
};

}  // namespace berth::proxy
