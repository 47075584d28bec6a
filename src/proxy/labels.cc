// proxy/labels.cc — containers' labels and VIRTUAL_HOST into routes (see labels.h).
#include "proxy/labels.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace berth::proxy {
namespace {

constexpr std::string_view kPrefix = "berth.proxy.";
constexpr std::string_view kHeaderPrefix = "berth.proxy.header.";

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t comma = s.find(',', start);
    out.push_back(trim(s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::optional<int> parse_int(std::string_view s) {
  int value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return value;
}

// "2s", "500ms", "1m" → milliseconds.
std::optional<int> parse_duration_ms(std::string_view s) {
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  auto n = parse_int(s.substr(0, digits));
  if (!n) return std::nullopt;
  std::string_view unit = s.substr(digits);
  int64_t ms;
  if (unit == "ms") ms = *n;
  else if (unit == "s") ms = int64_t{*n} * 1000;
  else if (unit == "m") ms = int64_t{*n} * 60'000;
  else return std::nullopt;
  if (ms <= 0 || ms > 3'600'000) return std::nullopt;
  return static_cast<int>(ms);
}

std::optional<bool> parse_bool(std::string_view s) {
  std::string v = lower(std::string(s));
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return std::nullopt;
}

// RFC 7230 token characters: header names, methods, cookie names.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool is_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  return true;
}

// A host as a route matches it: "shop.example" or "*.example" (lower case, no port). "*" alone
// means any host and comes back empty.
std::optional<std::string> host_error(const std::string& host) {
  if (host.empty()) return "empty host in the list";
  if (host == "*") return std::nullopt;
  std::string_view rest = host;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (rest.empty()) return fmt::format("host '{}' has nothing after the wildcard", host);
  if (rest.find(':') != std::string_view::npos)
    return fmt::format("host '{}' has a port: routes match the host name only", host);
  if (rest.find('*') != std::string_view::npos)
    return fmt::format("host '{}': only a leading '*.' wildcard is supported", host);
  for (char c : rest)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
      return fmt::format("host '{}' has a character that is not allowed in a host name ('{}')", host, c);
  if (rest.front() == '.' || rest.back() == '.' || rest.find("..") != std::string_view::npos)
    return fmt::format("host '{}' has an empty label", host);
  return std::nullopt;
}

// Path prefixes lose trailing slashes ("/api/" matches as "/api"); "/" alone means any path.
std::string normal_prefix(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path == "/") path.clear();
  return path;
}

struct Parsed {
  std::string group;
  std::vector<Route> routes;  // without backends
  int port = 0;
  int weight = 1;
  std::string network;
  bool ok = true;
};

class Parser {
 public:
  Parser(const ContainerView& c, std::vector<LabelProblem>& problems) : c_(c), problems_(problems) {}

  void problem(std::string label, std::string value, std::string message, bool env = false) {
    problems_.push_back({c_.name, env ? fmt::format("env {}", label) : std::move(label), std::move(value),
                         std::move(message)});
    ok_ = false;
  }

  std::optional<Parsed> parse() {
    std::optional<std::string> virtual_host = env("VIRTUAL_HOST");
    bool any_label = false;
    std::optional<bool> enable;
    for (const auto& [key, value] : c_.labels) {
      if (!key.starts_with(kPrefix)) continue;
      if (key == "berth.proxy.enable") {
        enable = parse_bool(value);
        if (!enable) problem(key, value, "not a boolean (true or false)");
        continue;
      }
      any_label = true;
    }
    if (enable == false) return std::nullopt;
    if (!any_label && !enable && (!virtual_host || virtual_host->empty())) return std::nullopt;

    Parsed p;
    Route base;
    bool has_match_label = false;
    std::vector<std::string> hosts;
    std::optional<std::string> vh_weight_text;
    int check_fields = 0;
    for (const auto& [key, value] : c_.labels) {
      if (!key.starts_with(kPrefix) || key == "berth.proxy.enable") continue;
      std::string_view name = std::string_view(key).substr(kPrefix.size());
      if (key.starts_with(kHeaderPrefix)) {
        std::string header = key.substr(kHeaderPrefix.size());
        if (!is_token(header)) problem(key, value, "the header name after 'berth.proxy.header.' is not a valid name");
        else base.match.headers.emplace_back(lower(header), value);
        has_match_label = true;
      } else if (name == "host") {
        has_match_label = true;
        for (auto& h : split_list(value)) {
          h = lower(h);
          if (auto e = host_error(h)) problem(key, value, *e);
          else if (h != "*") hosts.push_back(h);
          else hosts.push_back("*");
        }
      } else if (name == "path") {
        has_match_label = true;
        if (!value.starts_with("/")) problem(key, value, "a path starts with '/'");
        else if (value.find('*') != std::string::npos) base.match.path_glob = value;
        else base.match.path_prefix = normal_prefix(value);
      } else if (name == "method") {
        has_match_label = true;
        for (auto& m : split_list(value)) {
          if (!is_token(m)) problem(key, value, fmt::format("'{}' is not an HTTP method", m));
          else base.match.methods.push_back(upper(m));
        }
      } else if (name == "port") {
        auto n = parse_int(value);
        if (!n || *n < 1 || *n > 65535) problem(key, value, "not a port (1-65535)");
        else p.port = *n;
      } else if (name == "weight") {
        auto n = parse_int(value);
        if (!n || *n < 1 || *n > 1000) problem(key, value, "not a weight (1-1000)");
        else p.weight = *n;
      } else if (name == "priority") {
        auto n = parse_int(value);
        if (!n) problem(key, value, "not an integer");
        else base.priority = *n;
      } else if (name == "tls" || name == "redirect-https") {
        auto b = parse_bool(value);
        if (!b) problem(key, value, "not a boolean (true or false)");
        else (name == "tls" ? base.tls : base.redirect_https) = *b;
      } else if (name == "entrypoint") {
        if (!is_name(value)) problem(key, value, "not an entrypoint name (letters, digits, '_', '-', '.')");
        else base.entrypoint = value;
      } else if (name == "mode") {
        if (value == "http") base.mode = Mode::http;
        else if (value == "tcp") base.mode = Mode::tcp;
        else problem(key, value, "not a mode (http or tcp)");
      } else if (name == "balance") {
        if (value == "roundrobin") base.balance = Balance::round_robin;
        else if (value == "leastconn") base.balance = Balance::least_connections;
        else problem(key, value, "not a balance (roundrobin or leastconn)");
      } else if (name == "sticky") {
        if (!is_token(value)) problem(key, value, "not a cookie name");
        else base.sticky_cookie = value;
      } else if (name == "service") {
        if (!is_name(value)) problem(key, value, "not a service name (letters, digits, '_', '-', '.')");
        else p.group = value;
      } else if (name == "network") {
        if (!is_name(value)) problem(key, value, "not a network name");
        else p.network = value;
      } else if (name == "check.path") {
        ++check_fields;
        if (!value.starts_with("/")) problem(key, value, "a path starts with '/'");
        else {
          base.check.kind = HealthCheck::Kind::http;
          base.check.path = value;
        }
      } else if (name == "check.interval" || name == "check.timeout") {
        ++check_fields;
        auto ms = parse_duration_ms(value);
        if (!ms) problem(key, value, "not a duration (such as 2s or 500ms, at most 1h)");
        else (name == "check.interval" ? base.check.interval_ms : base.check.timeout_ms) = *ms;
      } else if (name == "check.rise" || name == "check.fall") {
        ++check_fields;
        auto n = parse_int(value);
        if (!n || *n < 1 || *n > 100) problem(key, value, "not a count (1-100)");
        else (name == "check.rise" ? base.check.rise : base.check.fall) = *n;
      } else {
        problem(key, value,
                fmt::format("unknown label (known: {})", fmt::join(known_labels(), ", ")));
      }
    }
    if (check_fields > 0 && base.check.kind == HealthCheck::Kind::none) base.check.kind = HealthCheck::Kind::tcp;
    if (base.mode == Mode::tcp) {
      if (has_match_label)
        problem("berth.proxy.mode", "tcp",
                "host, path, method and header labels apply to mode=http only (a tcp route takes "
                "every connection of its entrypoint)");
      if (!base.sticky_cookie.empty()) problem("berth.proxy.sticky", base.sticky_cookie, "cookies need mode=http");
      if (base.check.kind == HealthCheck::Kind::http)
        problem("berth.proxy.check.path", base.check.path, "an HTTP check needs mode=http");
    }
    if (base.redirect_https && base.tls)
      problem("berth.proxy.redirect-https", "true",
              "a tls=true route is served on TLS listeners only: there is nothing to redirect");

    if (p.group.empty()) {
      if (!c_.service.empty()) p.group = c_.project.empty() ? c_.service : c_.project + "_" + c_.service;
      else p.group = c_.name;
    }
    base.service = p.group;

    if (has_match_label || base.mode == Mode::tcp || !virtual_host || virtual_host->empty()) {
      bool any_host = std::find(hosts.begin(), hosts.end(), "*") != hosts.end();
      if (!any_host) base.match.hosts = hosts;
      p.routes.push_back(base);
    } else {
      if (auto w = env("VIRTUAL_HOST_WEIGHT"); w && !c_.labels.contains("berth.proxy.priority")) {
        auto n = parse_int(*w);
        if (!n) problem("VIRTUAL_HOST_WEIGHT", *w, "not an integer", true);
        else base.priority = *n;
      }
      parse_virtual_host(*virtual_host, base, p.routes);
    }
    p.ok = ok_;
    return p;
  }

 private:
  std::optional<std::string> env(std::string_view name) const {
    const std::string* found = nullptr;
    for (const auto& e : c_.env)  // the last one wins, as in a process's environment
      if (e.size() > name.size() && e.starts_with(name) && e[name.size()] == '=') found = &e;
    if (!found) return std::nullopt;
    return found->substr(name.size() + 1);
  }

  // "[scheme://]host[:port][/path]" entries, comma separated. Entries that differ only in host
  // share a route.
  void parse_virtual_host(const std::string& text, const Route& base, std::vector<Route>& routes) {
    std::string value = text;
    for (const auto& entry : split_list(value)) {
      if (entry.empty()) {
        problem("VIRTUAL_HOST", value, "empty entry in the list", true);
        continue;
      }
      std::string_view rest = entry;
      bool tls = base.tls;
      if (auto colon = rest.find("://"); colon != std::string_view::npos) {
        std::string scheme = lower(std::string(rest.substr(0, colon)));
        if (scheme == "https" || scheme == "wss") tls = true;
        else if (scheme == "http" || scheme == "ws") tls = false;
        else {
          problem("VIRTUAL_HOST", value, fmt::format("'{}': scheme '{}' is not http, https, ws or wss", entry, scheme),
                  true);
          continue;
        }
        rest.remove_prefix(colon + 3);
      }
      size_t slash = rest.find('/');
      std::string host = lower(std::string(rest.substr(0, slash)));
      std::string path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
      // The port names the frontend port in the haproxy image; berth's listeners say which port
      // they serve, so it is checked and otherwise ignored.
      if (auto colon = host.rfind(':'); colon != std::string::npos) {
        auto port = parse_int(std::string_view(host).substr(colon + 1));
        if (!port || *port < 1 || *port > 65535) {
          problem("VIRTUAL_HOST", value, fmt::format("'{}': not a port after ':'", entry), true);
          continue;
        }
        host.resize(colon);
      }
      if (host.empty()) host.push_back('*');  // "/path" alone: any host
      if (auto e = host_error(host)) {
        problem("VIRTUAL_HOST", value, fmt::format("'{}': {}", entry, *e), true);
        continue;
      }
      Route r = base;
      r.tls = tls;
      if (path.find('*') != std::string::npos) r.match.path_glob = path;
      else r.match.path_prefix = normal_prefix(path);
      auto same = std::find_if(routes.begin(), routes.end(), [&](const Route& o) {
        return o.tls == r.tls && o.match.path_glob == r.match.path_glob &&
               o.match.path_prefix == r.match.path_prefix;
      });
      if (same == routes.end()) {
        if (host != "*") r.match.hosts.push_back(host);
        else r.match.hosts.push_back("*");
        routes.push_back(std::move(r));
      } else {
        same->match.hosts.push_back(host);
      }
    }
    // "*" among a route's hosts: any host.
    for (auto& r : routes)
      if (std::find(r.match.hosts.begin(), r.match.hosts.end(), "*") != r.match.hosts.end()) r.match.hosts.clear();
  }

  const ContainerView& c_;
  std::vector<LabelProblem>& problems_;
  bool ok_ = true;
};

// Everything of a route but its service name's instances: the key under which instances merge.
std::string match_key(const Route& r) {
  std::vector<std::string> hosts = r.match.hosts, methods = r.match.methods;
  auto headers = r.match.headers;
  std::sort(hosts.begin(), hosts.end());
  std::sort(methods.begin(), methods.end());
  std::sort(headers.begin(), headers.end());
  std::string h;
  for (const auto& [k, v] : headers) h += fmt::format("{}={}\n", k, v);
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}", r.service, r.entrypoint, static_cast<int>(r.mode),
                     r.priority, r.tls, fmt::join(hosts, ","), r.match.path_prefix, r.match.path_glob,
                     fmt::join(methods, ","), h);
}

bool same_match_but_hosts(const Route& a, const Route& b) {
  auto sorted = [](auto v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  bool entry = a.entrypoint.empty() || b.entrypoint.empty() || a.entrypoint == b.entrypoint;
  return entry && a.mode == b.mode && a.priority == b.priority && a.tls == b.tls &&
         a.match.path_prefix == b.match.path_prefix && a.match.path_glob == b.match.path_glob &&
         sorted(a.match.methods) == sorted(b.match.methods) && sorted(a.match.headers) == sorted(b.match.headers);
}

}  // namespace

std::string LabelProblem::text() const {
  std::string kind = label.starts_with("env ") ? "" : "label ";
  return fmt::format("{}: {}{}=\"{}\": {}", container, kind, label, value, message);
}

std::string RouteConflict::text() const {
  std::string where = entrypoint.empty() ? "" : fmt::format(" on entrypoint {}", entrypoint);
  return fmt::format("host {} path {}{}: claimed by services {} with the same priority; {} wins (first by name)",
                     host.empty() ? "*" : host, path.empty() ? "/" : path, where, fmt::join(services, ", "),
                     services.front());
}

const std::vector<std::string>& known_labels() {
  static const std::vector<std::string> labels = {
      "berth.proxy.enable",     "berth.proxy.host",           "berth.proxy.path",         "berth.proxy.method",
      "berth.proxy.header.*",   "berth.proxy.port",           "berth.proxy.weight",       "berth.proxy.priority",
      "berth.proxy.tls",        "berth.proxy.redirect-https", "berth.proxy.entrypoint",   "berth.proxy.mode",
      "berth.proxy.balance",    "berth.proxy.sticky",         "berth.proxy.service",      "berth.proxy.network",
      "berth.proxy.check.path", "berth.proxy.check.interval", "berth.proxy.check.timeout", "berth.proxy.check.rise",
      "berth.proxy.check.fall"};
  return labels;
}

LabelRoutes routes_from_containers(const std::vector<ContainerView>& input) {
  LabelRoutes out;
  std::vector<const ContainerView*> containers;
  for (const auto& c : input) containers.push_back(&c);
  std::sort(containers.begin(), containers.end(),
            [](const ContainerView* a, const ContainerView* b) { return a->name < b->name; });

  std::vector<std::string> keys;  // parallel to out.table.routes
  for (const ContainerView* c : containers) {
    Parser parser(*c, out.problems);
    auto parsed = parser.parse();
    if (!parsed || !parsed->ok) continue;
    std::optional<Backend> backend;
    if (c->running) {
      const ContainerView::Address* address = nullptr;
      for (const auto& a : c->addresses)
        if (parsed->network.empty() || a.network == parsed->network) {
          address = &a;
          break;
        }
      if (!address) {
        if (parsed->network.empty())
          out.problems.push_back({c->name, "berth.proxy.network", "",
                                  "the container has no address on a network (network none or host): run it on a "
                                  "bridge network"});
        else
          out.problems.push_back({c->name, "berth.proxy.network", parsed->network,
                                  "the container is not on this network"});
        continue;
      }
      int port = parsed->port;
      if (port == 0) {
        if (c->exposed_ports.size() == 1) port = c->exposed_ports.front();
        else if (c->exposed_ports.empty()) port = 80;
        else {
          out.problems.push_back({c->name, "berth.proxy.port", "",
                                  fmt::format("the image exposes several ports ({}): say which one with "
                                              "berth.proxy.port",
                                              fmt::join(c->exposed_ports, ", "))});
          continue;
        }
      }
      Backend b;
      b.id = c->id;
      b.name = c->name;
      b.address = address->ip.find(':') != std::string::npos ? fmt::format("[{}]:{}", address->ip, port)
                                                               : fmt::format("{}:{}", address->ip, port);
      b.weight = parsed->weight;
      b.draining = c->stopping;
      b.healthy = !c->stopping && (!c->has_health_check || c->health == "healthy");
      backend = std::move(b);
    }
    for (auto& route : parsed->routes) {
      std::string key = match_key(route);
      auto at = std::find(keys.begin(), keys.end(), key);
      if (at == keys.end()) {
        keys.push_back(key);
        out.table.routes.push_back(std::move(route));
        at = keys.end() - 1;
      }
      if (backend) out.table.routes[static_cast<size_t>(at - keys.begin())].backends.push_back(*backend);
    }
  }
  // By group name (stable: within a group, the first container by name decides the order).
  std::vector<size_t> order(out.table.routes.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return out.table.routes[a].service < out.table.routes[b].service;
  });
  std::vector<Route> sorted;
  for (size_t i : order) sorted.push_back(std::move(out.table.routes[i]));
  out.table.routes = std::move(sorted);

  // Conflicts: groups that claim one host (or any host) with an equal match and priority.
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<std::string>> claims;
  const auto& routes = out.table.routes;
  for (size_t i = 0; i < routes.size(); ++i)
    for (size_t j = i + 1; j < routes.size(); ++j) {
      const Route& a = routes[i];
      const Route& b = routes[j];
      if (a.service == b.service || !same_match_but_hosts(a, b)) continue;
      std::vector<std::string> common;
      if (a.mode == Mode::tcp || (a.match.hosts.empty() && b.match.hosts.empty())) common.push_back("");
      else
        for (const auto& h : a.match.hosts)
          if (std::find(b.match.hosts.begin(), b.match.hosts.end(), h) != b.match.hosts.end()) common.push_back(h);
      std::string path = a.match.path_glob.empty() ? a.match.path_prefix : a.match.path_glob;
      std::string entry = a.entrypoint.empty() ? b.entrypoint : a.entrypoint;
      for (const auto& h : common) {
        auto& services = claims[{entry, h, path}];
        for (const auto* s : {&a.service, &b.service})
          if (std::find(services.begin(), services.end(), *s) == services.end()) services.push_back(*s);
      }
    }
  for (auto& [where, services] : claims) {
    std::sort(services.begin(), services.end());
    out.conflicts.push_back({std::get<0>(where), std::get<1>(where), std::get<2>(where), services});
  }
  return out;
}

}  // namespace berth::proxy
