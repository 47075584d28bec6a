#include <gtest/gtest.h>

#include "proxy/server.h"
#include "proxy/static_source.h"

namespace berth::proxy {
namespace {

TEST(ProxyStaticConfig, ParsesEveryField) {
  auto t = parse_static_config(R"({"routes": [{
    "service": "shop", "entrypoint": "web", "priority": 3, "tls": true, "redirect_https": true,
    "balance": "least_connections", "sticky_cookie": "SRV",
    "match": {"hosts": ["shop.example", "*.shop.example"], "path_prefix": "/api",
              "methods": ["GET"], "headers": {"X-Env": "beta"}},
    "check": {"kind": "http", "path": "/health", "interval_ms": 500, "rise": 1, "fall": 2},
    "backends": [{"address": "127.0.0.1:8080", "weight": 3, "name": "shop-1", "draining": true},
                 {"address": "localhost:8081"}]},
    {"service": "redis", "mode": "tcp", "entrypoint": "redis",
     "backends": [{"address": "[::1]:6379"}]}]})",
                               "t.json");
  ASSERT_TRUE(t) << t.error().message();
  ASSERT_EQ(t->routes.size(), 2u);
  const Route& r = t->routes[0];
  EXPECT_EQ(r.service, "shop");
  EXPECT_EQ(r.entrypoint, "web");
  EXPECT_EQ(r.priority, 3);
  EXPECT_TRUE(r.tls);
  EXPECT_TRUE(r.redirect_https);
  EXPECT_EQ(r.balance, Balance::least_connections);
  EXPECT_EQ(r.sticky_cookie, "SRV");
  EXPECT_EQ(r.match.hosts.size(), 2u);
  EXPECT_EQ(r.match.headers[0].first, "X-Env");
  EXPECT_EQ(r.check.kind, HealthCheck::Kind::http);
  EXPECT_EQ(r.check.interval_ms, 500);
  EXPECT_EQ(r.check.timeout_ms, 1000);  // default
  ASSERT_EQ(r.backends.size(), 2u);
  EXPECT_EQ(r.backends[0].weight, 3);
  EXPECT_EQ(r.backends[0].name, "shop-1");
  EXPECT_TRUE(r.backends[0].draining);
  EXPECT_EQ(r.backends[1].address, "127.0.0.1:8081");  // resolved
  EXPECT_EQ(r.backends[1].id, "localhost:8081");       // the id keeps what the file said
  EXPECT_EQ(t->routes[1].mode, Mode::tcp);
  EXPECT_EQ(t->routes[1].backends[0].address, "[::1]:6379");
}

void expect_error(std::string_view text, std::string_view want) {
  auto t = parse_static_config(text, "routes.json");
  ASSERT_FALSE(t) << text;
  EXPECT_NE(t.error().message().find(want), std::string::npos) << t.error().message();
  EXPECT_NE(t.error().message().find("config 'routes.json'"), std::string::npos);
}

TEST(ProxyStaticConfig, ErrorsNameThePathAndTheValue) {
  expect_error(R"({"routes": [{"service": "a", "backends": [{"address": "1.2.3.4:80"},
               {"address": "1.2.3.4:81", "weight": "two"}]}]})",
               R"(routes[0].backends[1].weight: must be an integer from 1 to 1000000, got "two")");
  expect_error(R"({"routes": [{"service": "a", "balance": "random"}]})",
               R"(routes[0].balance: must be "round_robin" or "least_connections", got "random")");
  expect_error(R"({"routes": [{"service": "a", "hosts": ["x"]}]})", "routes[0].hosts: unknown key");
  expect_error(R"({"routes": [{"service": "a", "backends": [{"address": "1.2.3.4"}]}]})",
               R"(routes[0].backends[0].address: must be HOST:PORT or [IPv6]:PORT, got "1.2.3.4")");
  expect_error(R"({"routes": [{"service": "a", "backends": [{"address": "1.2.3.4:0"}]}]})",
               "needs a port from 1 to 65535");
  expect_error(R"({"routes": [{"backends": []}]})", "routes[0].service: must name the service");
  expect_error(R"({"routes": [{"service": "a", "match": {"path_prefix": "api"}}]})",
               R"(routes[0].match.path_prefix: must start with '/', got "api")");
  expect_error(R"({"routes": [{"service": "a", "check": {"kind": "icmp"}}]})",
               R"(routes[0].check.kind: must be "none", "tcp" or "http", got "icmp")");
  expect_error("{not json", "not JSON");
  // nlohmann's out_of_range, not a parse_error: it escaped the handler and aborted the proxy.
  expect_error(R"({"routes": [{"service": "a", "priority": 1e309}]})", "not JSON");
  expect_error(R"({"route": []})", "$.route: unknown key");
}

TEST(ProxyStaticConfig, NamesGoThroughTheResolver) {
  const Resolver resolve = [](const std::string& host,
                              std::string& error) -> std::optional<std::string> {
    if (host == "web") return "10.88.0.5";
    if (host == "v6") return "fd00::5";
    error = "not known";
    return std::nullopt;
  };
  auto t = parse_static_config(
      R"({"routes": [{"service": "a", "backends": [{"address": "web:80"}, {"address": "v6:81"},)"
      R"( {"address": "10.0.0.1:82"}]}]})",
      "r.json", resolve);
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->routes[0].backends[0].address, "10.88.0.5:80");
  EXPECT_EQ(t->routes[0].backends[1].address, "[fd00::5]:81");
  EXPECT_EQ(t->routes[0].backends[2].address, "10.0.0.1:82");
  auto bad = parse_static_config(
      R"({"routes": [{"service": "a", "backends": [{"address": "db:5432"}]}]})", "r.json", resolve);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(),
            "config 'r.json': routes[0].backends[0].address: cannot resolve 'db' (not known), got "
            "\"db:5432\"");
}

TEST(ProxyListen, ParsesNameAddressAndTls) {
  auto a = parse_listen("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "http");
  EXPECT_FALSE(a->tls);
  auto b = parse_listen("web=[::]:443,tls");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->name, "web");
  EXPECT_EQ(b->address, "[::]:443");
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(parse_listen(":8443,tls")->name, "https");
  auto bad = parse_listen("web=localhost");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("'localhost' is not ADDRESS:PORT"), std::string::npos);
}

}  // namespace
}  // namespace berth::proxy
