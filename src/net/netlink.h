// net/netlink.h — rtnetlink through libmnl: bridges, veth pairs, addresses, routes, link state;
// and network namespaces kept alive by a bind mount (as `ip netns add` does). No `ip` commands:
// every change is one netlink request whose error names the link and the operation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "net/ipv4.h"

struct mnl_socket;

namespace berth::net {

// A route as the kernel lists it: destination subnet and the device it goes out of.
struct Route {
  Subnet destination;
  int ifindex = 0;
};

// One NETLINK_ROUTE socket, bound to the network namespace it was opened in. Not thread-safe.
class Netlink {
 public:
  // A socket in the caller's network namespace.
  static Result<Netlink> open();
  // A socket in the namespace `netns_fd` refers to (the calling thread visits it and comes back).
  static Result<Netlink> open_in(int netns_fd);
  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;
  ~Netlink();

  // The link's index, or not_found.
  Result<int> link_index(const std::string& name);
  // With a `mac` of its own ("02:42:..."), the bridge keeps it: otherwise Linux gives it the
  // lowest of its ports' addresses, which changes as containers come and go, and a container that
  // cached the gateway's old address loses its way out until its neighbour entry expires.
  Result<void> create_bridge(const std::string& name, std::optional<int> mtu, const std::string& mac = {});
  // A veth pair: `host_name` here, `peer_name` created directly in `peer_netns_fd`.
  Result<void> create_veth(const std::string& host_name, const std::string& peer_name, int peer_netns_fd,
                           std::optional<int> mtu, const std::string& peer_mac);
  Result<void> delete_link(const std::string& name);  // not_found when it does not exist
  Result<void> set_master(const std::string& name, const std::string& bridge);
  Result<void> set_up(const std::string& name);
  Result<void> add_address(const std::string& name, Ipv4 ip, int prefix);
  Result<void> add_default_route(Ipv4 gateway, const std::string& device);
  Result<std::vector<Route>> routes();
  // Names of the links whose name starts with `prefix`.
  Result<std::vector<std::string>> links_named(const std::string& prefix);

 private:
  explicit Netlink(mnl_socket* socket);
  Result<void> request(void* message, const std::string& what);
  Result<std::vector<std::vector<char>>> dump(void* message, const std::string& what);
  Result<std::vector<std::vector<char>>> dump_once(void* message, const std::string& what);
  mnl_socket* socket_ = nullptr;
  uint32_t seq_ = 0;
};

// A new network namespace bound to `path` (created; must not exist), with loopback up. The
// namespace lives until unbind_netns.
Result<void> create_netns(const std::string& path);
// Unmounts and deletes `path`; a missing path is fine. Links inside go when the last user leaves.
Result<void> remove_netns(const std::string& path);

// Writes a sysctl under /proc/sys/net ("ipv4/ip_forward", "1").
Result<void> set_net_sysctl(const std::string& key, const std::string& value);

}  // namespace berth::net
