#include "net/dns_answer.h"

#include <gtest/gtest.h>

#include <array>

#include "dns_test_packets.h"

namespace berth::net::dns {
namespace {

using testing::make_query;
using testing::QuerySpec;
using testing::read_response;
using testing::Response;

class DnsAnswer : public ::testing::Test {
 protected:
  void load(std::string_view text) {
    std::vector<std::string> problems;
    names_ = NameTable::parse(text, "names", problems);
    ASSERT_TRUE(problems.empty());
  }
  Action run(const QuerySpec& spec, Response* response, bool tcp = false) {
    auto packet = make_query(spec);
    size_t n = 0;
    AnswerContext context{names_, can_forward_, 0, tcp};
    Action action = answer(context, packet, query_, out_, &n);
    if (response) *response = read_response(out_.data(), n);
    if (action == Action::reply) {
      EXPECT_TRUE(response == nullptr || response->well_formed);
    }
    return action;
  }

  NameTable names_;
  bool can_forward_ = true;
  Query query_;
  std::array<uint8_t, kTcpLimit> out_{};
};

TEST_F(DnsAnswer, AnswersAForAKnownNameAuthoritatively) {
  load("web 10.89.0.2\n");
  Response r;
  ASSERT_EQ(run({.name = "WEB.", .id = 5}, &r), Action::reply);
  EXPECT_EQ(r.id, 5);
  EXPECT_EQ(r.rcode(), 0);
  EXPECT_TRUE(r.aa());
  EXPECT_EQ(r.a, std::vector<std::string>{"10.89.0.2"});
}

TEST_F(DnsAnswer, AnswersAllRecordsOfANameInRotatingOrder) {
  load("web 10.0.0.1\nweb 10.0.0.2\n");
  Response first, second;
  run({}, &first);
  run({}, &second);
  EXPECT_EQ(first.a, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(second.a, (std::vector<std::string>{"10.0.0.2", "10.0.0.1"}));
}

TEST_F(DnsAnswer, OtherTypesForAKnownNameAreNoerrorWithoutAnswers) {
  load("web 10.0.0.1\n");
  Response r;
  ASSERT_EQ(run({.type = rrtype::kAaaa}, &r), Action::reply);
  EXPECT_EQ(r.rcode(), 0);
  EXPECT_EQ(r.an, 0);
  ASSERT_EQ(run({.type = 16 /* TXT */}, &r), Action::reply);
  EXPECT_EQ(r.an, 0);
}

TEST_F(DnsAnswer, PtrOfAKnownAddressGivesItsFirstName) {
  load("web-1 10.89.0.7\nweb 10.89.0.7\n");
  Response r;
  ASSERT_EQ(run({.name = "7.0.89.10.in-addr.arpa", .type = rrtype::kPtr}, &r), Action::reply);
  EXPECT_EQ(r.ptr, std::vector<std::string>{"web-1"});
  // An address the table does not know is someone else's: forwarded.
  EXPECT_EQ(run({.name = "8.0.89.10.in-addr.arpa", .type = rrtype::kPtr}, &r), Action::forward);
}

TEST_F(DnsAnswer, UnknownNamesAreForwardedOrRefusedWithoutUpstreams) {
  load("web 10.0.0.1\n");
  Response r;
  EXPECT_EQ(run({.name = "example.org"}, &r), Action::forward);
  can_forward_ = false;
  ASSERT_EQ(run({.name = "example.org", .edns_payload = 1232}, &r), Action::reply);
  EXPECT_EQ(r.rcode(), 5);
  EXPECT_FALSE(r.aa());
  EXPECT_TRUE(r.opt);
}

TEST_F(DnsAnswer, MalformedQueriesGetFormerrAndResponsesNothing) {
  auto packet = make_query({.id = 3});
  packet[5] = 2;
  size_t n = 0;
  AnswerContext context{names_, true};
  ASSERT_EQ(answer(context, packet, query_, out_, &n), Action::reply);
  auto r = read_response(out_.data(), n);
  EXPECT_EQ(r.id, 3);
  EXPECT_EQ(r.rcode(), 1);
  EXPECT_EQ(run({.flags = 0x8000}, nullptr), Action::drop);
}

TEST_F(DnsAnswer, ManyRecordsSetTcOverUdpAndAllArriveOverTcp) {
  auto records = [](int count) {
    std::string text;
    for (int i = 1; i <= count; ++i) text += "big 10.1.0." + std::to_string(i) + "\n";
    return text;
  };
  load(records(100));
  Response r;
  run({.name = "big"}, &r);
  EXPECT_TRUE(r.tc());
  EXPECT_EQ(r.an, 0);
  run({.name = "big", .edns_payload = 4096}, &r);  // EDNS: up to our 1232 bytes
  EXPECT_TRUE(r.tc());
  load(records(50));  // 50 records fit in 1232 bytes, not in 512
  run({.name = "big", .edns_payload = 4096}, &r);
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.a.size(), 50u);
  load(records(100));
  run({.name = "big"}, &r, true);
  EXPECT_FALSE(r.tc());
  EXPECT_EQ(r.a.size(), 100u);
}

TEST_F(DnsAnswer, NewerEdnsVersionsGetBadvers) {
  load("web 10.0.0.1\n");
  Response r;
  ASSERT_EQ(run({.edns_payload = 1232, .edns_version = 1}, &r), Action::reply);
  EXPECT_EQ(r.rcode(), 16);
  EXPECT_EQ(r.an, 0);
}

}  // namespace
}  // namespace berth::net::dns
