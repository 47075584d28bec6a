// proxy/server.h — berth proxy's data plane: listeners (HTTP, TLS, TCP), the routing table it is
// handed by a BackendSource, balancing, health checks, retries, draining, the control socket and
// the stats listener. One event loop on the calling thread (Asio); the source runs on a thread of
// its own and hands tables over through a post to the loop. docs/proxy.md is the user's guide.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "proxy/routes.h"

namespace berth::proxy {

// One --listen: "[NAME=]ADDR[,tls]". NAME is the entrypoint routes name; it defaults to "http"
// for a plain listener and "https" for a TLS one.
struct ListenSpec {
  std::string name;
  std::string address;  // "0.0.0.0:80", "127.0.0.1:8080", "[::]:443", ":80"
  bool tls = false;
};
Result<ListenSpec> parse_listen(std::string_view text);

struct TlsCertificate {
  std::string cert_file;  // PEM, leaf first then chain
  std::string key_file;   // PEM
};

struct ServeOptions {
  std::vector<ListenSpec> listeners;
  std::vector<TlsCertificate>
      certificates;           // SNI picks by the certificates' names; first is default
  std::string stats_address;  // empty: none. Serves /, /stats.json, /metrics
  std::string control_path;   // empty: none. Unix socket, HTTP (docs/proxy.md)
  std::string access_log;     // empty: none; "-": stdout; else a file (appended)
  bool access_log_json = false;

  // Limits. A header larger than max_header_bytes gets 431; a body larger than max_body_bytes
  // (0: unlimited) gets 413.
  uint32_t max_header_bytes = 16 * 1024;
  uint64_t max_body_bytes = 0;
  // Open client connections at most (all listeners together); more wait in the listen backlog
  // until one closes. 0: no limit.
  uint32_t max_connections = 10000;
  // Open connections from one client IP address at most; more get 503 (plain HTTP) or are closed,
  // so one client cannot take every slot. 0: no limit.
  uint32_t max_connections_per_client = 256;

  // Timeouts, in milliseconds.
  int connect_timeout_ms = 3000;    // backend connect; then the next backend is tried
  int header_timeout_ms = 10000;    // a request's header must arrive within this: else 408
  int idle_timeout_ms = 60000;      // keep-alive wait for a client's next request, and TCP idle
  int response_timeout_ms = 60000;  // backend's response header: else 504
  int tunnel_timeout_ms = 3600000;  // idle WebSocket/Upgrade tunnel
  // A request body must bring this many bytes a second over each window of header_timeout_ms,
  // else 408 and the connection closes. 0: no minimum.
  uint64_t min_body_rate = 256;
  // Requests a second from one client IP address at most, with bursts of rate_limit_burst (0:
  // one second's worth); more get 429 with Retry-After. 0: no limit (the default: clients behind
  // one NAT share an address).
  uint32_t rate_limit_per_client = 0;
  uint32_t rate_limit_burst = 0;

  int retries = 2;             // more backends tried after a failed connect or a closed backend
  int passive_down_ms = 2000;  // a backend that refused or reset is out for this long
  int drain_poll_ms = 10;

  // Called on the loop thread once every listener is bound (tests, readiness messages).
  std::function<void()> on_ready;
};

// Binds every listener (a clear error, naming the address, if one is in use), runs the source on
// a thread of its own and serves until SIGINT or SIGTERM, or until the source fails.
Result<void> serve(const ServeOptions& options, BackendSource& source);

}  // namespace berth::proxy
