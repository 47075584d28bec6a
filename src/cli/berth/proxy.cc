// `berth proxy serve|routes|check|ls|stop`: the load balancer that follows berth's containers
// (proxy/server.h serving proxy_source/state_source.h's tables; docs/proxy.md).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <pthread.h>

#include <chrono>
#include <stop_token>
#include <cstdio>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/sys.h"
#include "base/unique_fd.h"
#include "cli/berth/command.h"
#include "engine/proxy_drain.h"
#include "proxy/labels.h"
#include "proxy/server.h"
#include "proxy_source/state_source.h"

namespace berth::cli {
namespace {

using nlohmann::json;

constexpr const char* kDefaultName = "default";

Result<void> check_name(const std::string& name) {
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos ||
      name.front() == '.')
    return Error::make(ErrorKind::invalid_argument, "proxy name '{}': use letters, digits, '_', '-' and '.'", name);
  return {};
}

// --- serve ------------------------------------------------------------------------------------

Result<int> cmd_serve(const Globals& g, const ParsedArgs& a) {
  std::string name = a.value("name", kDefaultName);
  BERTH_TRY_VOID(check_name(name));
  proxy::ServeOptions o;
  for (const auto& l : a.values_of("listen")) {
    BERTH_TRY(auto spec, proxy::parse_listen(l).context("--listen"));
    o.listeners.push_back(std::move(spec));
  }
  if (o.listeners.empty())
    return Error::make(ErrorKind::invalid_argument, "berth proxy serve: give at least one --listen [NAME=]ADDR[,tls]")
        .with_hint("e.g. berth proxy serve --listen 0.0.0.0:8080");
  const auto& certs = a.values_of("tls-cert");
  const auto& keys = a.values_of("tls-key");
  if (certs.size() != keys.size())
    return Error::make(ErrorKind::invalid_argument, "give one --tls-key for each --tls-cert ({} certificates, {} keys)",
                       certs.size(), keys.size());
  for (size_t i = 0; i < certs.size(); ++i) o.certificates.push_back({certs[i], keys[i]});
  o.stats_address = a.value("stats");
  o.access_log = a.value("access-log");
  if (a.flag("access-log-format")) {
    std::string f = a.value("access-log-format");
    if (f != "text" && f != "json")
      return Error::make(ErrorKind::invalid_argument, "--access-log-format '{}': text or json", f);
    o.access_log_json = f == "json";
  }
  // The limits and timeouts berth-proxy takes, by the same names and bounds.
  auto number = [&](const char* name, int64_t min, int64_t max, auto& field) -> Result<void> {
    if (!a.flag(name)) return {};
    std::string text = a.value(name);
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < min || v > max)
      return Error::make(ErrorKind::invalid_argument, "--{} '{}': give a number from {} to {}", name, text, min, max);
    field = static_cast<std::remove_reference_t<decltype(field)>>(v);
    return {};
  };
  BERTH_TRY_VOID(number("max-header-bytes", 1024, 1 << 20, o.max_header_bytes));
  BERTH_TRY_VOID(number("max-body-bytes", 0, int64_t{1} << 50, o.max_body_bytes));
  BERTH_TRY_VOID(number("max-connections", 0, 1 << 20, o.max_connections));
  BERTH_TRY_VOID(number("max-connections-per-client", 0, 1 << 20, o.max_connections_per_client));
  BERTH_TRY_VOID(number("connect-timeout-ms", 1, 86'400'000, o.connect_timeout_ms));
  BERTH_TRY_VOID(number("header-timeout-ms", 1, 86'400'000, o.header_timeout_ms));
  BERTH_TRY_VOID(number("idle-timeout-ms", 1, 86'400'000, o.idle_timeout_ms));
  BERTH_TRY_VOID(number("response-timeout-ms", 1, 86'400'000, o.response_timeout_ms));
  BERTH_TRY_VOID(number("tunnel-timeout-ms", 1, 86'400'000, o.tunnel_timeout_ms));
  BERTH_TRY_VOID(number("retries", 0, 10, o.retries));
  BERTH_TRY_VOID(number("min-body-rate", 0, int64_t{1} << 40, o.min_body_rate));
  BERTH_TRY_VOID(number("rate-limit-per-client", 0, 1 << 24, o.rate_limit_per_client));
  BERTH_TRY_VOID(number("rate-limit-burst", 0, 1 << 24, o.rate_limit_burst));

  // One proxy per name: NAME.pid is flock'd for as long as it runs.
  BERTH_TRY_VOID(sys::mkdir_all(g.layout.proxies(), 0700));
  std::string pid_path = g.layout.proxy_pid(name);
  UniqueFd pid_fd(::open(pid_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!pid_fd) return Error::from_errno("open '{}'", pid_path);
  if (::flock(pid_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    auto other = engine::running_proxy_pid(g.layout, name);
    return Error::make(ErrorKind::already_exists, "a proxy named '{}' already runs (pid {})", name,
                       other ? std::to_string(*other) : "?")
        .with_hint(fmt::format("stop it with `berth proxy stop {}`, or give this one another --name", name));
  }
  if (::ftruncate(pid_fd.get(), 0) != 0) return Error::from_errno("truncate '{}'", pid_path);
  BERTH_TRY_VOID(sys::write_all(pid_fd.get(), std::to_string(::getpid())));
  o.control_path = g.layout.proxy_socket(name);
  ::unlink(o.control_path.c_str());  // a dead proxy's: we hold the name now

  int ready_fd = a.flag("ready-fd") ? std::atoi(a.value("ready-fd").c_str()) : -1;
  std::string control = o.control_path;
  o.on_ready = [ready_fd, control, name] {
    std::fprintf(stderr, "berth proxy %s: serving; control socket %s\n", name.c_str(), control.c_str());
    std::fflush(stderr);
    if (ready_fd >= 0) {
      (void)!::write(ready_fd, "1", 1);
      ::close(ready_fd);
    }
  };

  proxy_source::StateSourceOptions so;
  so.layout = g.layout;
  so.programs = engine::programs_beside_self();
  so.project = a.value("project");
  so.on_problems = [name](const proxy::LabelRoutes& routes) {
    for (const auto& p : routes.problems) log::warn(fmt::format("proxy {}: {} (container left out)", name, p.text()));
    for (const auto& c : routes.conflicts) log::warn(fmt::format("proxy {}: conflict: {}", name, c.text()));
  };
  proxy_source::StateSource source(std::move(so));
  auto served = proxy::serve(o, source);
  ::unlink(o.control_path.c_str());
  ::unlink(pid_path.c_str());
  BERTH_TRY_VOID(std::move(served));
  return 0;
}

// --- routes -----------------------------------------------------------------------------------

// The server's GET /routes shape, from a table the source built (for --from-state).
json table_json(const proxy::RouteTable& table) {
  json routes = json::array();
  for (const auto& r : table.routes) {
    json backends = json::array();
    for (const auto& b : r.backends)
      backends.push_back({{"id", b.id},
                          {"name", b.name},
                          {"address", b.address},
                          {"weight", b.weight},
                          {"healthy", b.healthy},
                          {"draining", b.draining},
                          {"state", b.draining ? "draining" : b.healthy ? "up" : "starting"}});
    json headers = json::array();
    for (const auto& [n, v] : r.match.headers) headers.push_back({n, v});
    routes.push_back({{"service", r.service},
                      {"entrypoint", r.entrypoint},
                      {"mode", r.mode == proxy::Mode::tcp ? "tcp" : "http"},
                      {"match",
                       {{"hosts", r.match.hosts},
                        {"path_prefix", r.match.path_prefix},
                        {"path_glob", r.match.path_glob},
                        {"methods", r.match.methods},
                        {"headers", headers}}},
                      {"priority", r.priority},
                      {"tls", r.tls},
                      {"backends", backends}});
  }
  return {{"generation", table.generation}, {"routes", routes}};
}

std::string routes_table(const json& doc) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : doc.value("routes", json::array())) {
    const json& m = r.value("match", json::object());
    std::vector<std::string> hosts = m.value("hosts", std::vector<std::string>{});
    std::string path = m.value("path_glob", "");
    if (path.empty()) path = m.value("path_prefix", "");
    std::vector<std::string> extra;
    for (const auto& method : m.value("methods", std::vector<std::string>{})) extra.push_back(method);
    for (const auto& h : m.value("headers", json::array()))
      if (h.is_array() && h.size() == 2) extra.push_back(fmt::format("{}={}", h[0].get<std::string>(), h[1].get<std::string>()));
    if (!extra.empty()) path += " [" + fmt::format("{}", fmt::join(extra, " ")) + "]";
    std::vector<std::string> backends;
    for (const auto& b : r.value("backends", json::array()))
      backends.push_back(fmt::format("{} {} {}", b.value("name", ""), b.value("address", ""), b.value("state", "")));
    std::string mode = r.value("mode", "http");
    if (r.value("tls", false)) mode += "+tls";
    std::string entry = r.value("entrypoint", "");
    rows.push_back({r.value("service", ""), hosts.empty() ? "*" : fmt::format("{}", fmt::join(hosts, ",")),
                    path.empty() ? "/" : path, mode, entry.empty() ? "*" : entry,
                    std::to_string(r.value("priority", 0)),
                    backends.empty() ? "(none)" : fmt::format("{}", fmt::join(backends, ", "))});
  }
  return render_table({"ROUTE", "HOSTS", "PATH", "MODE", "ENTRYPOINT", "PRIORITY", "BACKENDS"}, rows);
}

Result<int> cmd_routes(const Globals& g, const ParsedArgs& a) {
  std::string format = a.value("format");
  if (!format.empty() && format != "json" && format != "table") return unknown_format(format);
  json doc;
  if (a.flag("from-state")) {
    BERTH_TRY(auto engine, open_engine(g));
    BERTH_TRY(auto routes, proxy_source::routes_from_state(engine, a.value("project")));
    doc = table_json(routes.table);
  } else {
    std::string name = a.value("name");
    if (name.empty()) {
      auto names = engine::running_proxies(g.layout);
      if (names.empty())
        return Error::make(ErrorKind::not_found, "no proxy runs")
            .with_hint("start one with `berth proxy serve --listen ADDR`, or see what it would serve with "
                       "`berth proxy routes --from-state`");
      if (names.size() > 1)
        return Error::make(ErrorKind::invalid_argument, "several proxies run ({}): say which with --name",
                           fmt::join(names, ", "));
      name = names.front();
    }
    BERTH_TRY_VOID(check_name(name));
    BERTH_TRY(auto answer, engine::ask_proxy(g.layout.proxy_socket(name), "GET", "/routes", 5000)
                               .context(fmt::format("proxy '{}'", name)));
    if (answer.status != 200)
      return Error::make(ErrorKind::unavailable, "proxy '{}': GET /routes answered {}: {}", name, answer.status,
                         answer.body);
    doc = json::parse(answer.body, nullptr, false);
    if (doc.is_discarded()) return Error::make(ErrorKind::corrupt, "proxy '{}': GET /routes is not JSON", name);
  }
  if (format == "json") print(doc.dump(2) + "\n");
  else print(routes_table(doc));
  return 0;
}

// --- watch: the source's tables as they are published (one JSON line each) --------------------

Result<int> cmd_watch(const Globals& g, const ParsedArgs& a) {
  // SIGINT/SIGTERM end it: a thread waits for them and asks the source to stop.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::stop_source stop;
  std::thread waiter([&signals, &stop] {
    int signal = 0;
    sigwait(&signals, &signal);
    stop.request_stop();
  });
  proxy_source::StateSourceOptions so;
  so.layout = g.layout;
  so.programs = engine::programs_beside_self();
  so.project = a.value("project");
  so.on_problems = [](const proxy::LabelRoutes& routes) {
    for (const auto& p : routes.problems) log::warn(p.text());
    for (const auto& c : routes.conflicts) log::warn(fmt::format("conflict: {}", c.text()));
  };
  proxy_source::StateSource source(std::move(so));
  auto ran = source.run(
      [](proxy::RouteTable table) {
        json doc = table_json(table);
        doc["time_ns"] = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        print(doc.dump() + "\n");
      },
      stop.get_token());
  if (!stop.stop_requested()) ::kill(::getpid(), SIGTERM);  // the source failed: end the waiter
  waiter.join();
  BERTH_TRY_VOID(std::move(ran));
  return 0;
}

// --- check ------------------------------------------------------------------------------------

Result<int> cmd_check(const Globals& g, const ParsedArgs& a) {
  BERTH_TRY(auto engine, open_engine(g));
  BERTH_TRY(auto routes, proxy_source::routes_from_state(engine, a.value("project")));
  for (const auto& p : routes.problems) std::fprintf(stderr, "error: %s\n", p.text().c_str());
  for (const auto& c : routes.conflicts) std::fprintf(stderr, "conflict: %s\n", c.text().c_str());
  size_t backends = 0;
  for (const auto& r : routes.table.routes) backends += r.backends.size();
  if (!routes.problems.empty() || !routes.conflicts.empty()) {
    std::fprintf(stderr, "%zu error(s), %zu conflict(s)\n", routes.problems.size(), routes.conflicts.size());
    return 1;
  }
  print(fmt::format("{} route(s), {} backend(s): labels are fine\n", routes.table.routes.size(), backends));
  return 0;
}

// --- ls, stop ---------------------------------------------------------------------------------

Result<int> cmd_ls(const Globals& g, const ParsedArgs& a) {
  std::vector<std::vector<std::string>> rows;
  json list = json::array();
  for (const auto& name : engine::running_proxies(g.layout)) {
    auto pid = engine::running_proxy_pid(g.layout, name);
    if (!pid) continue;
    std::string routes = "?";
    if (auto answer = engine::ask_proxy(g.layout.proxy_socket(name), "GET", "/routes", 2000);
        answer && answer->status == 200) {
      auto doc = json::parse(answer->body, nullptr, false);
      if (!doc.is_discarded()) routes = std::to_string(doc.value("routes", json::array()).size());
    }
    rows.push_back({name, std::to_string(*pid), g.layout.proxy_socket(name), routes});
    list.push_back({{"name", name}, {"pid", *pid}, {"control", g.layout.proxy_socket(name)}, {"routes", routes}});
  }
  if (a.value("format") == "json") print(list.dump(2) + "\n");
  else print(render_table({"NAME", "PID", "CONTROL", "ROUTES"}, rows));
  return 0;
}

Result<int> cmd_stop(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.empty()) return Error::make(ErrorKind::invalid_argument, "berth proxy stop: name a proxy");
  int status = 0;
  for (const auto& name : a.positionals) {
    auto stopped = check_name(name);
    if (stopped) stopped = engine::stop_proxy(g.layout, name);
    if (!stopped) status = report(stopped.error());
    else print(name + "\n");
  }
  return status;
}

}  // namespace

std::vector<Command> proxy_commands() {
  return {
      {"proxy serve",
       "--listen [NAME=]ADDR[,tls]... [OPTIONS]",
       "Run the load balancer for berth's containers (docs/proxy.md)",
       {{"name", true,
         "this proxy's name (default 'default'): its control socket is RUN_ROOT/proxy/NAME.sock"},
        {"listen", true,
         "[NAME=]ADDR[,tls]: a listener; NAME is the entrypoint routes name (repeatable)"},
        {"tls-cert", true, "PEM certificate chain for TLS listeners (repeatable, SNI picks)"},
        {"tls-key", true, "PEM key of the --tls-cert in the same position"},
        {"stats", true, "ADDR for the stats page, /stats.json and /metrics"},
        {"access-log", true, "file for the access log ('-': stdout)"},
        {"access-log-format", true, "text (default) or json"},
        {"project", true, "route only this compose project's containers"},
        {"max-header-bytes", true, "larger request headers get 431 (16384)"},
        {"max-body-bytes", true, "larger bodies get 413 (0: no limit)"},
        {"max-connections", true,
         "open client connections at most; more wait (10000, 0: no limit)"},
        {"max-connections-per-client", true,
         "open connections from one IP at most; more get 503 (256, 0: no limit)"},
        {"connect-timeout-ms", true, "backend connect timeout (3000)"},
        {"header-timeout-ms", true, "a request's header must arrive within this, else 408 (10000)"},
        {"idle-timeout-ms", true, "keep-alive and TCP idle timeout (60000)"},
        {"response-timeout-ms", true, "backend response header timeout, else 504 (60000)"},
        {"tunnel-timeout-ms", true, "idle WebSocket/Upgrade tunnel timeout (3600000)"},
        {"retries", true, "more backends to try after a failed connect (2)"},
        {"min-body-rate", true,
         "bytes a second a request body must bring over each header timeout, else 408 (256, 0: none)"},
        {"rate-limit-per-client", true, "requests a second from one IP at most, else 429 (0: no limit)"},
        {"rate-limit-burst", true, "requests one IP may make at once before its rate applies (the rate)"},
        {"ready-fd", true, ""}},
       SIZE_MAX,
       cmd_serve},
      {"proxy routes",
       "[--name N] [--format json] [--from-state [--project P]]",
       "The routing table as the running proxy sees it",
       {{"name", true, "which proxy (default: the only one running)"},
        {"format", true, "table (default) or json"},
        {"from-state", false, "the table berth's containers ask for now, without asking a proxy"},
        {"project", true, "with --from-state: only this compose project's containers"}},
       SIZE_MAX,
       cmd_routes},
      {"proxy watch",
       "[--project P]",
       "",  // for tests and debugging: each table the route source publishes, a JSON line each
       {{"project", true, "only this compose project's containers"}},
       SIZE_MAX,
       cmd_watch},
      {"proxy check",
       "[--project P]",
       "Validate every container's proxy labels; print errors and conflicts (exit 1 if any)",
       {{"project", true, "only this compose project's containers"}},
       SIZE_MAX,
       cmd_check},
      {"proxy ls",
       "[--format json]",
       "List running proxies",
       {{"format", true, "table (default) or json"}},
       SIZE_MAX,
       cmd_ls},
      {"proxy stop", "NAME...", "Stop running proxies", {}, SIZE_MAX, cmd_stop},
  };
}

}  // namespace berth::cli
