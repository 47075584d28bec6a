#include "net/dns_names.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace berth::net::dns {
namespace {

std::vector<std::string> order(NameTable& table, std::string_view name) {
  std::vector<std::string> out;
  auto answer = table.find(name);
  if (!answer) return out;
  const auto& a = *answer->addresses;
  for (size_t i = 0; i < a.size(); ++i) {
    in_addr address{a[(answer->first + i) % a.size()]};
    out.push_back(inet_ntoa(address));
  }
  return out;
}

TEST(DnsNames, ReadsRecordsSkippingCommentsAndBlankLines) {
  std::vector<std::string> problems;
  auto table = NameTable::parse(
      "# written by berth\n\nweb 10.89.0.2\n  db\t10.89.0.3  # primary\r\nweb 10.89.0.4\n", "names",
      problems);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(table.record_count(), 3u);
  EXPECT_EQ(table.name_count(), 2u);
  EXPECT_EQ(order(table, "db"), std::vector<std::string>{"10.89.0.3"});
  EXPECT_TRUE(order(table, "cache").empty());
}

TEST(DnsNames, BadLinesAreReportedWithFileAndLineAndSkipped) {
  std::vector<std::string> problems;
  auto table = NameTable::parse(
      "web 10.89.0.2\nweb\nweb 10.89.0.300\nwe$b 10.89.0.5\ndb 10.89.0.3 extra\nok 10.89.0.9\n",
      "/run/berth/networks/n1/names", problems);
  ASSERT_EQ(problems.size(), 4u);
  EXPECT_EQ(problems[0],
            "/run/berth/networks/n1/names:2: expected 'NAME IPV4', got 1 field; line skipped");
  EXPECT_EQ(problems[1],
            "/run/berth/networks/n1/names:3: '10.89.0.300' is not an IPv4 address; line skipped");
  EXPECT_EQ(problems[2],
            "/run/berth/networks/n1/names:4: 'we$b' is not a valid name (labels of letters, "
            "digits, '-', '_'); line skipped");
  EXPECT_EQ(problems[3],
            "/run/berth/networks/n1/names:5: expected 'NAME IPV4', got 3 fields; line skipped");
  EXPECT_EQ(table.record_count(), 2u);
  EXPECT_EQ(order(table, "ok"), std::vector<std::string>{"10.89.0.9"});
}

TEST(DnsNames, NamesMatchCaseInsensitivelyWithOrWithoutTrailingDot) {
  std::vector<std::string> problems;
  auto table = NameTable::parse("Web.Example. 10.89.0.2\n", "names", problems);
  EXPECT_EQ(order(table, "web.example").size(), 1u);
  // Queries arrive lower-cased and without the root dot (dns::Query::name).
  EXPECT_TRUE(order(table, "Web.Example").empty());
  EXPECT_EQ(normalise_name("WEB."), "web");
  EXPECT_FALSE(normalise_name("."));
  EXPECT_FALSE(normalise_name("a..b"));
  EXPECT_FALSE(normalise_name(std::string(64, 'a')));
  EXPECT_TRUE(normalise_name(std::string(63, 'a')));
}

TEST(DnsNames, SeveralRecordsRotateAcrossQueries) {
  std::vector<std::string> problems;
  auto table = NameTable::parse("web 10.0.0.1\nweb 10.0.0.2\nweb 10.0.0.3\n", "names", problems);
  using V = std::vector<std::string>;
  EXPECT_EQ(order(table, "web"), (V{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  EXPECT_EQ(order(table, "web"), (V{"10.0.0.2", "10.0.0.3", "10.0.0.1"}));
  EXPECT_EQ(order(table, "web"), (V{"10.0.0.3", "10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(order(table, "web"), (V{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
}

TEST(DnsNames, ARepeatedLineAddsNothing) {
  std::vector<std::string> problems;
  auto table = NameTable::parse("web 10.0.0.1\nWEB 10.0.0.1\n", "names", problems);
  EXPECT_EQ(table.record_count(), 1u);
  EXPECT_TRUE(problems.empty());
}

TEST(DnsNames, AnAddressNamesTheFirstNameWrittenForIt) {
  std::vector<std::string> problems;
  auto table = NameTable::parse("Web-1. 10.0.0.1\nweb 10.0.0.1\ndb 10.0.0.2\n", "names", problems);
  const std::string* name = table.name_of(inet_addr("10.0.0.1"));
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(*name, "Web-1");
  EXPECT_EQ(table.name_of(inet_addr("10.0.0.9")), nullptr);
}

}  // namespace
}  // namespace berth::net::dns
