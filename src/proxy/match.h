// proxy/match.h — which route takes a request. Routes are ordered by priority (higher first),
// then by specificity, then by their order in the table; the first route whose every condition
// holds wins. Specificity, most specific first:
//   1. host: an exact host over a wildcard (a longer wildcard suffix over a shorter) over none;
//   2. a longer path prefix over a shorter one (none, and "/", count as length 0);
//   3. a path glob over none (a longer glob over a shorter);
//   4. a method list over none;
//   5. more header conditions over fewer.
// A RouteMatcher precomputes this order and an index of exact hosts once per table, so that
// matching a request costs a hash lookup and a walk over the few candidate routes.
// Thread-safety: a RouteMatcher is immutable after construction; match() may run concurrently.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proxy/routes.h"

namespace berth::proxy {

// What match_route looks at in a request. Views, valid for the call only.
struct RequestView {
  std::string_view entrypoint;  // the listener's name
  bool tls = false;             // arrived on a TLS listener
  std::string_view host;        // the Host header as sent: any case, may carry ":port"
  std::string_view path;        // the request target's path, without the query
  std::string_view method;
  std::span<const std::pair<std::string_view, std::string_view>> headers;  // name, value
};

class RouteMatcher {
 public:
  // `table` must outlive the matcher; the matcher keeps pointers into it.
  explicit RouteMatcher(const RouteTable& table);

  // The route for an HTTP request, or nullptr. Routes on another entrypoint, tcp routes and, for
  // a plain request, tls-only routes are skipped (a tls route with redirect_https still matches a
  // plain request: the server answers it with the redirect).
  const Route* match(const RequestView& request) const;

  // The tcp route of an entrypoint (the first by priority and order), or nullptr.
  const Route* match_tcp(std::string_view entrypoint) const;

  // True if some route on some entrypoint matches on headers (the server then collects them).
  bool needs_headers() const { return needs_headers_; }

 private:
  struct Entry {
    const Route* route;
    std::vector<std::string> exact_hosts;     // lower-case
    std::vector<std::string> wildcard_hosts;  // lower-case suffixes including the dot: ".example"
    uint32_t rank;                            // position in the overall order
  };
  bool matches(const Entry& entry, std::string_view host, const RequestView& request) const;

  std::vector<Entry> entries_;                  // in match order
  std::vector<uint32_t> hostless_or_wildcard_;  // entry indexes in order
  std::unordered_map<std::string, std::vector<uint32_t>> by_exact_host_;
  bool needs_headers_ = false;
};

// One-shot form: builds a matcher for the call (tests and cold paths).
const Route* match_route(const RouteTable& table, const RequestView& request);

// True if `text` matches `glob`, where `*` matches any run of characters (also '/').
bool glob_match(std::string_view glob, std::string_view text);

// "Shop.Example:8080" → "shop.example" (also strips a trailing dot and IPv6 brackets' port).
std::string normalise_host(std::string_view host);

}  // namespace berth::proxy
