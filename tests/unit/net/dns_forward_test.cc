#include "net/dns_forward.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <set>

#include "dns_test_packets.h"

namespace berth::net::dns {
namespace {

using testing::make_query;

std::vector<Upstream> upstreams(std::string_view text) {
  std::vector<std::string> problems;
  auto list = parse_resolv_conf(text, "resolv.conf", {}, problems);
  EXPECT_TRUE(problems.empty());
  return list;
}

Client udp_client(const char* ip, uint16_t port) {
  Client c;
  auto* sin = reinterpret_cast<sockaddr_in*>(&c.address);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  inet_pton(AF_INET, ip, &sin->sin_addr);
  c.length = sizeof(sockaddr_in);
  return c;
}

// The upstream's answer to `sent`: same id and question, QR set, the rcode given.
std::vector<uint8_t> answer_to(std::span<const uint8_t> sent, uint8_t rcode = 0) {
  std::vector<uint8_t> reply(sent.begin(), sent.end());
  reply[2] = 0x81;
  reply[3] = static_cast<uint8_t>(0x80 | rcode);
  return reply;
}

const sockaddr* addr_of(const Upstream& u) { return reinterpret_cast<const sockaddr*>(&u.address); }

// Two upstreams, and one query for example.org sent to the first.
struct OneInFlight {
  std::vector<Upstream> list = upstreams("nameserver 192.0.2.1\nnameserver 192.0.2.2\n");
  Forwarder f{list};
  std::vector<uint8_t> query = make_query({.name = "example.org"});
  std::vector<uint8_t> sent;
  OneInFlight() {
    if (auto send = f.start(query, query.size(), udp_client("10.89.0.5", 1), 0)) {
      sent.assign(send->packet.begin(), send->packet.end());
    }
  }
};

TEST(DnsResolvConf, ReadsNameserversInOrderSkippingSelfAndBadLines) {
  std::vector<std::string> problems;
  auto list = parse_resolv_conf(
      "# generated\nsearch example.org\nnameserver 192.0.2.1\nnameserver\t2001:db8::53 # six\n"
      "nameserver 10.89.0.1\nnameserver bogus\nnameservers 1.1.1.1\noptions ndots:1\n",
      "/etc/resolv.conf", {"10.89.0.1"}, problems);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].text, "192.0.2.1");
  EXPECT_EQ(list[0].address.ss_family, AF_INET);
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in*>(&list[0].address)->sin_port), 53);
  EXPECT_EQ(list[1].text, "2001:db8::53");
  EXPECT_EQ(list[1].address.ss_family, AF_INET6);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "/etc/resolv.conf:6: 'bogus' is not an IP address; nameserver skipped");
}

TEST(DnsForwarder, RelaysUnderAFreshIdAndRestoresTheClientsId) {
  Forwarder f(upstreams("nameserver 192.0.2.1\n"));
  auto query = make_query({.name = "example.org", .id = 0x4242});
  Client client = udp_client("10.89.0.5", 40000);
  auto send = f.start(query, query.size(), client, 1000);
  ASSERT_TRUE(send);
  EXPECT_EQ(send->upstream->text, "192.0.2.1");
  ASSERT_EQ(send->packet.size(), query.size());
  const uint16_t upstream_id = static_cast<uint16_t>(send->packet[0] << 8 | send->packet[1]);
  EXPECT_TRUE(std::equal(query.begin() + 2, query.end(), send->packet.begin() + 2));
  auto reply = answer_to(send->packet);
  std::optional<Forwarder::Send> retry;
  auto relay = f.on_response(reply, addr_of(*send->upstream), sizeof(sockaddr_in), 1001, retry);
  ASSERT_TRUE(relay);
  EXPECT_FALSE(retry);
  EXPECT_EQ(relay->packet[0], 0x42);
  EXPECT_EQ(relay->packet[1], 0x42);
  EXPECT_EQ(std::memcmp(&relay->client.address, &client.address, sizeof(sockaddr_in)), 0);
  EXPECT_EQ(f.in_flight(), 0u);
  // A second copy of the answer (or a late one) finds nothing to answer.
  reply[0] = static_cast<uint8_t>(upstream_id >> 8);
  reply[1] = static_cast<uint8_t>(upstream_id);
  EXPECT_FALSE(f.on_response(reply, addr_of(*send->upstream), sizeof(sockaddr_in), 1002, retry));
}

TEST(DnsForwarder, IgnoresAnswersFromOtherServersOrToOtherQuestions) {
  OneInFlight t;
  ASSERT_FALSE(t.sent.empty());
  auto& f = t.f;
  auto& list = t.list;
  std::optional<Forwarder::Send> retry;
  auto reply = answer_to(t.sent);
  EXPECT_FALSE(f.on_response(reply, addr_of(list[1]), sizeof(sockaddr_in), 1, retry));
  auto other = reply;
  other[13] = 'X';  // "example" -> "Xxample": another question
  EXPECT_FALSE(f.on_response(other, addr_of(list[0]), sizeof(sockaddr_in), 1, retry));
  auto not_a_response = reply;
  not_a_response[2] = 0x01;
  EXPECT_FALSE(f.on_response(not_a_response, addr_of(list[0]), sizeof(sockaddr_in), 1, retry));
  EXPECT_EQ(f.in_flight(), 1u);
  auto upper = reply;
  upper[13] = 'E';  // the same question in other case (0x20 randomising servers) is fine
  EXPECT_TRUE(f.on_response(upper, addr_of(list[0]), sizeof(sockaddr_in), 1, retry));
}

TEST(DnsForwarder, ATimeoutTriesTheNextServerThenAnswersServfail) {
  Forwarder f(upstreams("nameserver 192.0.2.1\nnameserver 192.0.2.2\n"), 2000);
  auto query = make_query({.name = "slow.example", .id = 7});
  ASSERT_TRUE(f.start(query, query.size(), udp_client("10.89.0.5", 1), 0));
  EXPECT_EQ(f.next_deadline(), 2000u);
  std::vector<std::string> resent;
  std::vector<uint16_t> gave_up;
  auto resend = [&](const Forwarder::Send& s) { resent.push_back(s.upstream->text); };
  auto give_up = [&](uint16_t, const Client&, std::span<const uint8_t> original,
                     size_t question_end) {
    gave_up.push_back(static_cast<uint16_t>(original[0] << 8 | original[1]));
    EXPECT_EQ(question_end, original.size());
  };
  f.expire(1999, resend, give_up);
  EXPECT_TRUE(resent.empty());
  f.expire(2000, resend, give_up);
  EXPECT_EQ(resent, std::vector<std::string>{"192.0.2.2"});
  EXPECT_TRUE(gave_up.empty());
  f.expire(4000, resend, give_up);
  EXPECT_EQ(gave_up, std::vector<uint16_t>{7});
  EXPECT_EQ(f.in_flight(), 0u);
  EXPECT_FALSE(f.next_deadline());
}

TEST(DnsForwarder, ServfailFromOneServerAsksTheNext) {
  OneInFlight t;
  ASSERT_FALSE(t.sent.empty());
  auto& f = t.f;
  auto& list = t.list;
  auto failed = answer_to(t.sent, 2);
  std::optional<Forwarder::Send> retry;
  EXPECT_FALSE(f.on_response(failed, addr_of(list[0]), sizeof(sockaddr_in), 5, retry));
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->upstream->text, "192.0.2.2");
  // The last server's SERVFAIL goes to the client as it is.
  auto last = f.on_response(failed, addr_of(list[1]), sizeof(sockaddr_in), 6, retry);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->packet[3] & 0xF, 2);
}

TEST(DnsForwarder, IdsInFlightAreDistinctAndTheTableIsBounded) {
  Forwarder f(upstreams("nameserver 192.0.2.1\n"), 2000, 5000, 0);
  std::set<uint16_t> ids;
  auto query = make_query({.name = "example.org"});
  for (int i = 0; i < 5000; ++i) {
    auto send = f.start(query, query.size(), udp_client("10.89.0.5", 1), 0);
    ASSERT_TRUE(send);
    ids.insert(static_cast<uint16_t>(send->packet[0] << 8 | send->packet[1]));
  }
  EXPECT_EQ(ids.size(), 5000u);
  EXPECT_FALSE(f.start(query, query.size(), udp_client("10.89.0.5", 1), 0));
  Forwarder none({});
  EXPECT_FALSE(none.has_upstreams());
  EXPECT_FALSE(none.start(query, query.size(), udp_client("10.89.0.5", 1), 0));
}

TEST(DnsForwarder, OneClientHoldsAtMostItsShareOfTheQueriesInFlight) {
  auto list = upstreams("nameserver 192.0.2.1\n");
  Forwarder f(list, 2000, 5000, 3);
  auto query = make_query({.name = "example.org"});
  std::vector<std::vector<uint8_t>> sent;
  for (int i = 0; i < 3; ++i) {
    auto send = f.start(query, query.size(), udp_client("10.89.0.5", 1000 + i), 0);
    ASSERT_TRUE(send);
    sent.emplace_back(send->packet.begin(), send->packet.end());
  }
  // Its fourth is refused (another port of the same address counts the same) ...
  EXPECT_FALSE(f.start(query, query.size(), udp_client("10.89.0.5", 2000), 0));
  // ... while another client is served.
  EXPECT_TRUE(f.start(query, query.size(), udp_client("10.89.0.6", 1), 0));
  // An answer frees a slot of the first client, and so does giving up on a query.
  auto answer = answer_to(sent[0]);
  std::optional<Forwarder::Send> retry;
  ASSERT_TRUE(f.on_response(answer, addr_of(list[0]), sizeof(sockaddr_in), 1, retry));
  EXPECT_TRUE(f.start(query, query.size(), udp_client("10.89.0.5", 2000), 1));
  EXPECT_FALSE(f.start(query, query.size(), udp_client("10.89.0.5", 2001), 1));
  int given_up = 0;
  f.expire(
      10'000, [](const Forwarder::Send&) {},
      [&](uint16_t, const Client&, std::span<const uint8_t>, size_t) { ++given_up; });
  EXPECT_EQ(given_up, 4);
  EXPECT_EQ(f.in_flight(), 0u);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(f.start(query, query.size(), udp_client("10.89.0.5", 3000 + i), 10'000));
}

TEST(DnsForwarder, ATcpClientsQueryIsRelayedOverTcpToEveryServer) {
  Forwarder f(upstreams("nameserver 192.0.2.1\nnameserver 192.0.2.2\n"), 2000);
  auto query = make_query({.name = "big.example"});
  auto by_udp = f.start(query, query.size(), udp_client("10.89.0.5", 1), 0);
  ASSERT_TRUE(by_udp);
  EXPECT_FALSE(by_udp->over_tcp);
  Client tcp;
  tcp.tcp_connection = 7;
  auto by_tcp = f.start(query, query.size(), tcp, 0);
  ASSERT_TRUE(by_tcp);
  EXPECT_TRUE(by_tcp->over_tcp);
  std::vector<bool> resent;
  f.expire(
      2000, [&](const Forwarder::Send& s) { resent.push_back(s.over_tcp); },
      [](uint16_t, const Client&, std::span<const uint8_t>, size_t) {});
  EXPECT_EQ(resent, (std::vector<bool>{false, true}));
}

TEST(DnsForwarder, AnUnreachableServerIsPassedOverAtOnce) {
  Forwarder f(upstreams("nameserver 192.0.2.1\nnameserver 192.0.2.2\n"), 2000);
  auto query = make_query({.name = "example.org", .id = 99});
  auto send = f.start(query, query.size(), udp_client("10.89.0.5", 1), 0);
  ASSERT_TRUE(send);
  const auto id = static_cast<uint16_t>(send->packet[0] << 8 | send->packet[1]);
  std::vector<std::string> resent;
  std::vector<uint16_t> gave_up;
  auto resend = [&](const Forwarder::Send& s) { resent.push_back(s.upstream->text); };
  auto give_up = [&](uint16_t our_id, const Client&, std::span<const uint8_t> original, size_t) {
    EXPECT_EQ(our_id, id);
    gave_up.push_back(static_cast<uint16_t>(original[0] << 8 | original[1]));
  };
  f.fail(id, 10, resend, give_up);
  EXPECT_EQ(resent, std::vector<std::string>{"192.0.2.2"});
  EXPECT_EQ(f.next_deadline(), 2000u);  // the first attempt's entry, skipped as stale
  f.expire(2000, resend, give_up);
  EXPECT_TRUE(gave_up.empty());  // the second server has until 2010
  f.fail(id, 20, resend, give_up);
  EXPECT_EQ(gave_up, std::vector<uint16_t>{99});
  EXPECT_EQ(f.in_flight(), 0u);
  f.fail(id, 30, resend, give_up);  // no longer in flight: nothing happens
  EXPECT_EQ(resent.size(), 1u);
}

}  // namespace
}  // namespace berth::net::dns
