// proxy_routes: the proxy's routes from containers' labels and VIRTUAL_HOST environment
// (proxy/labels.h), and which route takes a request (proxy/match.h: host, wildcard, path prefix
// and glob, methods, headers, priority). The input is cut at 0x01 bytes: three containers, then
// a request's Host, path, method and header lines ("Name: value"), then a glob matched against
// the path. A container's lines are KEY=VALUE: a key with a '.' is a label, any other line an
// environment entry. The route a request gets must satisfy every condition match.h lists, and
// no route that satisfies them may have a higher priority.
#include <algorithm>

#include "fuzz_util.h"
#include "proxy/labels.h"
#include "proxy/match.h"

namespace {

using namespace berth;
using namespace berth::proxy;

ContainerView container_from(std::string_view text, int index) {
  ContainerView c;
  static const char* const kNames[] = {"web-1", "shop-web-1", "api-1"};
  c.name = kNames[index];
  c.id = "id-" + c.name;
  if (index == 1) c.project = "shop", c.service = "web";
  c.addresses = {{"bridge", index == 2 ? "fd00::5" : "10.88.0." + std::to_string(index + 2)}};
  if (index == 1) c.exposed_ports = {8080};
  if (index == 2) c.exposed_ports = {80, 443};
  c.running = index != 2 || text.size() % 2 == 0;
  c.has_health_check = index == 1;
  c.health = "healthy";
  for (auto line : fuzz::pieces(text, '\n')) {
    auto eq = line.find('=');
    std::string_view key = line.substr(0, eq);
    if (eq != std::string_view::npos && key.find('.') != std::string_view::npos)
      c.labels[std::string(key)] = std::string(line.substr(eq + 1));
    else if (!line.empty())
      c.env.emplace_back(line);
  }
  return c;
}

bool ieq(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// match.h's conditions, restated: does `r` take `q`?
bool satisfies(const Route& r, const RequestView& q) {
  if (r.mode != Mode::http) return false;
  if (!r.entrypoint.empty() && r.entrypoint != q.entrypoint) return false;
  if (r.tls && !q.tls && !r.redirect_https) return false;
  if (!r.match.hosts.empty()) {
    std::string host = normalise_host(q.host);
    if (host.size() > 256) host.clear();  // the matcher's buffer; longer than any DNS name
    bool any = false;
    for (const auto& h : r.match.hosts) {
      std::string want = normalise_host(h);
      if (want.starts_with("*."))
        any |= host.size() > want.size() - 1 && host.ends_with(want.substr(1));
      else
        any |= !host.empty() && host == want;
    }
    if (!any) return false;
  }
  const std::string& prefix = r.match.path_prefix;
  if (!prefix.empty()) {
    if (!q.path.starts_with(prefix)) return false;
    if (q.path.size() != prefix.size() && prefix.back() != '/' && q.path[prefix.size()] != '/')
      return false;
  }
  if (!r.match.path_glob.empty() && !glob_match(r.match.path_glob, q.path)) return false;
  if (!r.match.methods.empty() &&
      std::find(r.match.methods.begin(), r.match.methods.end(), q.method) == r.match.methods.end())
    return false;
  for (const auto& [name, value] : r.match.headers) {
    bool found = false;
    for (const auto& [n, v] : q.headers) found |= ieq(n, name) && v == value;
    if (!found) return false;
  }
  return true;
}

void check_match(const RouteTable& table, const RouteMatcher& matcher, const RequestView& q) {
  const Route* got = matcher.match(q);
  if (got != match_route(table, q)) fuzz::violated("match_route and RouteMatcher disagree");
  if (got && !satisfies(*got, q)) fuzz::violated("the route taken does not match", got->service);
  for (const auto& r : table.routes) {
    if (!satisfies(r, q)) continue;
    if (!got) fuzz::violated("a matching route was not taken", r.service);
    if (r.priority > got->priority)
      fuzz::violated("a route of higher priority was passed over", r.service);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = fuzz::pieces(fuzz::as_text(data, size), '\x01', 8);
  while (parts.size() < 8) parts.emplace_back();

  std::vector<ContainerView> containers;
  for (int i = 0; i < 3; ++i) containers.push_back(container_from(parts[i], i));
  LabelRoutes routes = routes_from_containers(containers);
  for (const auto& p : routes.problems) (void)p.text();
  for (const auto& c : routes.conflicts) (void)c.text();
  for (const auto& r : routes.table.routes) {
    if (r.service.empty()) fuzz::violated("a route without a service");
    for (const auto& b : r.backends)
      if (b.weight < 1 || b.address.empty()) fuzz::violated("a bad backend", b.address);
  }

  std::vector<std::pair<std::string_view, std::string_view>> headers;
  for (auto line : fuzz::pieces(parts[6], '\n', 16)) {
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (value.starts_with(' ')) value.remove_prefix(1);
    headers.emplace_back(line.substr(0, colon), value);
  }
  RouteMatcher matcher(routes.table);
  for (bool tls : {false, true}) {
    RequestView q{tls ? "websecure" : "web", tls, parts[3], parts[4], parts[5], headers};
    check_match(routes.table, matcher, q);
  }
  (void)matcher.match_tcp("db");
  (void)glob_match(parts[7], parts[4]);
  (void)normalise_host(parts[3]);
  return 0;
}
