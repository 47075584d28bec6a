// Netlink replies decoded (net/netlink_reply.h). Every length is checked before it is read: the
// kernel is trusted, but a message cut short must not make berth read past it.
#include "net/netlink_reply.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace berth::net {
namespace {

// The message's header, when `message` holds at least a header and `extra` bytes of payload and
// its nlmsg_len says so.
const nlmsghdr* header_of(const std::vector<char>& message, size_t extra) {
  if (message.size() < mnl_nlmsg_size(extra)) return nullptr;
  const auto* h = reinterpret_cast<const nlmsghdr*>(message.data());
  if (h->nlmsg_len < mnl_nlmsg_size(extra) || h->nlmsg_len > message.size()) return nullptr;
  return h;
}

}  // namespace

int run_replies(const char* data, size_t size, uint32_t seq, uint32_t portid,
                std::vector<std::vector<char>>* messages) {
  auto collect = [](const nlmsghdr* m, void* out) -> int {
    const char* p = reinterpret_cast<const char*>(m);
    static_cast<std::vector<std::vector<char>>*>(out)->emplace_back(p, p + m->nlmsg_len);
    return MNL_CB_OK;
  };
  // libmnl's mnl_nlmsg_ok compares nlmsg_len cast to int: a length over 2^31 passes as
  // negative and mnl_nlmsg_next jumps out of the buffer. Each length is checked here first.
  for (size_t at = 0; size - at >= sizeof(nlmsghdr);) {
    nlmsghdr h;
    std::memcpy(&h, data + at, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > size - at) {
      errno = EBADMSG;
      return MNL_CB_ERROR;
    }
    at += std::min<size_t>(MNL_ALIGN(h.nlmsg_len), size - at);
  }
  return mnl_cb_run(data, size, seq, portid, messages ? mnl_cb_t{collect} : nullptr, messages);
}

std::optional<Route> route_from(const std::vector<char>& message) {
  const nlmsghdr* h = header_of(message, sizeof(rtmsg));
  if (!h) return std::nullopt;
  rtmsg r;
  std::memcpy(&r, mnl_nlmsg_get_payload(h), sizeof r);
  if (r.rtm_family != AF_INET || r.rtm_dst_len > 32) return std::nullopt;
  Route route;
  route.destination.prefix = r.rtm_dst_len;
  const int rc = mnl_attr_parse(
      h, sizeof(rtmsg),
      [](const nlattr* attr, void* data) -> int {
        auto* route = static_cast<Route*>(data);
        const uint16_t type = mnl_attr_get_type(attr);
        if (type != RTA_DST && type != RTA_OIF) return MNL_CB_OK;
        if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0) return MNL_CB_ERROR;
        if (type == RTA_DST) route->destination.network.value = ntohl(mnl_attr_get_u32(attr));
        if (type == RTA_OIF) route->ifindex = static_cast<int>(mnl_attr_get_u32(attr));
        return MNL_CB_OK;
      },
      &route);
  if (rc < 0) return std::nullopt;
  return route;
}

std::optional<std::string> link_name_from(const std::vector<char>& message) {
  const nlmsghdr* h = header_of(message, sizeof(ifinfomsg));
  if (!h) return std::nullopt;
  std::optional<std::string> name;
  const int rc = mnl_attr_parse(
      h, sizeof(ifinfomsg),
      [](const nlattr* attr, void* data) -> int {
        if (mnl_attr_get_type(attr) != IFLA_IFNAME) return MNL_CB_OK;
        // MNL_TYPE_NUL_STRING: the name ends with its NUL inside the attribute.
        if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0) return MNL_CB_ERROR;
        *static_cast<std::optional<std::string>*>(data) = mnl_attr_get_str(attr);
        return MNL_CB_OK;
      },
      &name);
  if (rc < 0) return std::nullopt;
  return name;
}

std::optional<int> link_index_from(const std::vector<char>& message) {
  const nlmsghdr* h = header_of(message, sizeof(ifinfomsg));
  if (!h) return std::nullopt;
  ifinfomsg info;
  std::memcpy(&info, mnl_nlmsg_get_payload(h), sizeof info);
  return info.ifi_index;
}

}  // namespace berth::net
