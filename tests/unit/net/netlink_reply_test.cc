#include "net/netlink_reply.h"

#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace berth::net {
namespace {

// A netlink message: header, fixed part and attributes (type, payload), each padded to 4 bytes.
std::vector<char> message(uint16_t type, std::vector<char> fixed,
                          std::vector<std::pair<uint16_t, std::vector<char>>> attrs = {}) {
  std::vector<char> out(sizeof(nlmsghdr));
  out.insert(out.end(), fixed.begin(), fixed.end());
  for (auto& [t, payload] : attrs) {
    const uint16_t len = static_cast<uint16_t>(4 + payload.size());
    out.insert(out.end(), {static_cast<char>(len & 0xff), static_cast<char>(len >> 8),
                           static_cast<char>(t & 0xff), static_cast<char>(t >> 8)});
    out.insert(out.end(), payload.begin(), payload.end());
    out.resize((out.size() + 3) & ~size_t{3});
  }
  nlmsghdr h{static_cast<uint32_t>(out.size()), type, NLM_F_MULTI, 7, 0};
  std::memcpy(out.data(), &h, sizeof h);
  return out;
}

std::vector<char> ifinfo() { return std::vector<char>(sizeof(ifinfomsg)); }

TEST(NetlinkReply, LengthOverTwoGibibytesIsMalformed) {
  // libmnl took it for a negative length and walked out of the buffer.
  auto m = message(RTM_NEWLINK, ifinfo());
  auto second = message(RTM_NEWLINK, ifinfo());
  const uint32_t huge = 0xfffffff0;
  std::memcpy(second.data(), &huge, sizeof huge);
  m.insert(m.end(), second.begin(), second.end());
  std::vector<std::vector<char>> messages;
  errno = 0;
  EXPECT_EQ(run_replies(m.data(), m.size(), 7, 0, &messages), -1);
  EXPECT_EQ(errno, EBADMSG);
}

TEST(NetlinkReply, LinkNameWithoutItsNulIsRefused) {
  // mnl_attr_get_str read on past the attribute looking for the NUL.
  auto m = message(RTM_NEWLINK, ifinfo(), {{IFLA_IFNAME, {'e', 't', 'h', '0'}}});
  EXPECT_EQ(link_name_from(m), std::nullopt);
  m = message(RTM_NEWLINK, ifinfo(), {{IFLA_IFNAME, {'e', 't', 'h', '0', '\0'}}});
  EXPECT_EQ(link_name_from(m), "eth0");
}

TEST(NetlinkReply, ShortRouteAttributesAndMessagesAreRefused) {
  rtmsg r{};
  r.rtm_family = AF_INET;
  r.rtm_dst_len = 16;
  std::vector<char> fixed(sizeof r);
  std::memcpy(fixed.data(), &r, sizeof r);
  // RTA_DST of one byte: mnl_attr_get_u32 read three bytes past it.
  EXPECT_EQ(route_from(message(RTM_NEWROUTE, fixed, {{RTA_DST, {10}}})), std::nullopt);
  const auto route = route_from(
      message(RTM_NEWROUTE, fixed, {{RTA_DST, {10, 88, 0, 0}}, {RTA_OIF, {3, 0, 0, 0}}}));
  ASSERT_TRUE(route);
  EXPECT_EQ(route->destination.prefix, 16);
  EXPECT_EQ(route->destination.network.value, 0x0a580000u);
  EXPECT_EQ(route->ifindex, 3);
  // A message cut before its rtmsg: it used to be read anyway.
  EXPECT_EQ(route_from(message(RTM_NEWROUTE, {})), std::nullopt);
  EXPECT_EQ(link_index_from(message(RTM_NEWLINK, {1, 2})), std::nullopt);
}

}  // namespace
}  // namespace berth::net
