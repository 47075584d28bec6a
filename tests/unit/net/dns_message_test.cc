#include "net/dns_message.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <random>

#include "dns_test_packets.h"

namespace berth::net::dns {
namespace {

using testing::make_query;
using testing::QuerySpec;
using testing::read_response;

// A heap copy of exactly n bytes, so a read past the end is a heap overflow the sanitizer
// build reports.
ParseOutcome parse_exact(const uint8_t* data, size_t n, Query& q) {
  auto copy = std::make_unique<uint8_t[]>(n == 0 ? 1 : n);
  std::copy(data, data + n, copy.get());
  return parse_query(std::span<const uint8_t>(copy.get(), n), q);
}

TEST(DnsParseQuery, ReadsHeaderAndQuestionLowerCasingTheName) {
  auto packet = make_query({.name = "Web.Example", .type = rrtype::kAaaa, .id = 0xBEEF});
  Query q;
  auto outcome = parse_query(packet, q);
  ASSERT_EQ(outcome.verdict, Verdict::query);
  EXPECT_EQ(q.id, 0xBEEF);
  EXPECT_EQ(q.name, "web.example");
  EXPECT_TRUE(q.name_is_plain);
  EXPECT_EQ(q.qtype, rrtype::kAaaa);
  EXPECT_EQ(q.qclass, kClassIn);
  EXPECT_EQ(q.question_end, packet.size());
  EXPECT_FALSE(q.edns);
  EXPECT_EQ(q.udp_payload, 512);
}

TEST(DnsParseQuery, ReadsTheEdnsPayloadAndVersion) {
  Query q;
  ASSERT_EQ(parse_query(make_query({.edns_payload = 4096, .edns_version = 1}), q).verdict,
            Verdict::query);
  EXPECT_TRUE(q.edns);
  EXPECT_EQ(q.udp_payload, 4096);
  EXPECT_EQ(q.edns_version, 1);
  // A payload below 512 means 512 (RFC 6891 6.2.5).
  ASSERT_EQ(parse_query(make_query({.edns_payload = 100}), q).verdict, Verdict::query);
  EXPECT_EQ(q.udp_payload, 512);
}

TEST(DnsParseQuery, DropsPacketsShorterThanAHeaderAndResponses) {
  Query q;
  auto packet = make_query({});
  EXPECT_EQ(parse_exact(packet.data(), 11, q).verdict, Verdict::drop);
  EXPECT_EQ(parse_exact(packet.data(), 0, q).verdict, Verdict::drop);
  EXPECT_EQ(parse_query(make_query({.flags = 0x8180}), q).verdict, Verdict::drop);
}

TEST(DnsParseQuery, RejectsOtherOpcodesWithNotimp) {
  Query q;
  auto outcome = parse_query(make_query({.flags = 0x2800}), q);  // opcode 5: UPDATE
  EXPECT_EQ(outcome.verdict, Verdict::reject);
  EXPECT_EQ(outcome.rcode, Rcode::notimp);
}

TEST(DnsParseQuery, RejectsMalformedQuestionsWithFormerr) {
  Query q;
  auto expect_formerr = [&](std::vector<uint8_t> packet, const char* why) {
    auto outcome = parse_query(packet, q);
    EXPECT_EQ(outcome.verdict, Verdict::reject) << why;
    EXPECT_EQ(outcome.rcode, Rcode::formerr) << why;
  };
  auto two_questions = make_query({});
  two_questions[5] = 2;
  expect_formerr(two_questions, "two questions");
  auto no_question = make_query({});
  no_question[5] = 0;
  expect_formerr(no_question, "no question");
  auto with_answer = make_query({});
  with_answer[7] = 1;
  expect_formerr(with_answer, "an answer in a query");
  auto pointer = make_query({.name = "web"});
  pointer[12] = 0xC0;  // a compression pointer where the first label starts
  expect_formerr(pointer, "compression pointer in the question");
  auto long_label = make_query({.name = "web"});
  long_label[12] = 60;  // the label claims bytes the packet does not have
  expect_formerr(long_label, "label past the end");
  std::string huge;
  for (int i = 0; i < 5; ++i) huge += std::string(60, 'a') + ".";
  huge.pop_back();
  expect_formerr(make_query({.name = huge}), "name longer than 255 bytes");
  auto two_opts = make_query({.edns_payload = 1232});
  two_opts[11] = 2;
  two_opts.insert(two_opts.end(), two_opts.end() - 11, two_opts.end());
  expect_formerr(two_opts, "two OPT records");
}

TEST(DnsParseQuery, ALabelHoldingADotIsNeverAPlainName) {
  // One label "a.b" must not match the two-label name a.b.
  std::vector<uint8_t> packet = make_query({.name = "xxx"});
  packet[14] = '.';
  Query q;
  ASSERT_EQ(parse_query(packet, q).verdict, Verdict::query);
  EXPECT_EQ(q.name, "x.x");
  EXPECT_FALSE(q.name_is_plain);
}

TEST(DnsParseQuery, EveryTruncationOfAQueryIsDroppedOrRejected) {
  auto packet = make_query({.name = "db.backend.example", .edns_payload = 1232});
  Query q;
  for (size_t n = 0; n < packet.size(); ++n) {
    auto outcome = parse_exact(packet.data(), n, q);
    EXPECT_NE(outcome.verdict, Verdict::query) << "prefix of " << n << " bytes";
  }
  EXPECT_EQ(parse_exact(packet.data(), packet.size(), q).verdict, Verdict::query);
}

TEST(DnsParseQuery, RandomGarbageNeverReadsPastTheEnd) {
  std::mt19937 random(42);
  Query q;
  auto base = make_query({.name = "web.example", .edns_payload = 1232});
  int queries = 0;
  for (int i = 0; i < 20000; ++i) {
    // Half pure noise, half a valid query with a few bytes flipped (reaches deeper code).
    std::vector<uint8_t> packet;
    if (i % 2 == 0) {
      packet.resize(random() % 80);
      for (auto& b : packet) b = static_cast<uint8_t>(random());
    } else {
      packet = base;
      for (int flips = 0; flips < 3; ++flips) {
        packet[random() % packet.size()] = static_cast<uint8_t>(random());
      }
      packet.resize(random() % (packet.size() + 1));
    }
    auto outcome = parse_exact(packet.data(), packet.size(), q);
    if (outcome.verdict == Verdict::query) {
      ++queries;
      EXPECT_LE(q.question_end, packet.size());
      EXPECT_LE(q.name.size(), 254u);
    }
  }
  EXPECT_GT(queries, 0);  // the mutations did reach the end of parsing sometimes
}

TEST(DnsResponseBuilder, AnswersPointAtTheQuestionAndEchoIdAndRd) {
  auto packet = make_query({.name = "WeB", .id = 77});
  Query q;
  ASSERT_EQ(parse_query(packet, q).verdict, Verdict::query);
  std::array<uint8_t, 512> out{};
  ResponseBuilder reply(out, packet, q, true, true);
  EXPECT_TRUE(reply.add_a(inet_addr("10.89.0.5"), 0));
  EXPECT_TRUE(reply.add_a(inet_addr("10.89.0.6"), 0));
  size_t n = reply.finish();
  auto r = read_response(out.data(), n);
  ASSERT_TRUE(r.well_formed);
  EXPECT_EQ(r.id, 77);
  EXPECT_EQ(r.flags, 0x8580);  // QR AA RD RA, NOERROR
  EXPECT_EQ(r.qd, 1);
  EXPECT_EQ(r.a, (std::vector<std::string>{"10.89.0.5", "10.89.0.6"}));
  // The question is copied as sent: the client's 0x20 case survives.
  EXPECT_EQ(std::string(out.begin() + 13, out.begin() + 16), "WeB");
}

TEST(DnsResponseBuilder, AnswersThatDoNotFitAreDroppedAndTcSet) {
  auto packet = make_query({});
  Query q;
  ASSERT_EQ(parse_query(packet, q).verdict, Verdict::query);
  std::array<uint8_t, 512> out{};
  ResponseBuilder reply(out, packet, q, true, false);
  int added = 0;
  while (reply.add_a(htonl(0x0A000000u + static_cast<uint32_t>(added)), 0)) ++added;
  EXPECT_EQ(added, (512 - 12 - 9) / 16);  // header, question "web", 16 bytes per A record
  auto r = read_response(out.data(), reply.finish());
  ASSERT_TRUE(r.well_formed);
  EXPECT_TRUE(r.tc());
  EXPECT_EQ(r.an, 0);
}

TEST(DnsResponseBuilder, EdnsQueriesGetAnOptRecordAndExtendedRcode) {
  auto packet = make_query({.edns_payload = 4096});
  Query q;
  ASSERT_EQ(parse_query(packet, q).verdict, Verdict::query);
  std::array<uint8_t, 512> out{};
  ResponseBuilder reply(out, packet, q, false, false);
  reply.set_rcode(Rcode::badvers);
  auto r = read_response(out.data(), reply.finish());
  ASSERT_TRUE(r.well_formed);
  EXPECT_TRUE(r.opt);
  EXPECT_EQ(r.opt_payload, kOurUdpPayload);
  EXPECT_EQ(r.rcode(), 16);
}

TEST(DnsBuildReject, EchoesIdOpcodeAndRdWithTheRcode) {
  Query q;
  auto outcome = parse_query(make_query({.id = 9, .flags = 0x2900}), q);
  ASSERT_EQ(outcome.verdict, Verdict::reject);
  std::array<uint8_t, 12> out{};
  ASSERT_EQ(build_reject(q, outcome.rcode, out), 12u);
  auto r = read_response(out.data(), 12);
  EXPECT_TRUE(r.well_formed);
  EXPECT_EQ(r.id, 9);
  EXPECT_EQ(r.flags, 0x8000 | 0x2900 | 4);
}

TEST(DnsEncodeName, WritesLabelsAndRefusesBadNames) {
  std::array<uint8_t, 255> out{};
  auto n = encode_name("web.example.", out);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 13u);
  EXPECT_EQ(std::string(out.begin(), out.begin() + 13), std::string("\3web\7example\0", 13));
  EXPECT_FALSE(encode_name("a..b", out));
  EXPECT_FALSE(encode_name("a.", std::span<uint8_t>(out.data(), 2)));
  EXPECT_FALSE(encode_name(std::string(64, 'x'), out));
  EXPECT_EQ(encode_name("", out), 1u);
}

TEST(DnsParseReverse, ReadsInAddrArpaNamesOnly) {
  EXPECT_EQ(parse_reverse_ipv4("5.0.89.10.in-addr.arpa"), inet_addr("10.89.0.5"));
  EXPECT_FALSE(parse_reverse_ipv4("0.89.10.in-addr.arpa"));
  EXPECT_FALSE(parse_reverse_ipv4("1.5.0.89.10.in-addr.arpa"));
  EXPECT_FALSE(parse_reverse_ipv4("256.0.89.10.in-addr.arpa"));
  EXPECT_FALSE(parse_reverse_ipv4("x.0.89.10.in-addr.arpa"));
  EXPECT_FALSE(parse_reverse_ipv4(".in-addr.arpa"));
  EXPECT_FALSE(parse_reverse_ipv4("5.0.89.10.ip6.arpa"));
}

}  // namespace
}  // namespace berth::net::dns
