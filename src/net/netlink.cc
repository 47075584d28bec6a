#include "net/netlink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>

#include "base/sys.h"
#include "net/netlink_reply.h"

namespace berth::net {
namespace {

constexpr size_t kBufferSize = 16384;  // MNL_SOCKET_BUFFER_SIZE caps at 8k; dumps like more

// Joins a network namespace for the life of the guard and goes back to the original one.
class NetnsVisit {
 public:
  static Result<NetnsVisit> enter(int target) {
    NetnsVisit v;
    v.home_ = UniqueFd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!v.home_) return Error::from_errno("open '/proc/thread-self/ns/net'");
    if (::setns(target, CLONE_NEWNET) < 0) return Error::from_errno("enter network namespace");
    return v;
  }
  NetnsVisit(NetnsVisit&&) = default;
  ~NetnsVisit() {
    if (home_ && ::setns(home_.get(), CLONE_NEWNET) < 0) std::abort();  // never run on in a wrong netns
  }

 private:
  NetnsVisit() = default;
  UniqueFd home_;
};

nlmsghdr* new_message(char* buffer, uint16_t type, uint16_t flags) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buffer);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  return nlh;
}

ifinfomsg* put_ifinfo(nlmsghdr* nlh, int index = 0) {
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = index;
  return ifm;
}

}  // namespace

Netlink::Netlink(mnl_socket* socket) : socket_(socket) {}
Netlink::Netlink(Netlink&& other) noexcept : socket_(std::exchange(other.socket_, nullptr)), seq_(other.seq_) {}
Netlink& Netlink::operator=(Netlink&& other) noexcept {
  std::swap(socket_, other.socket_);
  seq_ = other.seq_;
  return *this;
}
Netlink::~Netlink() {
  if (socket_) mnl_socket_close(socket_);
}

Result<Netlink> Netlink::open() {
  mnl_socket* s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!s) return Error::from_errno("open netlink socket");
  Netlink nl(s);
  if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) return Error::from_errno("bind netlink socket");
  nl.seq_ = static_cast<uint32_t>(::getpid()) << 8;
  return nl;
}

Result<Netlink> Netlink::open_in(int netns_fd) {
  BERTH_TRY(auto visit, NetnsVisit::enter(netns_fd));
  return open();
}

Result<void> Netlink::request(void* message, const std::string& what) {
  auto* nlh = static_cast<nlmsghdr*>(message);
  nlh->nlmsg_flags |= NLM_F_ACK;
  nlh->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(socket_, nlh, nlh->nlmsg_len) < 0) return Error::from_errno("{}: netlink send", what);
  char buffer[kBufferSize];
  uint32_t portid = mnl_socket_get_portid(socket_);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(socket_, buffer, sizeof buffer);
    if (n < 0) return Error::from_errno("{}: netlink receive", what);
    int rc = run_replies(buffer, static_cast<size_t>(n), nlh->nlmsg_seq, portid, nullptr);
    if (rc < 0) {
      int saved = errno;
      Error e = Error::with_errno(saved, what);
      if (saved == EEXIST) return Error(ErrorKind::already_exists, e.message(), saved);
      if (saved == ENODEV || saved == ENOENT || saved == ESRCH) return Error(ErrorKind::not_found, e.message(), saved);
      return e;
    }
    if (rc == MNL_CB_STOP) return {};
  }
}

Result<std::vector<std::vector<char>>> Netlink::dump(void* message, const std::string& what) {
  // The kernel marks a dump that raced a change (NLM_F_DUMP_INTR, EINTR from libmnl): ask again.
  for (int attempt = 0;; ++attempt) {
    auto result = dump_once(message, what);
    if (result || result.error().sys_errno() != EINTR || attempt == 20) return result;
  }
}

Result<std::vector<std::vector<char>>> Netlink::dump_once(void* message, const std::string& what) {
  auto* nlh = static_cast<nlmsghdr*>(message);
  nlh->nlmsg_flags |= NLM_F_DUMP;
  nlh->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(socket_, nlh, nlh->nlmsg_len) < 0) return Error::from_errno("{}: netlink send", what);
  std::vector<std::vector<char>> out;
  char buffer[kBufferSize];
  uint32_t portid = mnl_socket_get_portid(socket_);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(socket_, buffer, sizeof buffer);
    if (n < 0) return Error::from_errno("{}: netlink receive", what);
    int rc = run_replies(buffer, static_cast<size_t>(n), nlh->nlmsg_seq, portid, &out);
    if (rc < 0 && errno == EINTR) {
      // Read the rest of this dump (up to NLMSG_DONE), so the next request starts clean.
      for (bool done = false; !done;) {
        int left = static_cast<int>(n);
        for (auto* m = reinterpret_cast<const nlmsghdr*>(buffer); mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left))
          done |= m->nlmsg_type == NLMSG_DONE || m->nlmsg_type == NLMSG_ERROR;
        if (!done && (n = mnl_socket_recvfrom(socket_, buffer, sizeof buffer)) <= 0) break;
      }
      return Error::with_errno(EINTR, what + ": the dump raced a change");
    }
    if (rc < 0) return Error::from_errno("{}", what);
    if (rc == MNL_CB_STOP) return out;
  }
}

Result<int> Netlink::link_index(const std::string& name) {
  // The socket may belong to another namespace than the thread: ask it, not if_nametoindex.
  char buffer[kBufferSize];
  nlmsghdr* nlh = new_message(buffer, RTM_GETLINK, 0);
  put_ifinfo(nlh);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  nlh->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(socket_, nlh, nlh->nlmsg_len) < 0) return Error::from_errno("find link '{}'", name);
  char reply[kBufferSize];
  ssize_t n = mnl_socket_recvfrom(socket_, reply, sizeof reply);
  if (n < 0) return Error::from_errno("find link '{}'", name);
  std::vector<std::vector<char>> messages;
  if (run_replies(reply, static_cast<size_t>(n), nlh->nlmsg_seq, mnl_socket_get_portid(socket_),
                  &messages) < 0) {
    if (errno == ENODEV) return Error::make(ErrorKind::not_found, "link '{}' does not exist", name);
    return Error::from_errno("find link '{}'", name);
  }
  const auto index = messages.empty() ? std::nullopt : link_index_from(messages.front());
  if (!index)
    return Error::make(ErrorKind::corrupt, "find link '{}': the kernel's answer is malformed",
                       name);
  return *index;
}

namespace {
// IFLA_ADDRESS from "02:42:0a:59:00:01"; nothing for an empty or malformed text.
void put_mac(nlmsghdr* nlh, const std::string& text) {
  unsigned char mac[6];
  if (!text.empty() && std::sscanf(text.c_str(), "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
                                   &mac[4], &mac[5]) == 6)
    mnl_attr_put(nlh, IFLA_ADDRESS, sizeof mac, mac);
}
}  // namespace

Result<void> Netlink::create_bridge(const std::string& name, std::optional<int> mtu, const std::string& mac) {
  char buffer[kBufferSize];
  nlmsghdr* nlh = new_message(buffer, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  put_ifinfo(nlh);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  if (mtu) mnl_attr_put_u32(nlh, IFLA_MTU, static_cast<uint32_t>(*mtu));
  put_mac(nlh, mac);
  nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
  mnl_attr_nest_end(nlh, info);
  return request(nlh, fmt::format("create bridge '{}'", name));
}

Result<void> Netlink::create_veth(const std::string& host_name, const std::string& peer_name, int peer_netns_fd,
                                  std::optional<int> mtu, const std::string& peer_mac) {
  char buffer[kBufferSize];
  nlmsghdr* nlh = new_message(buffer, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  put_ifinfo(nlh);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, host_name.c_str());
  if (mtu) mnl_attr_put_u32(nlh, IFLA_MTU, static_cast<uint32_t>(*mtu));
  nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  nlattr* peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
  put_ifinfo(nlh);  // the peer's ifinfomsg sits at the start of VETH_INFO_PEER
  mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name.c_str());
  mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, static_cast<uint32_t>(peer_netns_fd));
  if (mtu) mnl_attr_put_u32(nlh, IFLA_MTU, static_cast<uint32_t>(*mtu));
  put_mac(nlh, peer_mac);
  mnl_attr_nest_end(nlh, peer);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, info);
  return request(nlh, fmt::format("create veth pair '{}'/'{}'", host_name, peer_name));
}

Result<void> Netlink::delete_link(const std::string& name) {
  char buffer[kBufferSize];
  nlmsghdr* nlh = new_message(buffer, RTM_DELLINK, 0);
  put_ifinfo(nlh);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
  return request(nlh, fmt::format("delete link '{}'", name));
}

Result<void> Netlink::set_master(const std::string& name, const std::string& bridge) {
  BERTH_TRY(int index, link_index(name));
  BERTH_TRY(int master, link_index(bridge));
  char buffer[kBufferSize];
  nlmsghdr* nlh = new_message(buffer, RTM_NEWLINK, 0);
  put_ifinfo(nlh, index);
  mnl_attr_put_u32(nlh, IFLA_MASTER, static_cast<uint32_t>(master));
  return request(nlh, fmt::format("attach '{}' to bridge '{}'", name, bridge));
}

Result<void> Netlink::set_up(const std::string& name) {
  BERTH_TRY(int index, link_index(name));
  char buffer[kBufferSize];
  nlmsghdr* nlh = new_message(buffer, RTM_NEWLINK, 0);
  ifinfomsg* ifm = put_ifinfo(nlh, index);
  ifm->ifi_change = IFF_UP;
  ifm->ifi_flags = IFF_UP;
  return request(nlh, fmt::format("set link '{}' up", name));
}

Result<void> Netlink::add_address(const std::string& name, Ipv4 ip, int prefix) {
  BERTH_TRY(int index, link_index(name));
  char buffer[kBufferSize];
  nlmsghdr* nlh = new_message(buffer, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = static_cast<unsigned char>(prefix);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<unsigned>(index);
  uint32_t addr = htonl(ip.value);
  mnl_attr_put_u32(nlh, IFA_LOCAL, addr);
  mnl_attr_put_u32(nlh, IFA_ADDRESS, addr);
  if (prefix < 31) {
    Subnet subnet{ip, prefix};
    subnet.network.value &= subnet.mask();
    mnl_attr_put_u32(nlh, IFA_BROADCAST, htonl(subnet.broadcast().value));
  }
  return request(nlh, fmt::format("add address {}/{} to '{}'", ip.to_string(), prefix, name));
}

Result<void> Netlink::add_default_route(Ipv4 gateway, const std::string& device) {
  BERTH_TRY(int index, link_index(device));
  char buffer[kBufferSize];
  nlmsghdr* nlh = new_message(buffer, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_BOOT;
  rtm->rtm_scope = RT_SCOPE_UNIVERSE;
  rtm->rtm_type = RTN_UNICAST;
  mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gateway.value));
  mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(index));
  return request(nlh, fmt::format("add default route via {} on '{}'", gateway.to_string(), device));
}

Result<std::vector<Route>> Netlink::routes() {
  char buffer[kBufferSize];
  nlmsghdr* nlh = new_message(buffer, RTM_GETROUTE, 0);
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  BERTH_TRY(auto messages, dump(nlh, "list routes"));
  std::vector<Route> out;
  for (const auto& m : messages)
    if (auto route = route_from(m)) out.push_back(*route);
  return out;
}

Result<std::vector<std::string>> Netlink::links_named(const std::string& prefix) {
  char buffer[kBufferSize];
  nlmsghdr* nlh = new_message(buffer, RTM_GETLINK, 0);
  put_ifinfo(nlh);
  BERTH_TRY(auto messages, dump(nlh, "list links"));
  std::vector<std::string> out;
  for (const auto& m : messages) {
    auto name = link_name_from(m);
    if (name && name->starts_with(prefix)) out.push_back(*name);
  }
  return out;
}

Result<void> create_netns(const std::string& path) {
  {
    BERTH_TRY(auto placeholder, sys::open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
  }
  auto made = [&]() -> Result<void> {
    UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!home) return Error::from_errno("open '/proc/thread-self/ns/net'");
    if (::unshare(CLONE_NEWNET) < 0) return Error::from_errno("create network namespace");
    auto bound = sys::mount("/proc/thread-self/ns/net", path, "none", MS_BIND, "");
    if (::setns(home.get(), CLONE_NEWNET) < 0) std::abort();  // never run on in a wrong netns
    BERTH_TRY_VOID(std::move(bound));
    BERTH_TRY(auto fd, sys::open(path, O_RDONLY | O_CLOEXEC));
    BERTH_TRY(auto nl, Netlink::open_in(fd.get()));
    return nl.set_up("lo");
  }();
  if (!made) {
    (void)::umount2(path.c_str(), MNT_DETACH);
    ::unlink(path.c_str());
  }
  return made;
}

Result<void> remove_netns(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    return Error::from_errno("unmount network namespace '{}'", path);
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) return Error::from_errno("remove '{}'", path);
  return {};
}

Result<void> set_net_sysctl(const std::string& key, const std::string& value) {
  std::string path = "/proc/sys/net/" + key;
  if (auto current = sys::read_file(path); current && sys::split(*current, '\n')[0] == value) return {};
  return sys::write_file(path, value).context(fmt::format("set sysctl net.{}", key));
}

}  // namespace berth::net
