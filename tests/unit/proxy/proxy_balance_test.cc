#include <gtest/gtest.h>

#include <string>

#include "proxy/balance.h"

namespace berth::proxy {
namespace {

TEST(ProxyBalance, SmoothWeightedRoundRobinInterleaves) {
  Balancer b;
  std::vector<PickCandidate> c = {{5, 0, true}, {1, 0, true}, {1, 0, true}};
  std::string order;
  for (int i = 0; i < 7; ++i) order += static_cast<char>('a' + b.round_robin(c));
  EXPECT_EQ(order, "aabacaa");
}

TEST(ProxyBalance, RoundRobinSkipsIneligible) {
  Balancer b;
  std::vector<PickCandidate> c = {{1, 0, true}, {1, 0, false}, {1, 0, true}};
  std::string order;
  for (int i = 0; i < 4; ++i) order += static_cast<char>('a' + b.round_robin(c));
  EXPECT_EQ(order, "acac");
  c[0].eligible = c[2].eligible = false;
  EXPECT_EQ(b.round_robin(c), -1);
}

TEST(ProxyBalance, LeastConnectionsPerWeight) {
  Balancer b;
  std::vector<PickCandidate> c = {{1, 3, true}, {1, 1, true}, {2, 3, true}};
  EXPECT_EQ(b.least_connections(c), 1);  // 1/1 < 3/2 < 3/1
  c[1].in_flight = 5;
  EXPECT_EQ(b.least_connections(c), 2);
}

TEST(ProxyBalance, LeastConnectionsRotatesTies) {
  Balancer b;
  std::vector<PickCandidate> c = {{1, 0, true}, {1, 0, true}};
  const int first = b.least_connections(c);
  const int second = b.least_connections(c);
  EXPECT_NE(first, second);
}

TEST(ProxyBalance, StickyValueIsStableAndOpaque) {
  EXPECT_EQ(sticky_value("abc123"), sticky_value("abc123"));
  EXPECT_NE(sticky_value("abc123"), sticky_value("abc124"));
  EXPECT_EQ(sticky_value("abc123").size(), 16u);
  EXPECT_EQ(sticky_value("abc123").find("abc"), std::string::npos);
}

}  // namespace
}  // namespace berth::proxy
