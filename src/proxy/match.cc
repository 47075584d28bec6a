#include "proxy/match.h"

#include <algorithm>
#include <tuple>

namespace berth::proxy {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool prefix_matches(std::string_view prefix, std::string_view path) {
  if (prefix.empty()) return true;
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

// Lower-cases `host` into `out` without its port; false if it does not fit.
std::string_view host_key(std::string_view host, char* out, size_t cap) {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.size() > cap) return {};
  for (size_t i = 0; i < host.size(); ++i) out[i] = lower(host[i]);
  return {out, host.size()};
}

}  // namespace

std::string normalise_host(std::string_view host) {
  std::string out(host.size(), '\0');
  const auto key = host_key(host, out.data(), out.size());
  out.resize(key.size());
  return out;
}

bool glob_match(std::string_view glob, std::string_view text) {
  size_t g = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = t;
    } else if (g < glob.size() && glob[g] == text[t]) {
      ++g;
      ++t;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

RouteMatcher::RouteMatcher(const RouteTable& table) {
  // One candidate per (route, host): a route's specificity is that of the host it matched by.
  struct Candidate {
    const Route* route;
    uint32_t index;
    int host_class;  // 2 exact, 1 wildcard, 0 any
    std::string host;
  };
  std::vector<Candidate> candidates;
  for (uint32_t i = 0; i < table.routes.size(); ++i) {
    const Route& r = table.routes[i];
    if (!r.match.headers.empty()) needs_headers_ = true;
    if (r.match.hosts.empty()) {
      candidates.push_back({&r, i, 0, {}});
      continue;
    }
    for (const auto& h : r.match.hosts) {
      std::string host = normalise_host(h);
      if (host.starts_with("*.")) {
        candidates.push_back({&r, i, 1, host.substr(1)});
      } else {
        candidates.push_back({&r, i, 2, std::move(host)});
      }
    }
  }
  auto key = [](const Candidate& c) {
    const RouteMatch& m = c.route->match;
    // Larger is more specific; negated index keeps table order among equals.
    // A prefix of "/" matches every path: no more specific than none.
    const size_t prefix = m.path_prefix == "/" ? 0 : m.path_prefix.size();
    return std::make_tuple(c.route->priority, c.host_class, c.host.size(), prefix,
                           !m.path_glob.empty(), m.path_glob.size(), !m.methods.empty(),
                           m.headers.size(), -static_cast<int64_t>(c.index));
  };
  std::stable_sort(candidates.begin(), candidates.end(),
                   [&](const Candidate& a, const Candidate& b) { return key(a) > key(b); });
  entries_.reserve(candidates.size());
  for (auto& c : candidates) {
    const auto rank = static_cast<uint32_t>(entries_.size());
    Entry e{c.route, {}, {}, rank};
    if (c.host_class == 2) {
      by_exact_host_[c.host].push_back(rank);
      e.exact_hosts.push_back(std::move(c.host));
    } else {
      if (c.host_class == 1) e.wildcard_hosts.push_back(std::move(c.host));
      hostless_or_wildcard_.push_back(rank);
    }
    entries_.push_back(std::move(e));
  }
}

bool RouteMatcher::matches(const Entry& entry, std::string_view host,
                           const RequestView& request) const {
  const Route& r = *entry.route;
  if (r.mode != Mode::http) return false;
  if (!r.entrypoint.empty() && r.entrypoint != request.entrypoint) return false;
  if (r.tls && !request.tls && !r.redirect_https) return false;
  if (!entry.wildcard_hosts.empty()) {
    const std::string& suffix = entry.wildcard_hosts.front();
    if (host.size() <= suffix.size() || !host.ends_with(suffix)) return false;
  }
  const RouteMatch& m = r.match;
  if (!prefix_matches(m.path_prefix, request.path)) return false;
  if (!m.path_glob.empty() && !glob_match(m.path_glob, request.path)) return false;
  if (!m.methods.empty() &&
      std::find(m.methods.begin(), m.methods.end(), request.method) == m.methods.end()) {
    return false;
  }
  for (const auto& [name, value] : m.headers) {
    bool found = false;
    for (const auto& [n, v] : request.headers) {
      if (v == value && iequals(n, name)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

const Route* RouteMatcher::match(const RequestView& request) const {
  char buf[256];
  const std::string_view host = host_key(request.host, buf, sizeof buf);
  static const std::vector<uint32_t> kNone;
  const std::vector<uint32_t>* exact = &kNone;
  if (!host.empty() && !by_exact_host_.empty()) {
    // A temporary string only for this lookup: g++ 12's unordered_map has no heterogeneous find.
    const auto it = by_exact_host_.find(std::string(host));
    if (it != by_exact_host_.end()) exact = &it->second;
  }
  size_t a = 0, b = 0;
  const auto& rest = hostless_or_wildcard_;
  while (a < exact->size() || b < rest.size()) {
    uint32_t rank;
    if (b >= rest.size() || (a < exact->size() && (*exact)[a] < rest[b])) {
      rank = (*exact)[a++];
    } else {
      rank = rest[b++];
    }
    const Entry& e = entries_[rank];
    if (matches(e, host, request)) return e.route;
  }
  return nullptr;
}

const Route* RouteMatcher::match_tcp(std::string_view entrypoint) const {
  for (const Entry& e : entries_) {
    const Route& r = *e.route;
    if (r.mode == Mode::tcp && (r.entrypoint.empty() || r.entrypoint == entrypoint)) return &r;
  }
  return nullptr;
}

const Route* match_route(const RouteTable& table, const RequestView& request) {
  return RouteMatcher(table).match(request);
}

}  // namespace berth::proxy
