// Routes from containers' labels and VIRTUAL_HOST (proxy/labels.h).
#include "proxy/labels.h"

#include <gtest/gtest.h>

namespace berth::proxy {
namespace {

ContainerView web(std::string name, std::string ip, std::map<std::string, std::string> labels = {}) {
  ContainerView c;
  c.id = "id-" + name;
  c.name = std::move(name);
  c.labels = std::move(labels);
  c.addresses = {{"bridge", std::move(ip)}};
  c.running = true;
  return c;
}

std::string fmt_name(int i) { return "shop-web-" + std::to_string(i); }

std::vector<std::string> problem_texts(const LabelRoutes& r) {
  std::vector<std::string> out;
  for (const auto& p : r.problems) out.push_back(p.text());
  return out;
}

TEST(ProxyLabels, ContainersWithoutProxyLabelsAreNotRouted) {
  auto c = web("db-1", "10.88.0.2", {{"com.example.x", "1"}});
  auto r = routes_from_containers({c});
  EXPECT_TRUE(r.table.routes.empty());
  EXPECT_TRUE(r.problems.empty());
}

TEST(ProxyLabels, EnableFalseTurnsRoutingOff) {
  auto c = web("web-1", "10.88.0.2", {{"berth.proxy.enable", "false"}, {"berth.proxy.host", "a.example"}});
  c.env = {"VIRTUAL_HOST=b.example"};
  EXPECT_TRUE(routes_from_containers({c}).table.routes.empty());
}

TEST(ProxyLabels, EnableAloneIsACatchAllOnPort80) {
  auto r = routes_from_containers({web("web-1", "10.88.0.2", {{"berth.proxy.enable", "true"}})});
  ASSERT_EQ(r.table.routes.size(), 1u);
  const Route& route = r.table.routes[0];
  EXPECT_EQ(route.service, "web-1");
  EXPECT_TRUE(route.match.hosts.empty());
  EXPECT_TRUE(route.match.path_prefix.empty());
  ASSERT_EQ(route.backends.size(), 1u);
  EXPECT_EQ(route.backends[0].address, "10.88.0.2:80");
  EXPECT_EQ(route.backends[0].id, "id-web-1");
  EXPECT_EQ(route.backends[0].name, "web-1");
  EXPECT_TRUE(route.backends[0].healthy);
  EXPECT_FALSE(route.backends[0].draining);
}

TEST(ProxyLabels, EveryLabelLandsInTheRoute) {
  auto r = routes_from_containers({web("web-1", "10.88.0.2",
                                       {{"berth.proxy.host", "Shop.Example, *.shop.example"},
                                        {"berth.proxy.path", "/api/"},
                                        {"berth.proxy.port", "8080"},
                                        {"berth.proxy.weight", "3"},
                                        {"berth.proxy.priority", "5"},
                                        {"berth.proxy.tls", "true"},
                                        {"berth.proxy.entrypoint", "websecure"},
                                        {"berth.proxy.balance", "leastconn"},
                                        {"berth.proxy.sticky", "SRV"},
                                        {"berth.proxy.method", "get,post"},
                                        {"berth.proxy.header.X-Env", "prod"},
                                        {"berth.proxy.check.path", "/health"},
                                        {"berth.proxy.check.interval", "500ms"},
                                        {"berth.proxy.check.timeout", "1s"},
                                        {"berth.proxy.check.rise", "1"},
                                        {"berth.proxy.check.fall", "2"},
                                        {"berth.proxy.service", "shop"}})});
  ASSERT_TRUE(r.problems.empty()) << problem_texts(r)[0];
  ASSERT_EQ(r.table.routes.size(), 1u);
  const Route& route = r.table.routes[0];
  EXPECT_EQ(route.service, "shop");
  EXPECT_EQ(route.match.hosts, (std::vector<std::string>{"shop.example", "*.shop.example"}));
  EXPECT_EQ(route.match.path_prefix, "/api");
  EXPECT_EQ(route.match.methods, (std::vector<std::string>{"GET", "POST"}));
  ASSERT_EQ(route.match.headers.size(), 1u);
  EXPECT_EQ(route.match.headers[0].first, "x-env");
  EXPECT_EQ(route.match.headers[0].second, "prod");
  EXPECT_EQ(route.priority, 5);
  EXPECT_TRUE(route.tls);
  EXPECT_EQ(route.entrypoint, "websecure");
  EXPECT_EQ(route.balance, Balance::least_connections);
  EXPECT_EQ(route.sticky_cookie, "SRV");
  EXPECT_EQ(route.check.kind, HealthCheck::Kind::http);
  EXPECT_EQ(route.check.path, "/health");
  EXPECT_EQ(route.check.interval_ms, 500);
  EXPECT_EQ(route.check.timeout_ms, 1000);
  EXPECT_EQ(route.check.rise, 1);
  EXPECT_EQ(route.check.fall, 2);
  ASSERT_EQ(route.backends.size(), 1u);
  EXPECT_EQ(route.backends[0].address, "10.88.0.2:8080");
  EXPECT_EQ(route.backends[0].weight, 3);
}

TEST(ProxyLabels, CheckTimingWithoutPathIsATcpCheck) {
  auto r = routes_from_containers({web("web-1", "10.88.0.2", {{"berth.proxy.check.interval", "2s"}})});
  ASSERT_EQ(r.table.routes.size(), 1u);
  EXPECT_EQ(r.table.routes[0].check.kind, HealthCheck::Kind::tcp);
  EXPECT_EQ(r.table.routes[0].check.interval_ms, 2000);
}

TEST(ProxyLabels, PathWithAStarIsAGlob) {
  auto r = routes_from_containers({web("web-1", "10.88.0.2", {{"berth.proxy.path", "/static/*.css"}})});
  ASSERT_EQ(r.table.routes.size(), 1u);
  EXPECT_EQ(r.table.routes[0].match.path_glob, "/static/*.css");
  EXPECT_TRUE(r.table.routes[0].match.path_prefix.empty());
}

TEST(ProxyLabels, RootPathAndStarHostMeanAny) {
  auto r = routes_from_containers({web("web-1", "10.88.0.2", {{"berth.proxy.host", "*"}, {"berth.proxy.path", "/"}})});
  ASSERT_EQ(r.table.routes.size(), 1u);
  EXPECT_TRUE(r.table.routes[0].match.hosts.empty());
  EXPECT_TRUE(r.table.routes[0].match.path_prefix.empty());
}

TEST(ProxyLabels, TheOnlyExposedPortIsTheDefault) {
  auto c = web("web-1", "10.88.0.2", {{"berth.proxy.enable", "true"}});
  c.exposed_ports = {3000};
  auto r = routes_from_containers({c});
  ASSERT_EQ(r.table.routes.size(), 1u);
  EXPECT_EQ(r.table.routes[0].backends[0].address, "10.88.0.2:3000");
}

TEST(ProxyLabels, SeveralExposedPortsNeedThePortLabel) {
  auto c = web("web-1", "10.88.0.2", {{"berth.proxy.enable", "true"}});
  c.exposed_ports = {80, 443};
  auto r = routes_from_containers({c});
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].text(),
            "web-1: label berth.proxy.port=\"\": the image exposes several ports (80, 443): say which one with "
            "berth.proxy.port");
  EXPECT_TRUE(r.table.routes.empty());
}

TEST(ProxyLabels, BadLabelsNameContainerLabelAndValue) {
  auto r = routes_from_containers({web("web-1", "10.88.0.2", {{"berth.proxy.port", "80x"}})});
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].text(), "web-1: label berth.proxy.port=\"80x\": not a port (1-65535)");
  EXPECT_EQ(r.problems[0].container, "web-1");
  EXPECT_EQ(r.problems[0].label, "berth.proxy.port");
  EXPECT_EQ(r.problems[0].value, "80x");
  EXPECT_TRUE(r.table.routes.empty()) << "a container with bad labels is left out";
}

TEST(ProxyLabels, EachBadValueIsReported) {
  auto r = routes_from_containers({web("web-1", "10.88.0.2",
                                       {{"berth.proxy.weight", "0"},
                                        {"berth.proxy.tls", "maybe"},
                                        {"berth.proxy.mode", "udp"},
                                        {"berth.proxy.balance", "random"},
                                        {"berth.proxy.host", "a..example,shop.example:8080,www.*.example"},
                                        {"berth.proxy.path", "api"},
                                        {"berth.proxy.check.interval", "2"},
                                        {"berth.proxy.check.rise", "0"},
                                        {"berth.proxy.entrypoint", "web secure"},
                                        {"berth.proxy.header.Bad Name", "x"},
                                        {"berth.proxy.sticky", "a;b"},
                                        {"berth.proxy.prot", "80"}})});
  auto texts = problem_texts(r);
  auto has = [&](const std::string& text) { return std::find(texts.begin(), texts.end(), text) != texts.end(); };
  EXPECT_TRUE(has("web-1: label berth.proxy.weight=\"0\": not a weight (1-1000)"));
  EXPECT_TRUE(has("web-1: label berth.proxy.tls=\"maybe\": not a boolean (true or false)"));
  EXPECT_TRUE(has("web-1: label berth.proxy.mode=\"udp\": not a mode (http or tcp)"));
  EXPECT_TRUE(has("web-1: label berth.proxy.balance=\"random\": not a balance (roundrobin or leastconn)"));
  EXPECT_TRUE(has("web-1: label berth.proxy.host=\"a..example,shop.example:8080,www.*.example\": host "
                  "'a..example' has an empty label"));
  EXPECT_TRUE(has("web-1: label berth.proxy.host=\"a..example,shop.example:8080,www.*.example\": host "
                  "'shop.example:8080' has a port: routes match the host name only"));
  EXPECT_TRUE(has("web-1: label berth.proxy.host=\"a..example,shop.example:8080,www.*.example\": host "
                  "'www.*.example': only a leading '*.' wildcard is supported"));
  EXPECT_TRUE(has("web-1: label berth.proxy.path=\"api\": a path starts with '/'"));
  EXPECT_TRUE(has("web-1: label berth.proxy.check.interval=\"2\": not a duration (such as 2s or 500ms, at most 1h)"));
  EXPECT_TRUE(has("web-1: label berth.proxy.check.rise=\"0\": not a count (1-100)"));
  EXPECT_TRUE(has(
      "web-1: label berth.proxy.entrypoint=\"web secure\": not an entrypoint name (letters, digits, '_', '-', '.')"));
  EXPECT_TRUE(has("web-1: label berth.proxy.header.Bad Name=\"x\": the header name after 'berth.proxy.header.' is "
                  "not a valid name"));
  EXPECT_TRUE(has("web-1: label berth.proxy.sticky=\"a;b\": not a cookie name"));
  bool unknown = false;
  for (const auto& t : texts) unknown |= t.starts_with("web-1: label berth.proxy.prot=\"80\": unknown label (known: ");
  EXPECT_TRUE(unknown);
  EXPECT_EQ(texts.size(), 14u);
  EXPECT_TRUE(r.table.routes.empty());
}

TEST(ProxyLabels, TcpModeRefusesHttpMatches) {
  auto r = routes_from_containers(
      {web("redis-1", "10.88.0.2", {{"berth.proxy.mode", "tcp"}, {"berth.proxy.host", "a.example"}})});
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].label, "berth.proxy.mode");
  EXPECT_NE(r.problems[0].message.find("mode=http only"), std::string::npos);
}

TEST(ProxyLabels, TcpModeRoute) {
  auto r = routes_from_containers({web("redis-1", "10.88.0.2",
                                       {{"berth.proxy.mode", "tcp"}, {"berth.proxy.port", "6379"},
                                        {"berth.proxy.entrypoint", "redis"}})});
  ASSERT_EQ(r.table.routes.size(), 1u);
  EXPECT_EQ(r.table.routes[0].mode, Mode::tcp);
  EXPECT_EQ(r.table.routes[0].entrypoint, "redis");
  EXPECT_EQ(r.table.routes[0].backends[0].address, "10.88.0.2:6379");
}

TEST(ProxyLabels, InstancesOfAComposeServiceMergeIntoOneRoute) {
  std::vector<ContainerView> cs;
  for (int i = 1; i <= 3; ++i) {
    auto c = web(fmt_name(i), "10.88.0." + std::to_string(i + 1), {{"berth.proxy.host", "shop.example"}});
    c.project = "shop";
    c.service = "web";
    cs.push_back(c);
  }
  auto r = routes_from_containers(cs);
  ASSERT_EQ(r.table.routes.size(), 1u);
  EXPECT_EQ(r.table.routes[0].service, "shop_web");
  ASSERT_EQ(r.table.routes[0].backends.size(), 3u);
  EXPECT_EQ(r.table.routes[0].backends[0].name, "shop-web-1");
  EXPECT_EQ(r.table.routes[0].backends[2].address, "10.88.0.4:80");
  EXPECT_TRUE(r.conflicts.empty());
}

TEST(ProxyLabels, HealthCheckGatesTheBackend) {
  auto starting = web("web-1", "10.88.0.2", {{"berth.proxy.enable", "true"}, {"berth.proxy.service", "web"}});
  starting.has_health_check = true;
  starting.health = "starting";
  auto healthy = web("web-2", "10.88.0.3", {{"berth.proxy.enable", "true"}, {"berth.proxy.service", "web"}});
  healthy.has_health_check = true;
  healthy.health = "healthy";
  auto unhealthy = web("web-3", "10.88.0.4", {{"berth.proxy.enable", "true"}, {"berth.proxy.service", "web"}});
  unhealthy.has_health_check = true;
  unhealthy.health = "unhealthy";
  auto r = routes_from_containers({starting, healthy, unhealthy});
  ASSERT_EQ(r.table.routes.size(), 1u);
  const auto& b = r.table.routes[0].backends;
  ASSERT_EQ(b.size(), 3u);
  EXPECT_FALSE(b[0].healthy);
  EXPECT_TRUE(b[1].healthy);
  EXPECT_FALSE(b[2].healthy);
}

TEST(ProxyLabels, StoppingContainerDrains) {
  auto c = web("web-1", "10.88.0.2", {{"berth.proxy.enable", "true"}});
  c.stopping = true;
  auto r = routes_from_containers({c});
  ASSERT_EQ(r.table.routes[0].backends.size(), 1u);
  EXPECT_TRUE(r.table.routes[0].backends[0].draining);
  EXPECT_FALSE(r.table.routes[0].backends[0].healthy);
}

TEST(ProxyLabels, StoppedContainersKeepTheirRouteWithoutBackends) {
  auto c = web("web-1", "10.88.0.2", {{"berth.proxy.host", "a.example"}});
  c.running = false;
  c.addresses.clear();
  auto r = routes_from_containers({c});
  ASSERT_EQ(r.table.routes.size(), 1u) << "so that clients get the 503 naming the service";
  EXPECT_TRUE(r.table.routes[0].backends.empty());
  EXPECT_TRUE(r.problems.empty());
}

TEST(ProxyLabels, NetworkLabelPicksTheAddress) {
  auto c = web("web-1", "10.88.0.2", {{"berth.proxy.network", "front"}});
  c.addresses.push_back({"front", "10.90.0.7"});
  auto r = routes_from_containers({c});
  ASSERT_EQ(r.table.routes.size(), 1u);
  EXPECT_EQ(r.table.routes[0].backends[0].address, "10.90.0.7:80");
  auto missing = web("web-2", "10.88.0.3", {{"berth.proxy.network", "back"}});
  auto m = routes_from_containers({missing});
  ASSERT_EQ(m.problems.size(), 1u);
  EXPECT_EQ(m.problems[0].text(), "web-2: label berth.proxy.network=\"back\": the container is not on this network");
}

TEST(ProxyLabels, ContainerWithoutAddressIsAProblem) {
  auto c = web("web-1", "10.88.0.2", {{"berth.proxy.enable", "true"}});
  c.addresses.clear();
  auto r = routes_from_containers({c});
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].message.find("no address on a network"), std::string::npos);
}

TEST(ProxyLabels, Ipv6AddressesAreBracketed) {
  auto r = routes_from_containers({web("web-1", "fd00::5", {{"berth.proxy.enable", "true"}})});
  EXPECT_EQ(r.table.routes[0].backends[0].address, "[fd00::5]:80");
}

TEST(ProxyLabels, InstancesThatDisagreeOnTheMatchGetARouteEach) {
  // A rolling update that changes the host: old instances keep the old host until they go.
  auto old_one = web("shop-web-1", "10.88.0.2", {{"berth.proxy.host", "old.example"}});
  auto new_one = web("shop-web-2", "10.88.0.3", {{"berth.proxy.host", "new.example"}});
  old_one.project = new_one.project = "shop";
  old_one.service = new_one.service = "web";
  auto r = routes_from_containers({new_one, old_one});
  ASSERT_EQ(r.table.routes.size(), 2u);
  EXPECT_EQ(r.table.routes[0].match.hosts[0], "old.example");
  EXPECT_EQ(r.table.routes[1].match.hosts[0], "new.example");
  EXPECT_TRUE(r.conflicts.empty()) << "one group is no conflict";
}

TEST(ProxyLabels, VirtualHostPlainList) {
  auto c = web("web-1", "10.88.0.2");
  c.env = {"PATH=/bin", "VIRTUAL_HOST=http://a.com, https://b.com:443/path"};
  auto r = routes_from_containers({c});
  ASSERT_TRUE(r.problems.empty()) << problem_texts(r)[0];
  ASSERT_EQ(r.table.routes.size(), 2u);
  EXPECT_EQ(r.table.routes[0].match.hosts, std::vector<std::string>{"a.com"});
  EXPECT_FALSE(r.table.routes[0].tls);
  EXPECT_TRUE(r.table.routes[0].match.path_prefix.empty());
  EXPECT_EQ(r.table.routes[1].match.hosts, std::vector<std::string>{"b.com"});
  EXPECT_TRUE(r.table.routes[1].tls);
  EXPECT_EQ(r.table.routes[1].match.path_prefix, "/path");
  EXPECT_EQ(r.table.routes[0].backends.size(), 1u);
  EXPECT_EQ(r.table.routes[1].backends.size(), 1u);
}

TEST(ProxyLabels, VirtualHostGlobsAndCatchAll) {
  auto c = web("web-1", "10.88.0.2");
  c.env = {"VIRTUAL_HOST=*/styles/*.*,*/"};
  auto r = routes_from_containers({c});
  ASSERT_TRUE(r.problems.empty()) << problem_texts(r)[0];
  ASSERT_EQ(r.table.routes.size(), 2u);
  EXPECT_TRUE(r.table.routes[0].match.hosts.empty());
  EXPECT_EQ(r.table.routes[0].match.path_glob, "/styles/*.*");
  EXPECT_TRUE(r.table.routes[1].match.hosts.empty());
  EXPECT_TRUE(r.table.routes[1].match.path_prefix.empty());
  EXPECT_TRUE(r.table.routes[1].match.path_glob.empty());
}

TEST(ProxyLabels, VirtualHostEntriesThatDifferInHostShareARoute) {
  auto c = web("web-1", "10.88.0.2");
  c.env = {"VIRTUAL_HOST=a.com,*.b.com", "VIRTUAL_HOST_WEIGHT=7"};
  auto r = routes_from_containers({c});
  ASSERT_EQ(r.table.routes.size(), 1u);
  EXPECT_EQ(r.table.routes[0].match.hosts, (std::vector<std::string>{"a.com", "*.b.com"}));
  EXPECT_EQ(r.table.routes[0].priority, 7);
}

TEST(ProxyLabels, HostLabelsWinOverVirtualHost) {
  auto c = web("web-1", "10.88.0.2", {{"berth.proxy.host", "label.example"}, {"berth.proxy.port", "8080"}});
  c.env = {"VIRTUAL_HOST=env.example"};
  auto r = routes_from_containers({c});
  ASSERT_EQ(r.table.routes.size(), 1u);
  EXPECT_EQ(r.table.routes[0].match.hosts, std::vector<std::string>{"label.example"});
  EXPECT_EQ(r.table.routes[0].backends[0].address, "10.88.0.2:8080");
}

TEST(ProxyLabels, OtherLabelsApplyToVirtualHostRoutes) {
  auto c = web("web-1", "10.88.0.2", {{"berth.proxy.port", "8080"}, {"berth.proxy.weight", "2"}});
  c.env = {"VIRTUAL_HOST=env.example"};
  auto r = routes_from_containers({c});
  ASSERT_EQ(r.table.routes.size(), 1u);
  EXPECT_EQ(r.table.routes[0].match.hosts, std::vector<std::string>{"env.example"});
  EXPECT_EQ(r.table.routes[0].backends[0].address, "10.88.0.2:8080");
  EXPECT_EQ(r.table.routes[0].backends[0].weight, 2);
}

TEST(ProxyLabels, BadVirtualHostIsNamed) {
  auto c = web("web-1", "10.88.0.2");
  c.env = {"VIRTUAL_HOST=ftp://a.com", "VIRTUAL_HOST_WEIGHT=high"};
  auto r = routes_from_containers({c});
  auto texts = problem_texts(r);
  ASSERT_EQ(texts.size(), 2u);
  EXPECT_EQ(texts[0], "web-1: env VIRTUAL_HOST_WEIGHT=\"high\": not an integer");
  EXPECT_EQ(texts[1], "web-1: env VIRTUAL_HOST=\"ftp://a.com\": 'ftp://a.com': scheme 'ftp' is not http, https, ws or wss");
  EXPECT_TRUE(r.table.routes.empty());
}

TEST(ProxyLabels, TwoServicesOnOneHostAndPathConflict) {
  auto a = web("a-1", "10.88.0.2", {{"berth.proxy.host", "shop.example,x.example"}, {"berth.proxy.path", "/api"}});
  auto b = web("b-1", "10.88.0.3", {{"berth.proxy.host", "shop.example"}, {"berth.proxy.path", "/api"}});
  auto r = routes_from_containers({b, a});
  ASSERT_EQ(r.conflicts.size(), 1u);
  EXPECT_EQ(r.conflicts[0].text(),
            "host shop.example path /api: claimed by services a-1, b-1 with the same priority; a-1 wins (first by "
            "name)");
  EXPECT_EQ(r.table.routes[0].service, "a-1") << "the table is in group order, so the winner is first";
}

TEST(ProxyLabels, DifferentPriorityPathOrMethodIsNoConflict) {
  auto a = web("a-1", "10.88.0.2", {{"berth.proxy.host", "shop.example"}});
  auto b = web("b-1", "10.88.0.3", {{"berth.proxy.host", "shop.example"}, {"berth.proxy.priority", "1"}});
  auto c = web("c-1", "10.88.0.4", {{"berth.proxy.host", "shop.example"}, {"berth.proxy.path", "/api"}});
  auto d = web("d-1", "10.88.0.5", {{"berth.proxy.host", "shop.example"}, {"berth.proxy.method", "POST"}});
  auto e = web("e-1", "10.88.0.6", {{"berth.proxy.host", "shop.example"}, {"berth.proxy.entrypoint", "other"}});
  auto r = routes_from_containers({a, b, c, d});
  EXPECT_TRUE(r.conflicts.empty());
  auto r2 = routes_from_containers({a, e});
  EXPECT_EQ(r2.conflicts.size(), 1u) << "a route without an entrypoint is on every listener";
}

TEST(ProxyLabels, CatchAllsConflict) {
  auto a = web("a-1", "10.88.0.2", {{"berth.proxy.enable", "true"}});
  auto b = web("b-1", "10.88.0.3");
  b.env = {"VIRTUAL_HOST=*"};
  auto r = routes_from_containers({a, b});
  ASSERT_EQ(r.conflicts.size(), 1u);
  EXPECT_EQ(r.conflicts[0].host, "");
  EXPECT_NE(r.conflicts[0].text().find("host * path /"), std::string::npos);
}

}  // namespace
}  // namespace berth::proxy
