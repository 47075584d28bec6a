// The event loop: listeners, the table hand-over from the source's thread, the ticker that
// fires deadlines, computes rates and flushes the access log.
#include "proxy/server.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <thread>

#include "base/log.h"
#include "proxy/detail/buffer_pool.h"
#include "proxy/detail/core.h"

namespace berth::proxy {

namespace detail {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Histogram::add(int64_t micros) {
  // Bucket i covers [50 µs * 1.19^i, 50 µs * 1.19^(i+1)).
  double v = static_cast<double>(micros < 50 ? 50 : micros) / 50.0;
  int i = 0;
  while (v >= 1.19 && i < kBuckets - 1) {
    v /= 1.19;
    ++i;
  }
  buckets_[static_cast<size_t>(i)]++;
  count_++;
}

int64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  const auto want = static_cast<uint64_t>(static_cast<double>(count_) * p);
  uint64_t seen = 0;
  double upper = 50.0 * 1.19;
  for (int i = 0; i < kBuckets; ++i, upper *= 1.19) {
    seen += buckets_[static_cast<size_t>(i)];
    if (seen > want) return static_cast<int64_t>(upper);
  }
  return static_cast<int64_t>(upper);
}

const char* BackendState::state(int64_t now) const {
  if (!in_table) return "removed";
  if (!address_ok) return "bad-address";
  if (draining()) return "draining";
  if (!source_healthy) return "starting";
  if (!check_up) return "down";
  if (now < down_until_ms) return "down-passive";
  return "up";
}

void BackendState::end() {
  if (in_flight > 0) --in_flight;
  if (in_flight == 0 && !on_idle.empty()) {
    auto waiters = std::move(on_idle);
    on_idle.clear();
    for (auto& w : waiters) w();
  }
}

Core::Core(asio::io_context& io_context, const ServeOptions& opts)
    : io(io_context),
      options(opts),
      table(std::make_shared<LiveTable>()),
      rate_limit(opts.rate_limit_per_client, opts.rate_limit_burst) {
  table->matcher = std::make_unique<RouteMatcher>(table->table);
  head_.next = head_.prev = &head_;
  started_ms = now_ms();
}

Core::~Core() {
  flush_access_log();
  if (log_own_fd_ && log_fd_ >= 0) ::close(log_fd_);
}

namespace {

bool parse_endpoint(std::string_view text, tcp::endpoint& out) {
  std::string host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  unsigned p = 0;
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p == 0 || p > 65535) return false;
  error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  if (ec) return false;
  out = tcp::endpoint(addr, static_cast<unsigned short>(p));
  return true;
}

}  // namespace

void Core::install(RouteTable new_table) {
  auto live = std::make_shared<LiveTable>();
  live->table = std::move(new_table);
  live->matcher = std::make_unique<RouteMatcher>(live->table);
  for (auto& [id, b] : backends) b->in_table = false;
  live->routes.resize(live->table.routes.size());
  for (size_t i = 0; i < live->table.routes.size(); ++i) {
    const Route& r = live->table.routes[i];
    LiveRoute& lr = live->routes[i];
    lr.route = &r;
    auto& stats = route_stats[r.service];
    if (!stats) stats = std::make_shared<RouteStats>();
    lr.stats = stats;
    for (const Backend& b : r.backends) {
      const std::string id = b.id.empty() ? b.address : b.id;
      auto& state = backends[id];
      if (!state) {
        state = std::make_shared<BackendState>();
        state->id = id;
        // A backend with an active check starts down: it gets traffic once a check passed.
        state->check_up = r.check.kind == HealthCheck::Kind::none;
      }
      state->name = b.name.empty() ? b.address : b.name;
      if (state->address != b.address) {
        state->address = b.address;
        state->address_ok = parse_endpoint(b.address, state->endpoint);
        state->last_error = state->address_ok ? "" : "address is not IP:PORT";
        state->idle.clear();
      }
      state->weight = b.weight < 1 ? 1 : b.weight;
      state->source_healthy = b.healthy;
      state->table_draining = b.draining;
      state->in_table = true;
      if (r.check.kind == HealthCheck::Kind::none) {
        state->check_up = true;
        state->check = r.check;  // a running checker stops
      } else {
        ensure_checker(state, r.check);
      }
      lr.backends.push_back(state);
    }
  }
  for (auto& [id, b] : backends) {
    // A drain request (POST /drain) is for this instance of the backend: once it left the
    // table, a container restarted with the same id must come back serving, not draining.
    if (!b->in_table) b->drain_requested = false;
    if (!b->in_table || b->draining()) b->idle.clear();
  }
  table = std::move(live);
}

std::shared_ptr<BackendState> Core::pick(LiveRoute& route, std::string_view sticky,
                                         const std::vector<BackendState*>& tried) {
  const int64_t now = now_ms();
  auto& bs = route.backends;
  if (!sticky.empty()) {
    for (auto& b : bs) {
      if (b->eligible(now) && sticky_value(b->id) == sticky &&
          std::find(tried.begin(), tried.end(), b.get()) == tried.end()) {
        return b;
      }
    }
  }
  auto& c = route.scratch;
  c.resize(bs.size());
  bool any = false;
  for (size_t i = 0; i < bs.size(); ++i) {
    c[i].weight = bs[i]->weight;
    c[i].in_flight = bs[i]->in_flight;
    c[i].eligible =
        bs[i]->eligible(now) && std::find(tried.begin(), tried.end(), bs[i].get()) == tried.end();
    any = any || c[i].eligible;
  }
  if (!any) return nullptr;
  const int i = route.route->balance == Balance::least_connections
                    ? route.balancer.least_connections(c)
                    : route.balancer.round_robin(c);
  return i < 0 ? nullptr : bs[static_cast<size_t>(i)];
}

void Core::mark_failed(BackendState& backend, std::string_view why) {
  backend.down_until_ms = now_ms() + options.passive_down_ms;
  backend.last_error = std::string(why);
  backend.idle.clear();
}

std::unique_ptr<BackendConn> Core::take_idle(BackendState& backend, bool trust_recent) {
  while (!backend.idle.empty()) {
    auto conn = std::move(backend.idle.back());
    backend.idle.pop_back();
    // Backends close keep-alive connections after seconds of quiet, rarely sooner: one pooled
    // moments ago is taken on trust when a failure would be retried on a new connection,
    // sparing a busy proxy a system call per request.
    if (trust_recent && now_ms() - conn->idle_since < kTrustPooledMs) return conn;
    // A backend may have closed an idle connection: peek without blocking.
    char byte;
    const ssize_t n = ::recv(conn->socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return conn;
  }
  return nullptr;
}

void Core::give_back(std::unique_ptr<BackendConn> conn) {
  BackendState& b = *conn->backend;
  if (!b.in_table || b.draining() || b.idle.size() >= 256) return;
  conn->idle_since = now_ms();
  b.idle.push_back(std::move(conn));
}

void Core::arm(Deadline& d, int64_t ms_from_now) {
  d.at_ms = now_ms() + ms_from_now;
  if (d.next == nullptr) {
    d.next = head_.next;
    d.prev = &head_;
    head_.next->prev = &d;
    head_.next = &d;
  }
}

void Core::disarm(Deadline& d) {
  d.at_ms = 0;
  if (d.next != nullptr) {
    d.prev->next = d.next;
    d.next->prev = d.prev;
    d.next = d.prev = nullptr;
  }
}

void Core::tick() {
  const int64_t now = now_ms();
  for (Deadline* d = head_.next; d != &head_;) {
    Deadline* next = d->next;
    if (d->at_ms != 0 && d->at_ms <= now) {
      disarm(*d);
      if (d->fire) d->fire();
    }
    d = next;
  }
  if (now - last_rate_ms_ >= 1000) {
    const double secs = last_rate_ms_ == 0 ? 1.0 : static_cast<double>(now - last_rate_ms_) / 1000;
    auto rate = [&](Counters& c) {
      c.rate = static_cast<double>(c.requests - c.last_requests) / secs;
      c.last_requests = c.requests;
    };
    for (auto& [id, b] : backends) rate(b->counters);
    for (auto& [name, r] : route_stats) rate(r->counters);
    for (auto& f : frontends) rate(f->counters);
    rate_limit.prune(now);
    last_rate_ms_ = now;
    for (auto it = backends.begin(); it != backends.end();) {
      auto& b = *it->second;
      std::erase_if(b.idle, [&](const std::unique_ptr<BackendConn>& c) {
        return now - c->idle_since > options.idle_timeout_ms;
      });
      if (!b.in_table && b.in_flight == 0 && it->second.use_count() == 1) {
        it = backends.erase(it);
      } else {
        ++it;
      }
    }
  }
  BufferPool::local().trim();
  flush_access_log();
}

Result<void> Core::open_access_log() {
  if (options.access_log.empty()) return {};
  if (options.access_log == "-") {
    log_fd_ = 1;
    return {};
  }
  log_fd_ = ::open(options.access_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd_ < 0) return Error::from_errno("open access log '{}'", options.access_log);
  log_own_fd_ = true;
  return {};
}

bool Core::claim_client(const std::string& ip) {
  uint32_t& n = open_per_client[ip];
  if (options.max_connections_per_client && n >= options.max_connections_per_client) {
    if (n == 0) open_per_client.erase(ip);
    return false;
  }
  ++n;
  ++open_connections;
  return true;
}

void Core::release_client(const std::string& ip) {
  --open_connections;
  if (auto it = open_per_client.find(ip); it != open_per_client.end() && --it->second == 0)
    open_per_client.erase(it);
}

void Core::access_log(std::string_view line) {
  if (log_fd_ < 0) return;
  log_buffer_.append(line);
  log_buffer_.push_back('\n');
  if (log_buffer_.size() > 32 * 1024) flush_access_log();
}

void Core::flush_access_log() {
  if (log_fd_ < 0 || log_buffer_.empty()) return;
  (void)!::write(log_fd_, log_buffer_.data(), log_buffer_.size());
  log_buffer_.clear();
}

namespace {

void schedule_tick(Core& core, asio::steady_timer& timer) {
  timer.expires_after(std::chrono::milliseconds(50));
  timer.async_wait([&core, &timer](const error_code& ec) {
    if (ec) return;
    core.tick();
    schedule_tick(core, timer);
  });
}

}  // namespace

}  // namespace detail

Result<ListenSpec> parse_listen(std::string_view text) {
  ListenSpec spec;
  std::string_view rest = text;
  if (const auto eq = rest.find('='); eq != std::string_view::npos) {
    spec.name = std::string(rest.substr(0, eq));
    rest = rest.substr(eq + 1);
    if (spec.name.empty()) {
      return Error::make(ErrorKind::invalid_argument, "--listen '{}': the name before '=' is empty",
                         text);
    }
  }
  if (rest.ends_with(",tls")) {
    spec.tls = true;
    rest.remove_suffix(4);
  }
  spec.address = std::string(rest);
  detail::tcp::endpoint ep;
  if (!detail::parse_endpoint(spec.address, ep)) {
    return Error::make(ErrorKind::invalid_argument,
                       "--listen '{}': '{}' is not ADDRESS:PORT (e.g. 0.0.0.0:80, [::]:443, :8080)",
                       text, spec.address)
        .with_hint("the form is [NAME=]ADDRESS:PORT[,tls]");
  }
  if (spec.name.empty()) spec.name = spec.tls ? "https" : "http";
  return spec;
}

namespace {

Result<void> bind_acceptor(detail::TcpAcceptor& acceptor, const std::string& address) {
  detail::tcp::endpoint ep;
  if (!detail::parse_endpoint(address, ep)) {
    return Error::make(ErrorKind::invalid_argument, "listen on '{}': not ADDRESS:PORT", address);
  }
  detail::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(detail::TcpAcceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(4096, ec);
  if (ec) {
    Error e = Error::with_errno(ec.value(), fmt::format("listen on '{}'", address));
    if (ec == boost::asio::error::address_in_use) {
      return std::move(e).with_hint("another process listens there: stop it or pick another port");
    }
    return e;
  }
  return {};
}

}  // namespace

Result<void> serve(const ServeOptions& options, BackendSource& source) {
  namespace asio = detail::asio;
  if (options.listeners.empty()) {
    return Error::make(ErrorKind::invalid_argument, "serve: no --listen address given");
  }
  ::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  detail::Core core(io, options);
  BERTH_TRY_VOID(core.open_access_log());
  bool any_tls = false;
  for (const auto& l : options.listeners) any_tls = any_tls || l.tls;
  if (any_tls || !options.certificates.empty()) BERTH_TRY_VOID(detail::load_tls(core));

  std::vector<std::unique_ptr<detail::TcpAcceptor>> acceptors;
  for (const auto& l : options.listeners) {
    auto acceptor = std::make_unique<detail::TcpAcceptor>(io);
    BERTH_TRY_VOID(bind_acceptor(*acceptor, l.address));
    auto fe = std::make_unique<detail::FrontendStats>();
    fe->name = l.name;
    fe->address = l.address;
    fe->tls = l.tls;
    core.frontends.push_back(std::move(fe));
    acceptors.push_back(std::move(acceptor));
  }
  std::vector<std::unique_ptr<void, void (*)(void*)>> admin_keep;
  BERTH_TRY_VOID(detail::start_admin(core, admin_keep));
  for (size_t i = 0; i < acceptors.size(); ++i) {
    detail::start_http_listener(core, *acceptors[i], *core.frontends[i], options.listeners[i].tls);
  }

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const detail::error_code& ec, int) {
    if (!ec) io.stop();
  });
  asio::steady_timer ticker(io);
  detail::schedule_tick(core, ticker);

  std::optional<Error> source_error;
  std::jthread source_thread([&](std::stop_token stop) {
    auto r = source.run(
        [&io, &core](RouteTable t) {
          asio::post(io, [&core, t = std::move(t)]() mutable { core.install(std::move(t)); });
        },
        stop);
    if (!r.ok() && !stop.stop_requested()) {
      asio::post(io, [&io, &source_error, e = std::move(r).error()]() mutable {
        source_error = std::move(e);
        io.stop();
      });
    }
  });
  if (options.on_ready) asio::post(io, options.on_ready);
  io.run();
  source_thread.request_stop();
  source_thread.join();
  if (source_error) return std::move(*source_error).context("route source");
  return {};
}

}  // namespace berth::proxy
