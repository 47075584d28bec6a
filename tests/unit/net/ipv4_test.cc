#include "net/ipv4.h"

#include <gtest/gtest.h>

namespace berth::net {
namespace {

Subnet subnet(const char* text) { return Subnet::parse(text).value(); }
Ipv4 ip(const char* text) { return Ipv4::parse(text).value(); }

TEST(Subnet, ParsesAndPrintsCidr) {
  auto s = Subnet::parse("10.89.3.0/24");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->to_string(), "10.89.3.0/24");
  EXPECT_EQ(s->first_host().to_string(), "10.89.3.1");
  EXPECT_EQ(s->broadcast().to_string(), "10.89.3.255");
}

TEST(Subnet, RefusesHostBitsAndNamesTheNetworkAddress) {
  auto s = Subnet::parse("10.89.3.7/24");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "subnet '10.89.3.7/24' has host bits set: did you mean 10.89.3.0/24?");
}

TEST(Subnet, RefusesBadText) {
  EXPECT_FALSE(Subnet::parse("10.89.3.0"));
  EXPECT_FALSE(Subnet::parse("10.89.3.0/33"));
  EXPECT_FALSE(Subnet::parse("10.89.3/24"));
  EXPECT_FALSE(Subnet::parse("banana/24"));
  EXPECT_FALSE(Subnet::parse("10.0.0.0/x"));
}

TEST(Subnet, OverlapIsSymmetricAndContainmentIsNot) {
  EXPECT_TRUE(subnet("10.0.0.0/8").overlaps(subnet("10.89.0.0/24")));
  EXPECT_TRUE(subnet("10.89.0.0/24").overlaps(subnet("10.0.0.0/8")));
  EXPECT_FALSE(subnet("10.89.0.0/24").overlaps(subnet("10.89.1.0/24")));
  EXPECT_TRUE(subnet("10.0.0.0/8").contains(subnet("10.89.0.0/24")));
  EXPECT_FALSE(subnet("10.89.0.0/24").contains(subnet("10.0.0.0/8")));
}

TEST(PickFreeAddress, SkipsNetworkGatewayUsedAndBroadcast) {
  auto s = subnet("10.89.0.0/30");  // .0 network, .1 gateway, .2 host, .3 broadcast
  auto first = pick_free_address(s, s, ip("10.89.0.1"), {});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->to_string(), "10.89.0.2");
  auto full = pick_free_address(s, s, ip("10.89.0.1"), {ip("10.89.0.2")});
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().message(), "no free address left in 10.89.0.0/30");
}

TEST(PickFreeAddress, StaysInsideTheRange) {
  auto s = subnet("10.89.0.0/24");
  auto a = pick_free_address(s, subnet("10.89.0.128/25"), ip("10.89.0.1"), {ip("10.89.0.128")});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "10.89.0.129");
}

TEST(PickFreeAddress, ReusesAReleasedAddress) {
  auto s = subnet("10.89.0.0/24");
  auto a = pick_free_address(s, s, ip("10.89.0.1"), {ip("10.89.0.2"), ip("10.89.0.4")});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "10.89.0.3");
}

TEST(PickFreeSubnet, AvoidsEveryTakenSubnet) {
  auto pool = subnet("10.89.0.0/16");
  auto picked = pick_free_subnet(pool, 24, {subnet("10.89.0.0/24"), subnet("10.89.1.0/25"), subnet("10.89.3.0/24")});
  ASSERT_TRUE(picked);
  EXPECT_EQ(picked->to_string(), "10.89.2.0/24");
  EXPECT_FALSE(pick_free_subnet(pool, 24, {subnet("10.0.0.0/8")}));
}

TEST(MacFor, IsLocallyAdministeredAndFollowsTheAddress) {
  EXPECT_EQ(mac_for(ip("10.89.0.2")), "02:42:0a:59:00:02");
}

}  // namespace
}  // namespace berth::net
