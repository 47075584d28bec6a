#include <gtest/gtest.h>

#include "proxy/match.h"

namespace berth::proxy {
namespace {

Route route(std::string service, std::vector<std::string> hosts = {}, std::string prefix = {}) {
  Route r;
  r.service = std::move(service);
  r.match.hosts = std::move(hosts);
  r.match.path_prefix = std::move(prefix);
  return r;
}

std::string service_of(const RouteTable& t, std::string_view host, std::string_view path,
                       std::string_view method = "GET", std::string_view entrypoint = "http",
                       bool tls = false) {
  const Route* r = match_route(t, {entrypoint, tls, host, path, method, {}});
  return r ? r->service : "<none>";
}

TEST(ProxyMatch, ExactHostBeatsWildcardBeatsAny) {
  RouteTable t;
  t.routes = {route("any"), route("wild", {"*.example"}), route("exact", {"shop.example"})};
  EXPECT_EQ(service_of(t, "shop.example", "/"), "exact");
  EXPECT_EQ(service_of(t, "SHOP.Example:8080", "/"), "exact");
  EXPECT_EQ(service_of(t, "blog.example", "/"), "wild");
  EXPECT_EQ(service_of(t, "a.b.example", "/"), "wild");
  EXPECT_EQ(service_of(t, "example", "/"), "any");
  EXPECT_EQ(service_of(t, "other.org", "/"), "any");
}

TEST(ProxyMatch, LongerWildcardSuffixWins) {
  RouteTable t;
  t.routes = {route("short", {"*.example"}), route("long", {"*.shop.example"})};
  EXPECT_EQ(service_of(t, "a.shop.example", "/"), "long");
  EXPECT_EQ(service_of(t, "a.blog.example", "/"), "short");
}

TEST(ProxyMatch, PathPrefixIsSegmentAwareAndLongestWins) {
  RouteTable t;
  t.routes = {route("root", {}, "/"), route("api", {}, "/api"), route("v2", {}, "/api/v2")};
  EXPECT_EQ(service_of(t, "h", "/api"), "api");
  EXPECT_EQ(service_of(t, "h", "/api/x"), "api");
  EXPECT_EQ(service_of(t, "h", "/apix"), "root");
  EXPECT_EQ(service_of(t, "h", "/api/v2/users"), "v2");
}

TEST(ProxyMatch, PriorityBeatsSpecificity) {
  RouteTable t;
  t.routes = {route("specific", {"shop.example"}, "/api"), route("loud")};
  t.routes[1].priority = 10;
  EXPECT_EQ(service_of(t, "shop.example", "/api"), "loud");
}

TEST(ProxyMatch, TiesGoToTableOrder) {
  RouteTable t;
  t.routes = {route("first", {"a.example"}), route("second", {"a.example"})};
  EXPECT_EQ(service_of(t, "a.example", "/"), "first");
}

TEST(ProxyMatch, GlobMethodsAndHeaders) {
  RouteTable t;
  Route styles = route("styles");
  styles.match.path_glob = "/styles/*.*";
  Route posts = route("posts", {}, "/");
  posts.match.methods = {"POST"};
  Route beta = route("beta", {}, "/");
  beta.match.headers = {{"X-Env", "beta"}};
  t.routes = {route("fallback", {}, "/"), styles, posts, beta};
  EXPECT_EQ(service_of(t, "h", "/styles/site.css"), "styles");
  EXPECT_EQ(service_of(t, "h", "/styles/readme"), "fallback");
  EXPECT_EQ(service_of(t, "h", "/form", "POST"), "posts");
  std::vector<std::pair<std::string_view, std::string_view>> headers = {{"x-env", "beta"}};
  const Route* r = match_route(t, {"http", false, "h", "/x", "GET", headers});
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->service, "beta");
}

TEST(ProxyMatch, EntrypointTlsAndTcpRoutes) {
  RouteTable t;
  Route admin = route("admin");
  admin.entrypoint = "admin";
  Route secure = route("secure", {"s.example"});
  secure.tls = true;
  Route redis = route("redis");
  redis.mode = Mode::tcp;
  redis.entrypoint = "redis";
  t.routes = {admin, secure, redis};
  EXPECT_EQ(service_of(t, "h", "/", "GET", "admin"), "admin");
  EXPECT_EQ(service_of(t, "h", "/", "GET", "http"), "<none>");
  EXPECT_EQ(service_of(t, "s.example", "/", "GET", "https", true), "secure");
  EXPECT_EQ(service_of(t, "s.example", "/", "GET", "http", false), "<none>");
  RouteMatcher m(t);
  ASSERT_NE(m.match_tcp("redis"), nullptr);
  EXPECT_EQ(m.match_tcp("redis")->service, "redis");
  EXPECT_EQ(m.match_tcp("http"), nullptr);
}

TEST(ProxyMatch, GlobMatch) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("/a/*.css", "/a/b/c.css"));
  EXPECT_FALSE(glob_match("/a/*.css", "/a/b.js"));
  EXPECT_TRUE(glob_match("*/styles/*", "/x/styles/y"));
}

}  // namespace
}  // namespace berth::proxy
