// The server's table hand-over and picks, without sockets: Core::install and Core::pick.
#include <gtest/gtest.h>

#include "proxy/detail/core.h"

namespace berth::proxy::detail {
namespace {

RouteTable table_with(std::vector<Backend> backends, uint64_t generation) {
  Route r;
  r.service = "web";
  r.backends = std::move(backends);
  RouteTable t;
  t.routes.push_back(std::move(r));
  t.generation = generation;
  return t;
}

Backend backend(std::string id, std::string address, int weight = 1) {
  Backend b;
  b.id = std::move(id);
  b.name = b.id;
  b.address = std::move(address);
  b.weight = weight;
  return b;
}

struct ProxyTable : ::testing::Test {
  asio::io_context io;
  ServeOptions options;
  Core core{io, options};
  std::string pick(std::string_view sticky = {}) {
    std::vector<BackendState*> tried;
    auto b = core.pick(core.table->routes[0], sticky, tried);
    return b ? b->id : "<none>";
  }
};

TEST_F(ProxyTable, SwapKeepsBackendStateByIdAndDropsRemovedOnes) {
  core.install(table_with({backend("a", "127.0.0.1:1001"), backend("b", "127.0.0.1:1002")}, 1));
  auto a = core.backends.at("a");
  a->counters.requests = 7;
  a->begin();  // a request in flight across the swap
  core.install(table_with({backend("a", "127.0.0.1:1001"), backend("c", "127.0.0.1:1003")}, 2));
  EXPECT_EQ(core.table->table.generation, 2u);
  EXPECT_EQ(core.backends.at("a").get(), a.get());
  EXPECT_EQ(a->counters.requests, 7u);
  EXPECT_EQ(a->in_flight, 1u);
  EXPECT_FALSE(core.backends.at("b")->in_table);
  EXPECT_STREQ(core.backends.at("b")->state(now_ms()), "removed");
  ASSERT_EQ(core.table->routes[0].backends.size(), 2u);
  a->end();
}

TEST_F(ProxyTable, WeightedOrderAndDrainingBackendsGetNothingNew) {
  core.install(table_with({backend("a", "127.0.0.1:1001", 2), backend("b", "127.0.0.1:1002")}, 1));
  std::string order;
  for (int i = 0; i < 6; ++i) order += pick();
  EXPECT_EQ(order, "abaaba");
  auto t = table_with({backend("a", "127.0.0.1:1001", 2), backend("b", "127.0.0.1:1002")}, 2);
  t.routes[0].backends[0].draining = true;
  core.install(std::move(t));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pick(), "b");
  core.backends.at("b")->drain_requested = true;  // POST /drain
  EXPECT_EQ(pick(), "<none>");
}

TEST_F(ProxyTable, ABackendThatLeftTheTableComesBackWithoutItsDrainRequest) {
  core.install(table_with({backend("a", "127.0.0.1:1001"), backend("b", "127.0.0.1:1002")}, 1));
  core.backends.at("a")->drain_requested = true;  // POST /drain, then the container stops
  core.backends.at("b")->drain_requested = true;  // drained but still in the table
  core.install(table_with({backend("b", "127.0.0.1:1002")}, 2));
  core.install(table_with({backend("a", "127.0.0.1:1001"), backend("b", "127.0.0.1:1002")}, 3));
  EXPECT_FALSE(core.backends.at("a")->draining());
  EXPECT_TRUE(core.backends.at("b")->draining());
  EXPECT_EQ(pick(), "a");
  EXPECT_EQ(pick(), "a");
}

TEST_F(ProxyTable, StickyCookiePinsToItsBackendWhileItIsUp) {
  core.install(table_with({backend("a", "127.0.0.1:1001"), backend("b", "127.0.0.1:1002")}, 1));
  const std::string to_b = sticky_value("b");
  for (int i = 0; i < 4; ++i) EXPECT_EQ(pick(to_b), "b");
  core.mark_failed(*core.backends.at("b"), "connect: refused");  // passive health
  EXPECT_EQ(pick(to_b), "a");
  EXPECT_EQ(pick("not-a-backend"), "a");
}

TEST_F(ProxyTable, UnhealthyFromTheSourceAndBadAddressesAreSkipped) {
  auto t = table_with({backend("a", "127.0.0.1:1001"), backend("b", "not-an-address")}, 1);
  t.routes[0].backends[0].healthy = false;
  core.install(std::move(t));
  EXPECT_EQ(pick(), "<none>");
  EXPECT_STREQ(core.backends.at("a")->state(now_ms()), "starting");
  EXPECT_STREQ(core.backends.at("b")->state(now_ms()), "bad-address");
}

}  // namespace
}  // namespace berth::proxy::detail
