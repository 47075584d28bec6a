// The control socket (--control, a unix socket) and the stats listener (--stats): small HTTP
// servers on the proxy's loop (Beast's message parser: not on the data path).
#include <sys/stat.h>
#include <unistd.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "proxy/detail/session.h"

namespace berth::proxy::detail {

namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;

const char* mode_name(Mode m) { return m == Mode::tcp ? "tcp" : "http"; }
const char* balance_name(Balance b) {
  return b == Balance::least_connections ? "least_connections" : "round_robin";
}
const char* check_name(HealthCheck::Kind k) {
  switch (k) {
    case HealthCheck::Kind::tcp:
      return "tcp";
    case HealthCheck::Kind::http:
      return "http";
    default:
      return "none";
  }
}

json counters_json(const Counters& c) {
  return {{"requests", c.requests},
          {"rate", c.rate},
          {"responses",
           {{"1xx", c.status[1]},
            {"2xx", c.status[2]},
            {"3xx", c.status[3]},
            {"4xx", c.status[4]},
            {"5xx", c.status[5]},
            {"other", c.status[0]}}},
          {"connect_errors", c.connect_errors},
          {"response_errors", c.response_errors},
          {"retries", c.retries},
          {"bytes_in", c.bytes_in},
          {"bytes_out", c.bytes_out}};
}

json times_json(const Histogram& h) {
  return {{"count", h.count()},
          {"p50_ms", static_cast<double>(h.percentile(0.50)) / 1000},
          {"p90_ms", static_cast<double>(h.percentile(0.90)) / 1000},
          {"p99_ms", static_cast<double>(h.percentile(0.99)) / 1000}};
}

json backend_json(const BackendState& b, int64_t now, bool with_stats) {
  json j = {{"id", b.id},
            {"name", b.name},
            {"address", b.address},
            {"weight", b.weight},
            {"healthy", b.source_healthy},
            {"draining", b.draining()},
            {"state", b.state(now)},
            {"in_flight", b.in_flight},
            {"idle_connections", b.idle.size()},
            {"last_check", b.last_check},
            {"last_error", b.last_error}};
  if (with_stats) {
    j["counters"] = counters_json(b.counters);
    j["response_time"] = times_json(b.times);
    j["max_in_flight"] = b.max_in_flight;
  }
  return j;
}

json route_json(const LiveRoute& lr, int64_t now, bool with_stats) {
  const Route& r = *lr.route;
  json headers = json::array();
  for (const auto& [n, v] : r.match.headers) headers.push_back({n, v});
  json j = {{"service", r.service},
            {"entrypoint", r.entrypoint},
            {"mode", mode_name(r.mode)},
            {"match",
             {{"hosts", r.match.hosts},
              {"path_prefix", r.match.path_prefix},
              {"path_glob", r.match.path_glob},
              {"methods", r.match.methods},
              {"headers", headers}}},
            {"priority", r.priority},
            {"tls", r.tls},
            {"redirect_https", r.redirect_https},
            {"balance", balance_name(r.balance)},
            {"sticky_cookie", r.sticky_cookie},
            {"check",
             {{"kind", check_name(r.check.kind)},
              {"path", r.check.path},
              {"interval_ms", r.check.interval_ms},
              {"timeout_ms", r.check.timeout_ms},
              {"rise", r.check.rise},
              {"fall", r.check.fall}}}};
  json backends = json::array();
  for (const auto& b : lr.backends) backends.push_back(backend_json(*b, now, with_stats));
  j["backends"] = std::move(backends);
  if (with_stats) {
    j["counters"] = counters_json(lr.stats->counters);
    j["no_backend"] = lr.stats->no_backend;
    j["response_time"] = times_json(lr.stats->times);
  }
  return j;
}

json stats_object(Core& core) {
  const int64_t now = now_ms();
  json frontends = json::array();
  for (const auto& f : core.frontends) {
    frontends.push_back({{"name", f->name},
                         {"address", f->address},
                         {"tls", f->tls},
                         {"connections", f->connections},
                         {"current_connections", f->current},
                         {"max_connections", f->max_current},
                         {"counters", counters_json(f->counters)}});
  }
  json routes = json::array();
  for (const auto& lr : core.table->routes) routes.push_back(route_json(lr, now, true));
  return {{"uptime_s", (now - core.started_ms) / 1000},
          {"generation", core.table->table.generation},
          {"connections", core.total_connections},
          {"frontends", frontends},
          {"routes", routes}};
}

std::string query_param(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      std::string out;
      const std::string_view v = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '%' && i + 2 < v.size()) {
          out += static_cast<char>(std::stoi(std::string(v.substr(i + 1, 2)), nullptr, 16));
          i += 2;
        } else {
          out += v[i] == '+' ? ' ' : v[i];
        }
      }
      return out;
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

struct Answer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

Answer json_answer(int status, const json& j) {
  return {status, "application/json", j.dump(2) + "\n"};
}
Answer error_answer(int status, std::string message) {
  return json_answer(status, {{"error", std::move(message)}});
}

awaitable<Answer> drain(Core& core, std::string_view target) {
  const std::string id = query_param(target, "backend");
  const std::string timeout_text = query_param(target, "timeout_ms");
  int timeout_ms = 30000;
  if (!timeout_text.empty()) {
    char* end = nullptr;
    const long v = std::strtol(timeout_text.c_str(), &end, 10);
    if (*end != '\0' || v < 0 || v > 86400000) {
      co_return error_answer(
          400, fmt::format("timeout_ms '{}' is not a number of milliseconds", timeout_text));
    }
    timeout_ms = static_cast<int>(v);
  }
  if (id.empty()) co_return error_answer(400, "drain needs ?backend=ID");
  std::shared_ptr<BackendState> b;
  if (auto it = core.backends.find(id); it != core.backends.end()) b = it->second;
  if (!b) {
    for (auto& [key, state] : core.backends) {
      if (state->name == id) b = state;
    }
  }
  if (!b) co_return error_answer(404, fmt::format("no backend '{}' (see GET /routes)", id));
  b->drain_requested = true;
  b->idle.clear();
  const auto started = now_ms();
  if (b->in_flight > 0) {
    auto ex = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(ex, std::chrono::milliseconds(timeout_ms));
    std::weak_ptr<asio::steady_timer> weak = timer;
    b->on_idle.push_back([weak] {
      if (auto t = weak.lock()) t->cancel();
    });
    error_code ec;
    co_await timer->async_wait(with(ec));
  }
  json j = backend_json(*b, now_ms(), false);
  j["waited_ms"] = now_ms() - started;
  if (b->in_flight > 0) {
    j["error"] = fmt::format("{} requests or connections still in flight after {} ms", b->in_flight,
                             timeout_ms);
    co_return json_answer(504, j);
  }
  co_return json_answer(200, j);
}

awaitable<Answer> handle(Core& core, bool control, http::verb method, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (control) {
    if (method == http::verb::get && path == "/routes") {
      json routes = json::array();
      const int64_t now = now_ms();
      for (const auto& lr : core.table->routes) routes.push_back(route_json(lr, now, false));
      co_return json_answer(200,
                            {{"generation", core.table->table.generation}, {"routes", routes}});
    }
    if (method == http::verb::get && path == "/stats")
      co_return json_answer(200, stats_object(core));
    if (method == http::verb::get && path == "/backend") {
      // One backend of the table (a rolling update waits for its new instance to be "up").
      const std::string id = query_param(target, "id");
      auto it = core.backends.find(id);
      if (it == core.backends.end() || !it->second->in_table)
        co_return error_answer(404, fmt::format("no backend '{}' in the table", id));
      co_return json_answer(200, backend_json(*it->second, now_ms(), false));
    }
    if (method == http::verb::post && path == "/drain") co_return co_await drain(core, target);
    if (method == http::verb::post && path == "/undrain") {
      const std::string id = query_param(target, "backend");
      auto it = core.backends.find(id);
      if (it == core.backends.end())
        co_return error_answer(404, fmt::format("no backend '{}'", id));
      it->second->drain_requested = false;
      co_return json_answer(200, backend_json(*it->second, now_ms(), false));
    }
    co_return error_answer(404, fmt::format("no endpoint {} {} (GET /routes, GET /stats, GET "
                                            "/backend?id=ID, POST /drain?backend=ID&timeout_ms=N)",
                                            std::string(http::to_string(method)), path));
  }
  if (path == "/" || path == "/stats")
    co_return Answer{200, "text/html; charset=utf-8", stats_html(core)};
  if (path == "/stats.json") co_return json_answer(200, stats_object(core));
  if (path == "/metrics") co_return Answer{200, "text/plain; version=0.0.4", metrics_text(core)};
  co_return error_answer(404, "try /, /stats.json or /metrics");
}

// The stats listener may face the network, and its connections take file descriptors the data
// plane's listeners need: at most this many admin connections are open (more are closed at
// once), and each request must be complete within the header timeout of the wait for it (an idle
// keep-alive connection is closed as well).
constexpr size_t kMaxAdminSessions = 64;

template <class Socket>
awaitable<void> admin_session(Core& core, Socket socket, bool control, std::shared_ptr<size_t> open) {
  struct Held {
    Core& core;
    std::shared_ptr<size_t> open;
    Deadline deadline;
    ~Held() {
      core.disarm(deadline);
      --*open;
    }
  } held{core, std::move(open), {}};
  held.deadline.fire = [&socket] {
    error_code ignored;
    socket.cancel(ignored);
  };
  boost::beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    error_code ec;
    core.arm(held.deadline, core.options.header_timeout_ms);
    co_await http::async_read(socket, buffer, req, with(ec));
    core.disarm(held.deadline);
    if (ec) co_return;
    Answer a = co_await handle(core, control, req.method(),
                               std::string_view(req.target().data(), req.target().size()));
    http::response<http::string_body> res{static_cast<http::status>(a.status), 11};
    res.set(http::field::content_type, a.content_type);
    res.set(http::field::server, "berth-proxy");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(a.body);
    res.prepare_payload();
    core.arm(held.deadline, core.options.idle_timeout_ms);  // a client that never reads
    co_await http::async_write(socket, res, with(ec));
    core.disarm(held.deadline);
    if (ec || !req.keep_alive()) co_return;
  }
}

template <class Acceptor>
awaitable<void> admin_accept(Core& core, Acceptor& acceptor, bool control) {
  auto open = std::make_shared<size_t>(0);  // sessions may outlive this loop
  for (;;) {
    error_code ec;
    auto socket = co_await acceptor.async_accept(with(ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    if (*open >= kMaxAdminSessions) continue;  // the socket closes here
    ++*open;
    asio::co_spawn(acceptor.get_executor(), admin_session(core, std::move(socket), control, open),
                   asio::detached);
  }
}

}  // namespace

std::string routes_json(Core& core) {
  json routes = json::array();
  for (const auto& lr : core.table->routes) routes.push_back(route_json(lr, now_ms(), false));
  return routes.dump(2);
}

std::string stats_json(Core& core) { return stats_object(core).dump(2); }

Result<void> start_admin(Core& core, std::vector<std::unique_ptr<void, void (*)(void*)>>& keep) {
  if (!core.options.control_path.empty()) {
    using local = asio::local::stream_protocol;
    const std::string& path = core.options.control_path;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return Error::make(ErrorKind::already_exists,
                           "control socket '{}': a file that is not a socket is in the way", path);
      }
      ::unlink(path.c_str());  // a stale socket of an earlier proxy
    }
    auto owned = std::make_unique<local::acceptor>(core.io);
    auto* acceptor = owned.get();
    keep.emplace_back(owned.release(), [](void* p) { delete static_cast<local::acceptor*>(p); });
    error_code ec;
    acceptor->open(local(), ec);
    if (!ec) acceptor->bind(local::endpoint(path), ec);
    if (!ec) acceptor->listen(64, ec);
    if (ec)
      return Error::with_errno(ec.value(), fmt::format("listen on control socket '{}'", path));
    ::chmod(path.c_str(), 0600);
    asio::co_spawn(core.io, admin_accept(core, *acceptor, true), asio::detached);
  }
  if (!core.options.stats_address.empty()) {
    BERTH_TRY(auto spec, parse_listen(core.options.stats_address));
    auto owned = std::make_unique<TcpAcceptor>(core.io);
    auto* acceptor = owned.get();
    keep.emplace_back(owned.release(), [](void* p) { delete static_cast<TcpAcceptor*>(p); });
    tcp::endpoint ep;
    const auto colon = spec.address.rfind(':');
    std::string host = spec.address.substr(0, colon);
    if (host.empty()) host = "0.0.0.0";
    if (host.front() == '[') host = host.substr(1, host.size() - 2);
    error_code ec;
    ep = tcp::endpoint(asio::ip::make_address(host, ec),
                       static_cast<unsigned short>(std::stoi(spec.address.substr(colon + 1))));
    if (!ec) acceptor->open(ep.protocol(), ec);
    if (!ec) acceptor->set_option(TcpAcceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(ep, ec);
    if (!ec) acceptor->listen(64, ec);
    if (ec) {
      return Error::with_errno(
          ec.value(), fmt::format("listen on stats address '{}'", core.options.stats_address));
    }
    asio::co_spawn(core.io, admin_accept(core, *acceptor, false), asio::detached);
  }
  return {};
}

}  // namespace berth::proxy::detail
