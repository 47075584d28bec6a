// net/netlink_reply.h — what the kernel answers on a NETLINK_ROUTE socket, decoded without I/O:
// one datagram run through libmnl (acks, errors, dump parts), and the route and link messages a
// dump returns. Netlink (netlink.h) reads the datagrams; fuzz/netlink_reply_fuzz.cc feeds these
// malformed ones (truncated messages and attributes, names without their NUL).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/netlink.h"

namespace berth::net {

// Runs libmnl's callback loop over one datagram of replies to request `seq` from socket
// `portid`: each data message is appended to `messages` (when not null). Returns mnl_cb_run's
// result: MNL_CB_STOP at the end (an ack or NLMSG_DONE), MNL_CB_OK when more datagrams follow, or
// -1 with errno set (the kernel's error from an NLMSG_ERROR, EPROTO/ESRCH for messages of another
// request, EBADMSG for a malformed one, EINTR for a dump that raced a change).
int run_replies(const char* data, size_t size, uint32_t seq, uint32_t portid,
                std::vector<std::vector<char>>* messages);

// An RTM_NEWROUTE message of a dump: nullopt unless IPv4 and well formed.
std::optional<Route> route_from(const std::vector<char>& message);
// An RTM_NEWLINK message: its IFLA_IFNAME (nullopt when it has none or it is malformed).
std::optional<std::string> link_name_from(const std::vector<char>& message);
// An RTM_NEWLINK message: its interface index (nullopt when too short).
std::optional<int> link_index_from(const std::vector<char>& message);

}  // namespace berth::net
