// proxy/detail/core.h — the server's state, shared by its parts (http_session, tcp_session,
// health, admin). Everything here is owned and touched by the one event-loop thread only.
#pragma once

// clang-format off: first, Boost 1.74's asio/awaitable.hpp uses std::exchange without it.
#include <utility>
// clang-format on

#include <array>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/balance.h"
#include "proxy/match.h"
#include "base/rate_limit.h"
#include "proxy/server.h"

namespace berth::proxy::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
// Sockets on the loop's own executor type rather than asio's type-erased default: half the
// size, smaller pending operations, no indirection per operation. Idle connections are most of
// a proxy's connections, and each holds a socket and a pending wait.
using TcpSocket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
using TcpAcceptor = asio::basic_socket_acceptor<tcp, asio::io_context::executor_type>;
using error_code = boost::system::error_code;

// Milliseconds on the loop's clock (monotonic), refreshed by the ticker and after each wait.
int64_t now_ms();

// Response times in log-spaced buckets (about 19% apart, 50 µs to ~100 s).
class Histogram {
 public:
  static constexpr int kBuckets = 80;
  void add(int64_t micros);
  int64_t percentile(double p) const;  // microseconds; 0 if empty
  uint64_t count() const { return count_; }

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
};

struct Counters {
  uint64_t requests = 0;
  std::array<uint64_t, 6> status{};  // [0] other, [1..5] 1xx..5xx
  uint64_t connect_errors = 0;
  uint64_t response_errors = 0;  // backend closed, reset or timed out before answering
  uint64_t retries = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  // Requests per second over the last second (computed by the ticker).
  uint64_t last_requests = 0;
  double rate = 0;
  void count_status(int code) { status[(code >= 100 && code < 600) ? code / 100 : 0]++; }
};

struct BackendConn;

struct BackendState {
  std::string id, name, address;
  tcp::endpoint endpoint;
  bool address_ok = false;
  int weight = 1;
  bool source_healthy = true;
  bool table_draining = false;
  bool drain_requested = false;  // POST /drain
  bool in_table = true;
  // Active check view (starts up: a new backend is served at once unless it has a check, then
  // the first check decides).
  bool check_up = true;
  int check_successes = 0, check_failures = 0;
  std::string last_check = "none";
  int64_t last_check_ms = 0;
  bool checker_running = false;
  // The route's check as the latest table has it: the checker reads it before each round, so
  // a changed interval, path or threshold applies at once; `none` ends the checker.
  HealthCheck check;
  // Passive: out until this time after a refused or reset connection.
  int64_t down_until_ms = 0;
  std::string last_error;

  uint64_t in_flight = 0;  // requests being served, TCP connections and tunnels open
  uint64_t max_in_flight = 0;
  Counters counters;
  Histogram times;
  std::vector<std::unique_ptr<BackendConn>> idle;  // pooled keep-alive connections
  std::vector<std::function<void()>> on_idle;      // drain waiters, run when in_flight hits 0

  bool draining() const { return table_draining || drain_requested; }
  bool up(int64_t now) const {
    return in_table && source_healthy && check_up && now >= down_until_ms && address_ok;
  }
  bool eligible(int64_t now) const { return up(now) && !draining(); }
  const char* state(int64_t now) const;
  void begin() {
    if (++in_flight > max_in_flight) max_in_flight = in_flight;
  }
  void end();
};

struct BackendConn {
  explicit BackendConn(asio::io_context::executor_type ex) : socket(ex) {}
  TcpSocket socket;
  std::shared_ptr<BackendState> backend;
  int64_t idle_since = 0;
};

// Per service, kept across tables.
struct RouteStats {
  Counters counters;
  uint64_t no_backend = 0;  // 503s sent because no backend was up
  Histogram times;
};

struct LiveRoute {
  const Route* route = nullptr;
  std::vector<std::shared_ptr<BackendState>> backends;
  std::shared_ptr<RouteStats> stats;
  Balancer balancer;
  std::vector<PickCandidate> scratch;
};

// A published table as the server serves it. Sessions hold a shared_ptr for a request's time.
struct LiveTable {
  RouteTable table;
  std::unique_ptr<RouteMatcher> matcher;
  std::vector<LiveRoute> routes;  // parallel to table.routes
  LiveRoute* live(const Route* r) { return &routes[static_cast<size_t>(r - table.routes.data())]; }
};

struct FrontendStats {
  std::string name, address;
  bool tls = false;
  uint64_t connections = 0, current = 0, max_current = 0;
  Counters counters;
};

// A timeout: the ticker calls `fire` once `at_ms` has passed. Sessions arm and disarm one as
// they move from phase to phase (cheap: two stores, no timer per operation).
struct Deadline {
  int64_t at_ms = 0;  // 0: disarmed
  std::function<void()> fire;
  Deadline* prev = nullptr;
  Deadline* next = nullptr;
};

// How long a pooled backend connection is taken on trust (Core::take_idle).
constexpr int64_t kTrustPooledMs = 1000;

class Core {
 public:
  Core(asio::io_context& io, const ServeOptions& options);

  asio::io_context& io;
  const ServeOptions& options;
  std::shared_ptr<LiveTable> table;
  std::unordered_map<std::string, std::shared_ptr<BackendState>> backends;  // by id
  std::map<std::string, std::shared_ptr<RouteStats>> route_stats;           // by service
  std::vector<std::unique_ptr<FrontendStats>> frontends;
  std::unique_ptr<asio::ssl::context> default_tls;
  std::vector<std::unique_ptr<asio::ssl::context>> tls_contexts;
  int64_t started_ms = 0;
  uint64_t total_connections = 0;
  uint64_t open_connections = 0;                              // client connections, all listeners
  std::unordered_map<std::string, uint32_t> open_per_client;  // by client IP
  ClientRateLimit rate_limit;                                  // requests a second, by client IP

  // Counts a client connection against options.max_connections_per_client: false when its
  // address holds its share already. Every true is paired with one release_client.
  bool claim_client(const std::string& ip);
  void release_client(const std::string& ip);

  // Installs a new table: backends keep their state (by id), connections stay open.
  void install(RouteTable table);

  // The next backend for a request on `route`, skipping `tried`, or nullptr if none is up.
  // `sticky` (may be empty) is the request's sticky cookie value.
  std::shared_ptr<BackendState> pick(LiveRoute& route, std::string_view sticky,
                                     const std::vector<BackendState*>& tried);

  // Passive health: a refused/reset connection takes the backend out for passive_down_ms.
  void mark_failed(BackendState& backend, std::string_view why);

  // A pooled connection to `backend`, or nullptr. With `trust_recent`, one pooled less than
  // kTrustPooledMs ago is not checked for a close by the backend (the caller retries).
  std::unique_ptr<BackendConn> take_idle(BackendState& backend, bool trust_recent);
  void give_back(std::unique_ptr<BackendConn> conn);

  void arm(Deadline& d, int64_t ms_from_now);
  void disarm(Deadline& d);
  void tick();

  void access_log(std::string_view line);
  void flush_access_log();

  // Starts the active checker of a backend if its route has one (health.cc).
  void ensure_checker(const std::shared_ptr<BackendState>& backend, const HealthCheck& check);

 private:
  Deadline head_;  // sentinel of the armed list
  std::string log_buffer_;
  int log_fd_ = -1;
  bool log_own_fd_ = false;
  int64_t last_rate_ms_ = 0;

 public:
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;
  Result<void> open_access_log();
};

// Parts of the server, each in its own file.
void start_http_listener(Core& core, TcpAcceptor& acceptor, FrontendStats& stats, bool tls);
void start_tcp_listener(Core& core, TcpAcceptor& acceptor, FrontendStats& stats);
Result<void> start_admin(Core& core, std::vector<std::unique_ptr<void, void (*)(void*)>>& keep);
Result<void> load_tls(Core& core);

// JSON views used by the control socket and the stats listener (admin.cc).
std::string routes_json(Core& core);
std::string stats_json(Core& core);
std::string stats_html(Core& core);
std::string metrics_text(Core& core);

// "HTTP/1.1 <code> <reason>\r\n...": a complete small response the proxy itself sends.
std::string simple_response(int code, std::string_view reason, std::string_view body, bool close,
                            std::string_view extra_headers = {});

}  // namespace berth::proxy::detail
