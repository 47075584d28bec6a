#include <gtest/gtest.h>

#include "engine/container_config.h"

namespace berth::engine {
namespace {

TEST(ParsePort, TakesDockersForms) {
  auto p = parse_port("8080:80");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host_port, 8080);
  EXPECT_EQ(p->container_port, 80);
  EXPECT_EQ(p->protocol, "tcp");
  EXPECT_EQ(p->host_ip, "");
  p = parse_port("127.0.0.1:8081:81/udp");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host_ip, "127.0.0.1");
  EXPECT_EQ(p->host_port, 8081);
  EXPECT_EQ(p->container_port, 81);
  EXPECT_EQ(p->protocol, "udp");
  p = parse_port("127.0.0.1::82");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host_port, 0);  // ephemeral
  p = parse_port("83");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host_port, 0);
  EXPECT_EQ(p->container_port, 83);
  p = parse_port("0.0.0.0:84:84");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host_ip, "");
}

TEST(ParsePort, NamesWhatIsWrong) {
  auto p = parse_port("80:99999");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message(), "port '80:99999': container port '99999' is not a number in 1..65535");
  p = parse_port("http:80");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message(), "port 'http:80': host port 'http' is not a number in 1..65535");
  p = parse_port("80/sctp");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message(), "port '80/sctp': the protocol must be tcp or udp");
  p = parse_port("300.1.1.1:80:80");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message(), "port '300.1.1.1:80:80': '300.1.1.1' is not an IPv4 address");
  EXPECT_FALSE(parse_port("1:2:3:4"));
  EXPECT_FALSE(parse_port(""));
}

TEST(ContainerConfig, KeepsNetworkOptionsThroughJson) {
  ContainerConfig c;
  c.network = "front";
  c.network_aliases = {"web"};
  c.ip = "10.89.0.9";
  c.dns = {"1.1.1.1"};
  c.add_hosts = {"db:10.0.0.5"};
  c.publish = {"8080:80"};
  c.publish_all = true;
  auto back = parse_container_config(to_json(c));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->network, "front");
  EXPECT_EQ(back->network_aliases, c.network_aliases);
  EXPECT_EQ(back->ip, c.ip);
  EXPECT_EQ(back->dns, c.dns);
  EXPECT_EQ(back->add_hosts, c.add_hosts);
  EXPECT_EQ(back->publish, c.publish);
  EXPECT_TRUE(back->publish_all);
  EXPECT_TRUE(back->on_bridge());
}

}  // namespace
}  // namespace berth::engine
