#include "net/firewall.h"

#include <gtest/gtest.h>

namespace berth::net {
namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Firewall, ReplacesOnlyItsOwnTableInOneScript) {
  std::string s = render_ruleset("berth_test", {}, {});
  EXPECT_TRUE(s.starts_with("add table ip berth_test\ndelete table ip berth_test\ntable ip berth_test {"));
  EXPECT_FALSE(has(s, "flush ruleset"));
}

TEST(Firewall, MasqueradesOutboundTrafficOfNonInternalNetworksOnly) {
  std::vector<FirewallNetwork> networks = {{"bth-a", Subnet::parse("10.89.0.0/24").value(), false},
                                           {"bth-b", Subnet::parse("10.89.1.0/24").value(), true}};
  std::string s = render_ruleset("t", networks, {});
  EXPECT_TRUE(has(s, "ip saddr 10.89.0.0/24 oifname != \"bth-a\" masquerade"));
  EXPECT_FALSE(has(s, "ip saddr 10.89.1.0/24 oifname != \"bth-b\" masquerade"));
  // Internal: nothing in or out but its own bridge.
  EXPECT_TRUE(has(s, "iifname \"bth-b\" oifname != \"bth-b\" drop"));
  EXPECT_TRUE(has(s, "oifname \"bth-b\" iifname != \"bth-b\" drop"));
  // Isolation: no other berth bridge may send into bth-a.
  EXPECT_TRUE(has(s, "oifname \"bth-a\" iifname \"bth-*\" iifname != \"bth-a\" drop"));
}

TEST(Firewall, PublishedPortsDnatOnEveryOrOneAddress) {
  std::vector<PublishedPort> ports = {
      {"tcp", std::nullopt, 8080, Ipv4::parse("10.89.0.2").value(), 80},
      {"udp", Ipv4::parse("127.0.0.1").value(), 5353, Ipv4::parse("10.89.0.3").value(), 53}};
  std::string s = render_ruleset("t", {}, ports);
  EXPECT_TRUE(has(s, "tcp dport 8080 dnat to 10.89.0.2:80"));
  EXPECT_TRUE(has(s, "ip daddr 127.0.0.1 udp dport 5353 dnat to 10.89.0.3:53"));
  EXPECT_TRUE(has(s, "fib daddr type local jump publish"));
}

TEST(Firewall, InternalNetworksDropBeforePublishedPortsAreAccepted) {
  // A container of an internal network must not reach another network's published port through
  // its gateway's address (DNAT): the drop comes before "ct status dnat accept".
  std::vector<FirewallNetwork> networks = {{"bth-a", Subnet::parse("10.89.0.0/24").value(), false},
                                           {"bth-b", Subnet::parse("10.89.1.0/24").value(), true}};
  std::string s = render_ruleset("t", networks, {});
  auto accept = s.find("ct status dnat accept");
  ASSERT_NE(accept, std::string::npos);
  EXPECT_LT(s.find("iifname \"bth-b\" oifname != \"bth-b\" drop"), accept);
  EXPECT_LT(s.find("oifname \"bth-b\" iifname != \"bth-b\" drop"), accept);
  // Isolation between ordinary networks still lets published ports through.
  EXPECT_GT(s.find("oifname \"bth-a\" iifname \"bth-*\" iifname != \"bth-a\" drop"), accept);
}

TEST(Firewall, DnsQueriesFromOneAddressAreRateLimitedBeforeBerthDns) {
  std::string s = render_ruleset("berth_test", {}, {});
  EXPECT_TRUE(has(s, "set dns_rate {"));
  EXPECT_TRUE(has(s, "type filter hook input priority filter; policy accept;"));
  EXPECT_TRUE(has(s, "iifname \"bth-*\" udp dport 53 update @dns_rate { ip saddr limit rate over 2000/second "
                     "burst 4000 packets } counter drop"));
}

}  // namespace
}  // namespace berth::net
