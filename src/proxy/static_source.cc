#include "proxy/static_source.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/json.h"
#include "base/log.h"
#include "base/unique_fd.h"

namespace berth::proxy {

namespace {

using json = nlohmann::json;

struct Ctx {
  std::string_view file;
  const Resolver& resolve;
  Error fail(const std::string& path, std::string_view what, const json& value) const {
    return Error::make(ErrorKind::invalid_argument, "config '{}': {}: {}, got {}", file, path, what,
                       value.dump());
  }
};

Result<void> only_keys(const Ctx& c, const std::string& path, const json& obj,
                       std::initializer_list<std::string_view> keys) {
  if (!obj.is_object()) return c.fail(path, "must be an object", obj);
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool known = false;
    for (auto k : keys) known = known || it.key() == k;
    if (!known) {
      std::string list;
      for (auto k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
      return c.fail(path + "." + it.key(), fmt::format("unknown key (known: {})", list),
                    it.value());
    }
  }
  return {};
}

Result<std::string> get_string(const Ctx& c, const std::string& path, const json& obj,
                               std::string_view key, std::string fallback = {}) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_string()) return c.fail(path + "." + std::string(key), "must be a string", *it);
  return it->get<std::string>();
}

Result<bool> get_bool(const Ctx& c, const std::string& path, const json& obj, std::string_view key,
                      bool fallback) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_boolean()) return c.fail(path + "." + std::string(key), "must be true or false", *it);
  return it->get<bool>();
}

Result<int> get_int(const Ctx& c, const std::string& path, const json& obj, std::string_view key,
                    int fallback, int min, int max) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_number_integer() || it->get<int64_t>() < min || it->get<int64_t>() > max) {
    return c.fail(path + "." + std::string(key),
                  fmt::format("must be an integer from {} to {}", min, max), *it);
  }
  return static_cast<int>(it->get<int64_t>());
}

Result<std::vector<std::string>> get_strings(const Ctx& c, const std::string& path, const json& obj,
                                             std::string_view key) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end()) return out;
  const std::string p = path + "." + std::string(key);
  if (it->is_string()) {
    out.push_back(it->get<std::string>());
    return out;
  }
  if (!it->is_array()) return c.fail(p, "must be a string or a list of strings", *it);
  for (size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    if (!v.is_string()) return c.fail(fmt::format("{}[{}]", p, i), "must be a string", v);
    out.push_back(v.get<std::string>());
  }
  return out;
}

// "web:8080" → "10.0.0.5:8080"; IP addresses are kept as they are.
Result<std::string> resolve_address(const Ctx& c, const std::string& path, const json& value) {
  const std::string text = value.get<std::string>();
  std::string host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string::npos) return c.fail(path, "must be HOST:PORT or [IPv6]:PORT", value);
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      return c.fail(path, "must be HOST:PORT or [IPv6]:PORT", value);
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 1 || p > 65535) {
    return c.fail(path, "needs a port from 1 to 65535", value);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) == 0) {
    ::freeaddrinfo(res);
    return text;
  }
  std::string error;
  const auto address = c.resolve(host, error);
  if (!address) return c.fail(path, fmt::format("cannot resolve '{}' ({})", host, error), value);
  if (address->find(':') != std::string::npos) return fmt::format("[{}]:{}", *address, p);
  return fmt::format("{}:{}", *address, p);
}

std::optional<std::string> system_resolve(const std::string& host, std::string& error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    error = ::gai_strerror(rc);
    return std::nullopt;
  }
  char buf[64] = {};
  if (res->ai_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, buf, sizeof buf);
  else
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr, buf,
                sizeof buf);
  ::freeaddrinfo(res);
  return std::string(buf);
}

Result<Route> parse_route(const Ctx& c, const std::string& path, const json& j) {
  BERTH_TRY_VOID(only_keys(c, path, j,
                           {"service", "entrypoint", "mode", "match", "priority", "tls",
                            "redirect_https", "balance", "sticky_cookie", "check", "backends"}));
  Route r;
  BERTH_TRY(r.service, get_string(c, path, j, "service"));
  if (r.service.empty()) {
    return c.fail(path + ".service", "must name the service (shown in stats and 503 pages)",
                  j.value("service", json()));
  }
  BERTH_TRY(r.entrypoint, get_string(c, path, j, "entrypoint"));
  BERTH_TRY(auto mode, get_string(c, path, j, "mode", "http"));
  if (mode == "http") {
    r.mode = Mode::http;
  } else if (mode == "tcp") {
    r.mode = Mode::tcp;
  } else {
    return c.fail(path + ".mode", "must be \"http\" or \"tcp\"", j["mode"]);
  }
  if (auto m = j.find("match"); m != j.end()) {
    const std::string mp = path + ".match";
    BERTH_TRY_VOID(
        only_keys(c, mp, *m, {"hosts", "path_prefix", "path_glob", "methods", "headers"}));
    BERTH_TRY(r.match.hosts, get_strings(c, mp, *m, "hosts"));
    BERTH_TRY(r.match.path_prefix, get_string(c, mp, *m, "path_prefix"));
    if (!r.match.path_prefix.empty() && r.match.path_prefix.front() != '/') {
      return c.fail(mp + ".path_prefix", "must start with '/'", (*m)["path_prefix"]);
    }
    BERTH_TRY(r.match.path_glob, get_string(c, mp, *m, "path_glob"));
    BERTH_TRY(r.match.methods, get_strings(c, mp, *m, "methods"));
    if (auto h = m->find("headers"); h != m->end()) {
      if (!h->is_object()) return c.fail(mp + ".headers", "must be an object of name: value", *h);
      for (auto it = h->begin(); it != h->end(); ++it) {
        if (!it->is_string()) return c.fail(mp + ".headers." + it.key(), "must be a string", *it);
        r.match.headers.emplace_back(it.key(), it->get<std::string>());
      }
    }
    if (r.mode == Mode::tcp && (!r.match.hosts.empty() || !r.match.path_prefix.empty())) {
      return c.fail(mp, "a tcp route takes every connection of its entrypoint: no match", *m);
    }
  }
  BERTH_TRY(r.priority, get_int(c, path, j, "priority", 0, -1000000, 1000000));
  BERTH_TRY(r.tls, get_bool(c, path, j, "tls", false));
  BERTH_TRY(r.redirect_https, get_bool(c, path, j, "redirect_https", false));
  BERTH_TRY(auto balance, get_string(c, path, j, "balance", "round_robin"));
  if (balance == "round_robin") {
    r.balance = Balance::round_robin;
  } else if (balance == "least_connections") {
    r.balance = Balance::least_connections;
  } else {
    return c.fail(path + ".balance", "must be \"round_robin\" or \"least_connections\"",
                  j["balance"]);
  }
  BERTH_TRY(r.sticky_cookie, get_string(c, path, j, "sticky_cookie"));
  if (auto h = j.find("check"); h != j.end()) {
    const std::string hp = path + ".check";
    BERTH_TRY_VOID(
        only_keys(c, hp, *h, {"kind", "path", "interval_ms", "timeout_ms", "rise", "fall"}));
    BERTH_TRY(auto kind, get_string(c, hp, *h, "kind", "none"));
    if (kind == "none") {
      r.check.kind = HealthCheck::Kind::none;
    } else if (kind == "tcp") {
      r.check.kind = HealthCheck::Kind::tcp;
    } else if (kind == "http") {
      r.check.kind = HealthCheck::Kind::http;
    } else {
      return c.fail(hp + ".kind", "must be \"none\", \"tcp\" or \"http\"", (*h)["kind"]);
    }
    BERTH_TRY(r.check.path, get_string(c, hp, *h, "path", "/"));
    BERTH_TRY(r.check.interval_ms, get_int(c, hp, *h, "interval_ms", 2000, 10, 3600000));
    BERTH_TRY(r.check.timeout_ms, get_int(c, hp, *h, "timeout_ms", 1000, 1, 3600000));
    BERTH_TRY(r.check.rise, get_int(c, hp, *h, "rise", 2, 1, 100));
    BERTH_TRY(r.check.fall, get_int(c, hp, *h, "fall", 3, 1, 100));
  }
  auto bs = j.find("backends");
  if (bs != j.end()) {
    if (!bs->is_array()) return c.fail(path + ".backends", "must be a list", *bs);
    for (size_t i = 0; i < bs->size(); ++i) {
      const std::string bp = fmt::format("{}.backends[{}]", path, i);
      const json& bj = (*bs)[i];
      BERTH_TRY_VOID(
          only_keys(c, bp, bj, {"id", "name", "address", "weight", "healthy", "draining"}));
      Backend b;
      auto a = bj.find("address");
      if (a == bj.end() || !a->is_string()) {
        return c.fail(bp + ".address", "must be a string HOST:PORT", bj.value("address", json()));
      }
      BERTH_TRY(b.address, resolve_address(c, bp + ".address", *a));
      BERTH_TRY(b.id, get_string(c, bp, bj, "id", a->get<std::string>()));
      BERTH_TRY(b.name, get_string(c, bp, bj, "name", a->get<std::string>()));
      BERTH_TRY(b.weight, get_int(c, bp, bj, "weight", 1, 1, 1000000));
      BERTH_TRY(b.healthy, get_bool(c, bp, bj, "healthy", true));
      BERTH_TRY(b.draining, get_bool(c, bp, bj, "draining", false));
      r.backends.push_back(std::move(b));
    }
  }
  return r;
}

}  // namespace

Result<RouteTable> parse_static_config(std::string_view text, std::string_view file) {
  return parse_static_config(text, file, system_resolve);
}

Result<RouteTable> parse_static_config(std::string_view text, std::string_view file,
                                       const Resolver& resolve) {
  Ctx c{file, resolve};
  json doc;
  try {
    doc = parse_json(text);
  } catch (const json::exception& e) {
    // Not only parse_error: a number too large for a double (1e309) is out_of_range.
    return Error::make(ErrorKind::invalid_argument, "config '{}': not JSON: {}", file, e.what());
  }
  BERTH_TRY_VOID(only_keys(c, "$", doc, {"routes"}));
  RouteTable table;
  auto routes = doc.find("routes");
  if (routes == doc.end()) return table;
  if (!routes->is_array()) return c.fail("routes", "must be a list", *routes);
  for (size_t i = 0; i < routes->size(); ++i) {
    BERTH_TRY(auto r, parse_route(c, fmt::format("routes[{}]", i), (*routes)[i]));
    table.routes.push_back(std::move(r));
  }
  return table;
}

Result<RouteTable> load_static_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::from_errno("read config '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_static_config(ss.str(), path);
}

Result<void> StaticFileSource::run(const std::function<void(RouteTable)>& publish,
                                   std::stop_token stop) {
  uint64_t generation = 1;
  BERTH_TRY(auto first, load_static_config(path_));
  first.generation = generation++;
  publish(std::move(first));
  const auto slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash);
  const std::string base = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  UniqueFd fd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (fd.get() < 0) return Error::from_errno("inotify_init1 for config '{}'", path_);
  if (::inotify_add_watch(fd.get(), dir.c_str(),
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY) < 0) {
    return Error::from_errno("watch directory '{}' of config '{}'", dir, path_);
  }
  bool dirty = false;
  while (!stop.stop_requested()) {
    pollfd p{fd.get(), POLLIN, 0};
    // A short poll: stop requests are seen within 50 ms; a change is read after its writer's
    // burst of events (IN_MODIFY ... IN_CLOSE_WRITE) has settled for 20 ms.
    const int n = ::poll(&p, 1, dirty ? 20 : 50);
    if (n > 0) {
      alignas(inotify_event) char buf[8192];
      const ssize_t len = ::read(fd.get(), buf, sizeof buf);
      for (ssize_t off = 0; off < len;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        if (ev->len > 0 && base == ev->name) dirty = true;
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      }
      continue;
    }
    if (!dirty) continue;
    dirty = false;
    auto table = load_static_config(path_);
    if (!table) {
      log::warn(fmt::format("{} (keeping the previous routes)", table.error().message()));
      continue;
    }
    table->generation = generation++;
    publish(std::move(*table));
  }
  return {};
}

}  // namespace berth::proxy
