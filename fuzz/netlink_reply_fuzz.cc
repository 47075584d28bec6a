// netlink_reply: what the kernel answers on a NETLINK_ROUTE socket (net/netlink_reply.h): one
// datagram run through libmnl's callback loop as Netlink::request, dump and link_index do, then
// each message decoded as a route and as a link. The input is a flags byte (bit 0: check the
// sequence number 7; bit 1: check the port id of the first message, bit 2 another one) and the
// datagram. Seeds are real replies of a fresh network namespace (links, routes, acks, errors).
#include <linux/netlink.h>

#include <cstring>

#include "fuzz_util.h"
#include "net/netlink_reply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  // The datagram in a buffer of its own size, so that ASan sees any read past its end.
  std::vector<char> datagram(data + 1, data + size);
  const uint32_t seq = (flags & 1) ? 7 : 0;
  uint32_t portid = 0;
  if ((flags & 2) && datagram.size() >= sizeof(nlmsghdr)) {
    std::memcpy(&portid, datagram.data() + offsetof(nlmsghdr, nlmsg_pid), sizeof portid);
    if (flags & 4) portid ^= 1;
  }
  net::run_replies(datagram.data(), datagram.size(), seq, portid, nullptr);
  std::vector<std::vector<char>> messages;
  net::run_replies(datagram.data(), datagram.size(), seq, portid, &messages);
  for (const auto& m : messages) {
    if (m.size() < sizeof(nlmsghdr)) fuzz::violated("a message shorter than its header");
    if (auto route = net::route_from(m); route && route->destination.prefix > 32)
      fuzz::violated("a route with a prefix over 32");
    net::link_name_from(m);
    net::link_index_from(m);
  }
  return 0;
}
