#include "engine/detail/crash_point.h"
#include "engine/networks.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <nlohmann/json.hpp>
#include <set>

#include "base/clock.h"
#include "base/log.h"
#include "base/trace.h"
#include "base/process.h"
#include "base/sys.h"
#include "engine/containers.h"
#include "engine/detail/networks.h"
#include "engine/events.h"
#include "monitor/protocol.h"
#include "net/firewall.h"
#include "net/ipv4.h"
#include "net/netlink.h"
#include "state/lock.h"
#include "state/transaction.h"

namespace berth::engine {
namespace {

// Subnets berth picks from when --subnet is not given (podman uses 10.88.0.0/16: stay clear).
constexpr const char* kSubnetPool = "10.89.0.0/16";
// Subnet choice and bridge creation are host-wide (every berth root, every process): one lock.
constexpr const char* kHostNetworkLock = "/run/lock/berth-network.lock";

}  // namespace

namespace detail {

Result<std::vector<NetworkRecord>> query_networks(Engine& engine, std::string_view where, const std::string& arg) {
  BERTH_TRY(auto q, engine.db.prepare(std::string(
      "SELECT n.id, n.name, n.driver, n.bridge, n.subnet, n.gateway, n.ip_range, n.internal, n.mtu, n.labels, "
      "n.created, (SELECT count(*) FROM endpoints e WHERE e.network_id = n.id) FROM networks n ") +
                                      std::string(where)));
  if (!arg.empty()) q.bind(1, arg);
  std::vector<NetworkRecord> out;
  for (;;) {
    BERTH_TRY(bool row, q.step());
    if (!row) break;
    NetworkRecord n;
    n.id = q.column_text(0);
    n.name = q.column_text(1);
    n.driver = q.column_text(2);
    n.bridge = q.column_text(3);
    n.subnet = q.column_text(4);
    n.gateway = q.column_text(5);
    n.ip_range = q.column_text(6);
    n.internal = q.column_int64(7) != 0;
    if (auto mtu = q.column_optional_int64(8)) n.mtu = static_cast<int>(*mtu);
    auto labels = nlohmann::json::parse(q.column_text(9), nullptr, false);
    if (labels.is_object()) n.labels = labels.get<std::map<std::string, std::string>>();
    n.created = q.column_int64(10);
    n.containers = q.column_int64(11);
    out.push_back(std::move(n));
  }
  return out;
}

std::vector<std::string> parse_aliases(const std::string& json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  return j.is_array() ? j.get<std::vector<std::string>>() : std::vector<std::string>{};
}

Result<NetworkRecord> find_existing(Engine& engine, std::string_view name_or_id) {
  std::string key(name_or_id);
  BERTH_TRY(auto found, query_networks(engine, "WHERE n.name = ?1 OR n.id = ?1", key));
  if (found.empty() && key.size() >= 3 && key.size() < 64 &&
      std::all_of(key.begin(), key.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
    BERTH_TRY(found, query_networks(engine, "WHERE n.id LIKE ?1 || '%'", key));
    if (found.size() > 1)
      return Error::make(ErrorKind::invalid_argument, "network id '{}' is ambiguous: {} networks start with it", key,
                         found.size());
  }
  if (found.empty())
    return Error::make(ErrorKind::not_found, "network '{}' not found", key)
        .with_hint(fmt::format("create it with `berth network create {}`, or see `berth network ls`", key));
  return found.front();
}

}  // namespace detail

namespace {

using namespace detail;  // the records and DNS names of networks (detail/networks.h)

Result<void> validate_network_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 128 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char ch : name) ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-');
  if (!ok)
    return Error::make(ErrorKind::invalid_argument,
                       "network name '{}': use letters, digits, '_', '.' and '-', starting with a letter or digit",
                       name);
  if (name == "none" || name == "host")
    return Error::make(ErrorKind::invalid_argument, "network name '{}' is reserved", name);
  return {};
}

Result<UniqueFd> host_network_lock() {
  BERTH_TRY_VOID(sys::mkdir_all("/run/lock", 0755));
  BERTH_TRY(auto fd, sys::open(kHostNetworkLock, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  while (::flock(fd.get(), LOCK_EX) < 0)
    if (errno != EINTR) return Error::from_errno("lock '{}'", kHostNetworkLock);
  return fd;
}

// The bridge with its gateway address, up; created when missing (after a reboot, or a crash).
Result<void> ensure_bridge(const NetworkRecord& n) {
  BERTH_TRY(auto nl, net::Netlink::open());
  if (nl.link_index(n.bridge)) return nl.set_up(n.bridge);
  BERTH_TRY(auto lock, host_network_lock());
  if (!nl.link_index(n.bridge)) {
    BERTH_TRY(auto subnet, net::Subnet::parse(n.subnet));
    BERTH_TRY(auto gateway, net::Ipv4::parse(n.gateway));
    auto made = nl.create_bridge(n.bridge, n.mtu, net::mac_for(gateway));
    if (!made && made.error().kind() != ErrorKind::already_exists) return std::move(made).error();
    BERTH_TRY_VOID(nl.add_address(n.bridge, gateway, subnet.prefix));
  }
  BERTH_TRY_VOID(nl.set_up(n.bridge));
  // Published ports reached through 127.0.0.1 are routed out of the bridge.
  BERTH_TRY_VOID(net::set_net_sysctl("ipv4/conf/" + n.bridge + "/route_localnet", "1"));
  if (!n.internal) BERTH_TRY_VOID(net::set_net_sysctl("ipv4/ip_forward", "1"));
  return {};
}

std::string veth_name(const std::string& container_id, int position) {
  return fmt::format("vth{}{}", container_id.substr(0, 11), position);  // 15 characters: IFNAMSIZ - 1
}


// Is a host port free of host processes? Binds it for a moment, as the kernel would refuse.
Result<void> probe_host_port(const std::string& protocol, const std::string& host_ip, int port) {
  UniqueFd fd(::socket(AF_INET, (protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host_ip.c_str(), &addr.sin_addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    if (errno == EADDRINUSE)
      return Error::make(ErrorKind::already_exists, "port {}/{} on {} is already in use by a process on the host",
                         port, protocol, host_ip)
          .with_hint("stop that process, or publish another host port (-p OTHER:PORT)");
    if (errno == EADDRNOTAVAIL)
      return Error::make(ErrorKind::invalid_argument, "{} is not an address of this host", host_ip);
    return Error::from_errno("bind {}:{}/{}", host_ip, port, protocol);
  }
  return {};
}

Result<int> ephemeral_port(const std::string& protocol, const std::string& host_ip) {
  UniqueFd fd(::socket(AF_INET, (protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, host_ip.c_str(), &addr.sin_addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    return Error::from_errno("pick a free port on {}", host_ip);
  socklen_t len = sizeof addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return static_cast<int>(ntohs(addr.sin_port));
}

// Which container publishes this port already (host addresses overlap when equal or either is
// 0.0.0.0)? Empty when none.
Result<std::string> port_owner(Engine& engine, const std::string& protocol, const std::string& host_ip, int port) {
  BERTH_TRY(auto q, engine.db.prepare("SELECT c.name FROM ports p JOIN containers c ON c.id = p.container_id "
                                      "WHERE p.protocol = ?1 AND p.host_port = ?2 AND (p.host_ip = ?3 OR p.host_ip = "
                                      "'0.0.0.0' OR ?3 = '0.0.0.0') LIMIT 1"));
  q.bind_all(protocol, port, host_ip);
  BERTH_TRY(bool row, q.step());
  return row ? q.column_text(0) : std::string();
}


// One veth from the network's bridge into the container's namespace as eth<position>, its
// address, and the default route through the first network that has a way out.
Result<void> wire_endpoint(net::Netlink& host, net::Netlink& inside, int netns_fd, const std::string& container_id,
                           const Endpoint& e, bool& routed) {
  std::string veth = veth_name(container_id, e.position);
  std::string eth = "eth" + std::to_string(e.position);
  auto created = host.create_veth(veth, eth, netns_fd, e.mtu, e.mac());
  if (!created && created.error().kind() == ErrorKind::already_exists) {
    // A leftover of an earlier run whose namespace the kernel has not torn down yet.
    BERTH_TRY_VOID(host.delete_link(veth));
    created = host.create_veth(veth, eth, netns_fd, e.mtu, e.mac());
  }
  BERTH_TRY_VOID(std::move(created));
  BERTH_TRY_VOID(host.set_master(veth, e.bridge));
  BERTH_TRY_VOID(host.set_up(veth));
  BERTH_TRY(auto ip, net::Ipv4::parse(e.ip));
  BERTH_TRY_VOID(inside.add_address(eth, ip, e.prefix));
  BERTH_TRY_VOID(inside.set_up(eth));
  if (!routed && !e.internal) {
    BERTH_TRY(auto gateway, net::Ipv4::parse(e.gateway));
    BERTH_TRY_VOID(inside.add_default_route(gateway, eth));
    routed = true;
  }
  return {};
}

Result<void> apply_firewall(Engine& engine) {
  std::vector<net::FirewallNetwork> networks;
  BERTH_TRY(auto all, query_networks(engine, "ORDER BY n.created"));
  for (const auto& n : all) {
    BERTH_TRY(auto subnet, net::Subnet::parse(n.subnet));
    networks.push_back({n.bridge, subnet, n.internal});
  }
  std::vector<net::PublishedPort> ports;
  BERTH_TRY(auto q, engine.db.prepare("SELECT p.protocol, p.host_ip, p.host_port, e.ip, p.container_port FROM ports p "
                                      "JOIN endpoints e ON e.container_id = p.container_id AND e.active = 1 AND "
                                      "e.position = 0 ORDER BY p.host_port"));
  for (;;) {
    BERTH_TRY(bool row, q.step());
    if (!row) break;
    net::PublishedPort p;
    p.protocol = q.column_text(0);
    if (std::string host_ip = q.column_text(1); host_ip != "0.0.0.0") {
      BERTH_TRY(p.host_ip, net::Ipv4::parse(host_ip));
    }
    p.host_port = static_cast<int>(q.column_int64(2));
    BERTH_TRY(p.container_ip, net::Ipv4::parse(q.column_text(3)));
    p.container_port = static_cast<int>(q.column_int64(4));
    ports.push_back(p);
  }
  return net::apply_nft(net::render_ruleset(firewall_table(engine.layout), networks, ports));
}


}  // namespace

std::string Endpoint::mac() const {
  auto parsed = net::Ipv4::parse(ip);
  return parsed ? net::mac_for(*parsed) : std::string();
}

std::string firewall_table(const Layout& layout) {
  if (layout.root == Layout{}.root) return "berth";
  uint32_t hash = 2166136261u;  // FNV-1a: stable across builds and runs
  for (unsigned char c : layout.root) hash = (hash ^ c) * 16777619u;
  return fmt::format("berth_{:08x}", hash);
}

Result<void> sync_firewall(Engine& engine) {
  BERTH_TRY(auto lock, state::ObjectLock::acquire(engine.layout.locks(), "firewall", "table",
                                                  state::ObjectLock::Mode::exclusive));
  return apply_firewall(engine).context("update berth's nftables table");
}

Result<NetworkRecord> create_network(Engine& engine, const NetworkOptions& options) {
  BERTH_TRY_VOID(validate_network_name(options.name));
  if (options.driver != "bridge")
    return Error::make(ErrorKind::unsupported, "network driver '{}' is not supported", options.driver)
        .with_hint("use --driver bridge (the default)");
  NetworkRecord n;
  n.name = options.name;
  n.internal = options.internal;
  n.labels = options.labels;
  for (const auto& [key, value] : options.options) {
    if (key == "mtu" || key == "com.docker.network.driver.mtu") {
      char* end = nullptr;
      long mtu = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end || mtu < 68 || mtu > 65535)
        return Error::make(ErrorKind::invalid_argument, "--opt mtu={}: give a number between 68 and 65535", value);
      n.mtu = static_cast<int>(mtu);
    } else {
      return Error::make(ErrorKind::invalid_argument, "--opt {}: unknown option (known: mtu)", key);
    }
  }
  BERTH_TRY(auto lock, host_network_lock());
  BERTH_TRY(auto existing, query_networks(engine, "WHERE n.name = ?1", n.name));
  if (!existing.empty())
    return Error::make(ErrorKind::already_exists, "network '{}' already exists", n.name)
        .with_hint("choose another name, or remove it with `berth network rm " + n.name + "`");

  // Subnets in use: other networks', and every route of the host (another engine's bridge, a VPN).
  std::set<net::Subnet> taken;
  std::map<net::Subnet, std::string> taken_by;
  BERTH_TRY(auto all, query_networks(engine, ""));
  for (const auto& other : all)
    if (auto s = net::Subnet::parse(other.subnet)) {
      taken.insert(*s);
      taken_by[*s] = "network '" + other.name + "'";
    }
  BERTH_TRY(auto nl, net::Netlink::open());
  BERTH_TRY(auto routes, nl.routes());
  for (const auto& r : routes)
    if (r.destination.prefix > 0 && r.destination.prefix < 32 && !taken.contains(r.destination)) {
      taken.insert(r.destination);
      taken_by[r.destination] = "a route of the host";
    }
  net::Subnet subnet;
  if (!options.subnet.empty()) {
    BERTH_TRY(subnet, net::Subnet::parse(options.subnet).context("--subnet"));
    if (subnet.prefix > 30)
      return Error::make(ErrorKind::invalid_argument, "--subnet {}: too small, use a /30 or larger", options.subnet);
    for (const auto& t : taken)
      if (t.overlaps(subnet))
        return Error::make(ErrorKind::already_exists, "--subnet {} overlaps {} ({})", options.subnet, t.to_string(),
                           taken_by[t])
            .with_hint("choose a subnet that no network or route of this host uses");
  } else {
    BERTH_TRY(auto pool, net::Subnet::parse(kSubnetPool));
    BERTH_TRY(subnet, net::pick_free_subnet(pool, 24, taken));
  }
  n.subnet = subnet.to_string();
  net::Ipv4 gateway = subnet.first_host();
  if (!options.gateway.empty()) {
    BERTH_TRY(gateway, net::Ipv4::parse(options.gateway).context("--gateway"));
    if (!subnet.contains(gateway) || gateway == subnet.network || gateway == subnet.broadcast())
      return Error::make(ErrorKind::invalid_argument, "--gateway {} is not a host address of {}", options.gateway,
                         n.subnet);
  }
  n.gateway = gateway.to_string();
  if (!options.ip_range.empty()) {
    BERTH_TRY(auto range, net::Subnet::parse(options.ip_range).context("--ip-range"));
    if (!subnet.contains(range))
      return Error::make(ErrorKind::invalid_argument, "--ip-range {} is not inside --subnet {}", options.ip_range,
                         n.subnet);
    n.ip_range = range.to_string();
  }
  n.id = sys::random_hex(32);
  n.bridge = std::string(net::kBridgePrefix) + n.id.substr(0, 11);
  n.created = clock::now_ns();
  {
    BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
    BERTH_TRY(auto insert, engine.db.prepare("INSERT INTO networks(id, name, driver, bridge, subnet, gateway, "
                                             "ip_range, internal, mtu, labels, created) VALUES (?1, ?2, ?3, ?4, ?5, "
                                             "?6, ?7, ?8, ?9, ?10, ?11)"));
    insert.bind_all(n.id, n.name, n.driver, n.bridge, n.subnet, n.gateway, n.ip_range, n.internal, n.mtu,
                    nlohmann::json(n.labels).dump(), n.created);
    BERTH_TRY_VOID(insert.run());
    BERTH_TRY_VOID(record_event(engine.db, "network", "create", n.id, {{"name", n.name}, {"type", n.driver}}));
    BERTH_TRY_VOID(tx.commit());
  }
  lock = UniqueFd();
  detail::crash_point("network-create:after-row");
  auto wired = [&]() -> Result<void> {
    BERTH_TRY_VOID(ensure_bridge(n));
    detail::crash_point("network-create:after-bridge");
    return sync_firewall(engine);
  }();
  if (!wired) {
    (void)nl.delete_link(n.bridge);
    if (auto del = engine.db.prepare("DELETE FROM networks WHERE id = ?1")) {
      del->bind(1, n.id);
      (void)del->run();
    }
    return std::move(wired).error().context(fmt::format("create network '{}'", n.name));
  }
  return n;
}

Result<NetworkRecord> find_network(Engine& engine, std::string_view name_or_id) {
  auto found = find_existing(engine, name_or_id);
  if (!found && found.error().kind() == ErrorKind::not_found && name_or_id == kDefaultNetwork) {
    NetworkOptions o;
    o.name = kDefaultNetwork;
    auto made = create_network(engine, o);
    if (made || made.error().kind() != ErrorKind::already_exists) return made;
    return find_existing(engine, name_or_id);  // another berth made it first
  }
  return found;
}

Result<std::vector<NetworkRecord>> list_networks(Engine& engine) {
  BERTH_TRY(auto found, find_network(engine, kDefaultNetwork));
  return query_networks(engine, "ORDER BY n.created");
}

Result<void> remove_network(Engine& engine, std::string_view name_or_id) {
  // The default network too, when no container uses it: it is made again when one needs it,
  // and removing it is how a host is left as it was before berth's first `-p`.
  BERTH_TRY(auto n, find_existing(engine, name_or_id));
  BERTH_TRY(auto q, engine.db.prepare("SELECT c.name FROM endpoints e JOIN containers c ON c.id = e.container_id "
                                      "WHERE e.network_id = ?1 ORDER BY c.name"));
  q.bind(1, n.id);
  std::vector<std::string> users;
  for (;;) {
    BERTH_TRY(bool row, q.step());
    if (!row) break;
    users.push_back(q.column_text(0));
  }
  if (!users.empty()) {
    std::string list;
    for (const auto& u : users) list += (list.empty() ? "" : ", ") + u;
    return Error::make(ErrorKind::failed_precondition, "network '{}' is in use by container(s) {}", n.name, list)
        .with_hint("remove them, or `berth network disconnect " + n.name + " CONTAINER`");
  }
  // The bridge goes before the row: a crash in between leaves a network without its bridge,
  // which works (the next container on it makes the bridge again) and which `network rm`
  // removes. The other order left a bridge no row names, that no command could tell from
  // another root's.
  BERTH_TRY(auto nl, net::Netlink::open());
  if (auto del = nl.delete_link(n.bridge); !del && del.error().kind() != ErrorKind::not_found)
    return std::move(del).error();
  detail::crash_point("network-rm:after-bridge");
  {
    BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
    BERTH_TRY(auto del, engine.db.prepare("DELETE FROM networks WHERE id = ?1"));
    del.bind(1, n.id);
    BERTH_TRY_VOID(del.run());
    BERTH_TRY_VOID(record_event(engine.db, "network", "destroy", n.id, {{"name", n.name}, {"type", n.driver}}));
    BERTH_TRY_VOID(tx.commit());
  }
  (void)sys::remove_all(engine.layout.network_run(n.id));
  return sync_firewall(engine);
}

Result<void> remove_all_networks(Engine& engine) {
  BERTH_TRY(auto all, query_networks(engine, "ORDER BY n.created"));
  for (const auto& n : all) {
    if (n.name != kDefaultNetwork) {
      BERTH_TRY_VOID(remove_network(engine, n.id));
      continue;
    }
    if (n.containers > 0)
      return Error::make(ErrorKind::failed_precondition, "network '{}' is in use by {} container(s)", n.name,
                         n.containers);
    BERTH_TRY(auto del, engine.db.prepare("DELETE FROM networks WHERE id = ?1"));
    del.bind(1, n.id);
    BERTH_TRY_VOID(del.run());
    BERTH_TRY(auto nl, net::Netlink::open());
    (void)nl.delete_link(n.bridge);
    (void)sys::remove_all(engine.layout.network_run(n.id));
  }
  return net::delete_nft_table(firewall_table(engine.layout));
}

Result<std::vector<std::string>> prune_networks(Engine& engine) {
  BERTH_TRY(auto unused, query_networks(engine, "WHERE NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.network_id = n.id) AND "
                                       "n.name != 'bridge' ORDER BY n.name"));
  std::vector<std::string> removed;
  for (const auto& n : unused) {
    BERTH_TRY_VOID(remove_network(engine, n.id));
    removed.push_back(n.name);
  }
  return removed;
}

std::string network_inspect_json(Engine& engine, const NetworkRecord& n) {
  nlohmann::json containers = nlohmann::json::object();
  if (auto q = engine.db.prepare("SELECT c.id, c.name, e.ip, e.aliases FROM endpoints e JOIN containers c ON c.id = "
                                 "e.container_id WHERE e.network_id = ?1")) {
    q->bind(1, n.id);
    for (auto row = q->step(); row && *row; row = q->step()) {
      auto prefix = net::Subnet::parse(n.subnet);
      std::string ip = q->column_text(2);
      auto parsed = net::Ipv4::parse(ip);
      containers[q->column_text(0)] = {{"Name", q->column_text(1)},
                                       {"IPv4Address", ip + "/" + std::to_string(prefix ? prefix->prefix : 0)},
                                       {"MacAddress", parsed ? net::mac_for(*parsed) : ""},
                                       {"Aliases", parse_aliases(q->column_text(3))}};
    }
  }
  nlohmann::json config = {{"Subnet", n.subnet}, {"Gateway", n.gateway}};
  if (!n.ip_range.empty()) config["IPRange"] = n.ip_range;
  nlohmann::json options = nlohmann::json::object();
  options["com.docker.network.bridge.name"] = n.bridge;
  if (n.mtu) options["com.docker.network.driver.mtu"] = std::to_string(*n.mtu);
  nlohmann::json j = {{"Name", n.name},
                      {"Id", n.id},
                      {"Created", clock::rfc3339(n.created)},
                      {"Scope", "local"},
                      {"Driver", n.driver},
                      {"EnableIPv6", false},
                      {"IPAM", {{"Driver", "default"}, {"Config", nlohmann::json::array({config})}}},
                      {"Internal", n.internal},
                      {"Containers", containers},
                      {"Options", options},
                      {"Labels", n.labels}};
  return j.dump(4);
}

Result<std::vector<Endpoint>> container_endpoints(Engine& engine, const std::string& container_id) {
  BERTH_TRY(auto q, engine.db.prepare("SELECT n.id, n.name, n.bridge, e.ip, n.gateway, n.subnet, e.aliases, "
                                      "e.position, n.internal, n.mtu FROM endpoints e JOIN networks n ON n.id = "
                                      "e.network_id WHERE e.container_id = ?1 ORDER BY e.position"));
  q.bind(1, container_id);
  std::vector<Endpoint> out;
  for (;;) {
    BERTH_TRY(bool row, q.step());
    if (!row) break;
    Endpoint e;
    e.network_id = q.column_text(0);
    e.network = q.column_text(1);
    e.bridge = q.column_text(2);
    e.ip = q.column_text(3);
    e.gateway = q.column_text(4);
    if (auto s = net::Subnet::parse(q.column_text(5))) e.prefix = s->prefix;
    e.aliases = parse_aliases(q.column_text(6));
    e.position = static_cast<int>(q.column_int64(7));
    e.internal = q.column_int64(8) != 0;
    if (auto mtu = q.column_optional_int64(9)) e.mtu = static_cast<int>(*mtu);
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<PublishedPortRecord>> container_ports(Engine& engine, const std::string& container_id) {
  BERTH_TRY(auto q, engine.db.prepare("SELECT protocol, host_ip, host_port, container_port FROM ports WHERE "
                                      "container_id = ?1 ORDER BY container_port, protocol"));
  q.bind(1, container_id);
  std::vector<PublishedPortRecord> out;
  for (;;) {
    BERTH_TRY(bool row, q.step());
    if (!row) break;
    out.push_back({q.column_text(0), q.column_text(1), static_cast<int>(q.column_int64(2)),
                   static_cast<int>(q.column_int64(3))});
  }
  return out;
}

std::string format_ports(const std::vector<PublishedPortRecord>& ports) {
  std::string out;
  for (const auto& p : ports)
    out += fmt::format("{}{}:{}->{}/{}", out.empty() ? "" : ", ", p.host_ip, p.host_port, p.container_port,
                       p.protocol);
  return out;
}

Result<void> check_network_config(Engine& engine, const ContainerConfig& config) {
  if (config.network.starts_with("container:")) {
    if (!config.publish.empty() || config.publish_all)
      return Error(ErrorKind::invalid_argument, "--network container:… shares that container's ports: -p is not allowed");
    return {};
  }
  if (!config.on_bridge()) {
    if (!config.publish.empty() || config.publish_all)
      return Error::make(ErrorKind::invalid_argument, "-p needs a bridge network, not --network {}", config.network)
          .with_hint("drop -p (with --network host the container uses the host's ports directly)");
    if (!config.network_aliases.empty() || !config.ip.empty())
      return Error::make(ErrorKind::invalid_argument, "--network-alias and --ip need a bridge network, not --network {}",
                         config.network);
    return {};
  }
  BERTH_TRY(auto n, find_network(engine, config.network));
  if (!config.ip.empty()) {
    BERTH_TRY(auto ip, net::Ipv4::parse(config.ip).context("--ip"));
    BERTH_TRY(auto subnet, net::Subnet::parse(n.subnet));
    if (!subnet.contains(ip) || ip == subnet.network || ip == subnet.broadcast() || ip.to_string() == n.gateway)
      return Error::make(ErrorKind::invalid_argument, "--ip {} is not a free host address of network '{}' ({})",
                         config.ip, n.name, n.subnet);
  }
  for (const auto& p : config.publish)
    if (auto parsed = parse_port(p); !parsed) return std::move(parsed).error();
  for (const auto& h : config.add_hosts) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0 || !net::Ipv4::parse(h.substr(colon + 1)))
      return Error::make(ErrorKind::invalid_argument, "--add-host '{}': use NAME:IPv4", h);
  }
  for (const auto& d : config.dns) BERTH_TRY_VOID(net::Ipv4::parse(d).context("--dns"));
  return {};
}

Result<void> reserve_network(Engine& engine, const std::string& container_id, const ContainerConfig& config,
                             const std::vector<std::string>& exposed) {
  if (!config.on_bridge()) return {};
  BERTH_TRY(auto n, find_existing(engine, config.network));
  BERTH_TRY_VOID(connect_container(engine, container_id, n.id, config.network_aliases, config.ip));
  std::vector<PortSpec> wanted;
  for (const auto& p : config.publish) {
    BERTH_TRY(auto spec, parse_port(p));
    wanted.push_back(spec);
  }
  if (config.publish_all)
    for (const auto& e : exposed) {
      auto slash = e.find('/');
      PortSpec p;
      p.container_port = std::atoi(e.substr(0, slash).c_str());
      if (slash != std::string::npos) p.protocol = e.substr(slash + 1);
      bool already = std::any_of(wanted.begin(), wanted.end(), [&](const PortSpec& w) {
        return w.container_port == p.container_port && w.protocol == p.protocol;
      });
      if (p.container_port > 0 && !already) wanted.push_back(p);
    }
  for (auto& p : wanted) {
    std::string host_ip = p.host_ip.empty() ? "0.0.0.0" : p.host_ip;
    if (p.host_port == 0) {
      for (int attempt = 0; p.host_port == 0 && attempt < 20; ++attempt) {
        BERTH_TRY(int port, ephemeral_port(p.protocol, host_ip));
        BERTH_TRY(auto owner, port_owner(engine, p.protocol, host_ip, port));
        if (owner.empty()) p.host_port = port;
      }
      if (p.host_port == 0) return Error(ErrorKind::unavailable, "no free host port left to publish on");
    } else {
      BERTH_TRY(auto owner, port_owner(engine, p.protocol, host_ip, p.host_port));
      if (!owner.empty())
        return Error::make(ErrorKind::already_exists, "port {}/{} on {} is already published by container {}",
                           p.host_port, p.protocol, host_ip, owner)
            .with_hint("publish another host port (-p OTHER:" + std::to_string(p.container_port) + "), or remove " +
                       owner);
      BERTH_TRY_VOID(probe_host_port(p.protocol, host_ip, p.host_port));
    }
    BERTH_TRY(auto insert, engine.db.prepare("INSERT INTO ports(container_id, protocol, host_ip, host_port, "
                                             "container_port) VALUES (?1, ?2, ?3, ?4, ?5)"));
    insert.bind_all(container_id, p.protocol, host_ip, p.host_port, p.container_port);
    BERTH_TRY_VOID(insert.run());
  }
  return {};
}

std::string netns_path_for(const Engine& engine, const std::string& container_id, const ContainerConfig& config) {
  if (config.network.starts_with("container:")) return engine.layout.netns(config.network.substr(10));
  return config.on_bridge() ? engine.layout.netns(container_id) : std::string();
}

Result<void> wire_container(Engine& engine, const std::string& container_id, const ContainerConfig& config) {
  if (config.network.starts_with("container:")) {
    std::string path = netns_path_for(engine, container_id, config);
    if (!sys::exists(path))
      return Error::make(ErrorKind::failed_precondition, "--network {}: that container is not running on a network",
                         config.network)
          .with_hint("start it first");
    return {};
  }
  if (!config.on_bridge()) return {};
  BERTH_TRY(auto endpoints, container_endpoints(engine, container_id));
  auto wired = [&]() -> Result<void> {
    std::vector<NetworkRecord> networks;
    for (const auto& e : endpoints) {
      BERTH_TRY(auto n, find_existing(engine, e.network_id));
      BERTH_TRY_VOID(ensure_bridge(n));
      networks.push_back(std::move(n));
    }
    std::string path = engine.layout.netns(container_id);
    BERTH_TRY_VOID(sys::mkdir_all(engine.layout.netns_dir(), 0755));
    BERTH_TRY_VOID(net::remove_netns(path));  // a leftover of a crash
    BERTH_TRY_VOID(net::create_netns(path));
    trace::mark("start: network: namespace");
    BERTH_TRY(auto ns, sys::open(path, O_RDONLY | O_CLOEXEC));
    BERTH_TRY(auto host, net::Netlink::open());
    BERTH_TRY(auto inside, net::Netlink::open_in(ns.get()));
    bool routed = false;
    for (const auto& e : endpoints) BERTH_TRY_VOID(wire_endpoint(host, inside, ns.get(), container_id, e, routed));
    trace::mark("start: network: veth, address, route");
    BERTH_TRY(auto ports, container_ports(engine, container_id));
    for (const auto& p : ports) BERTH_TRY_VOID(probe_host_port(p.protocol, p.host_ip, p.host_port));
    BERTH_TRY(auto activate, engine.db.prepare("UPDATE endpoints SET active = 1 WHERE container_id = ?1"));
    activate.bind(1, container_id);
    BERTH_TRY_VOID(activate.run());
    BERTH_TRY_VOID(write_dns_names_near(engine, container_id));
    trace::mark("start: network: record, DNS names");
    for (const auto& n : networks) BERTH_TRY_VOID(ensure_dns(engine, n));
    trace::mark("start: network: DNS responder");
    if (!ports.empty()) BERTH_TRY_VOID(sync_firewall(engine));
    return {};
  }();
  if (!wired) {
    unwire_container(engine, container_id, config);
    return std::move(wired).error().context("connect to network");
  }
  return {};
}

void unwire_container(Engine& engine, const std::string& container_id, const ContainerConfig& config) {
  if (!config.on_bridge()) return;
  // Unbinding the namespace is enough: when its last user is gone the kernel destroys it, and
  // with it both ends of each veth, off this path (deleting a veth here waits ~20 ms for RCU).
  if (auto removed = net::remove_netns(engine.layout.netns(container_id)); !removed)
    log::warn(removed.error().message());
  auto endpoints = container_endpoints(engine, container_id);
  if (!endpoints) return log::warn(endpoints.error().message());
  bool was_active = false;
  if (auto q = engine.db.prepare("SELECT count(*) FROM endpoints WHERE container_id = ?1 AND active = 1")) {
    q->bind(1, container_id);
    auto row = q->step();
    was_active = row && *row && q->column_int64(0) > 0;
  }
  if (!was_active) return;
  if (auto q = engine.db.prepare("UPDATE endpoints SET active = 0 WHERE container_id = ?1")) {
    q->bind(1, container_id);
    if (auto done = q->run(); !done) log::warn(done.error().message());
  }
  if (auto written = write_dns_names_near(engine, container_id); !written) log::warn(written.error().message());
  auto ports = container_ports(engine, container_id);
  if (ports && !ports->empty())
    if (auto synced = sync_firewall(engine); !synced) log::warn(synced.error().message());
}

Result<void> connect_container(Engine& engine, const std::string& container_id, std::string_view network,
                               const std::vector<std::string>& aliases, const std::string& requested_ip) {
  BERTH_TRY(auto n, find_existing(engine, network));
  BERTH_TRY(auto subnet, net::Subnet::parse(n.subnet));
  BERTH_TRY(auto gateway, net::Ipv4::parse(n.gateway));
  net::Subnet range = subnet;
  if (!n.ip_range.empty()) {
    BERTH_TRY(range, net::Subnet::parse(n.ip_range));
  }
  BERTH_TRY(auto q, engine.db.prepare("SELECT e.ip, c.name FROM endpoints e JOIN containers c ON c.id = "
                                      "e.container_id WHERE e.network_id = ?1"));
  q.bind(1, n.id);
  std::set<net::Ipv4> used;
  std::map<net::Ipv4, std::string> user_of;
  for (;;) {
    BERTH_TRY(bool row, q.step());
    if (!row) break;
    if (auto ip = net::Ipv4::parse(q.column_text(0))) {
      used.insert(*ip);
      user_of[*ip] = q.column_text(1);
    }
  }
  net::Ipv4 ip;
  if (!requested_ip.empty()) {
    BERTH_TRY(ip, net::Ipv4::parse(requested_ip).context("--ip"));
    if (!subnet.contains(ip) || ip == subnet.network || ip == subnet.broadcast() || ip == gateway)
      return Error::make(ErrorKind::invalid_argument, "--ip {} is not a host address of network '{}' ({})",
                         requested_ip, n.name, n.subnet);
    if (used.contains(ip))
      return Error::make(ErrorKind::already_exists, "address {} on network '{}' is already used by container {}",
                         requested_ip, n.name, user_of[ip]);
  } else {
    BERTH_TRY(ip, net::pick_free_address(subnet, range, gateway, used).context(fmt::format("network '{}'", n.name)));
  }
  BERTH_TRY(auto position, engine.db.prepare("SELECT coalesce(max(position) + 1, 0) FROM endpoints WHERE "
                                             "container_id = ?1"));
  position.bind(1, container_id);
  BERTH_TRY(bool row, position.step());
  int64_t next = row ? position.column_int64(0) : 0;
  position.reset();
  BERTH_TRY(auto insert, engine.db.prepare("INSERT INTO endpoints(container_id, network_id, ip, aliases, position) "
                                           "VALUES (?1, ?2, ?3, ?4, ?5)"));
  insert.bind_all(container_id, n.id, ip.to_string(), nlohmann::json(aliases).dump(), next);
  auto inserted = insert.run();
  if (!inserted && inserted.error().kind() == ErrorKind::already_exists)
    return Error::make(ErrorKind::already_exists, "the container is already connected to network '{}'", n.name);
  return inserted;
}

Result<void> disconnect_container(Engine& engine, const std::string& container_id, std::string_view network) {
  BERTH_TRY(auto n, find_existing(engine, network));
  BERTH_TRY(auto del, engine.db.prepare("DELETE FROM endpoints WHERE container_id = ?1 AND network_id = ?2"));
  del.bind_all(container_id, n.id);
  BERTH_TRY_VOID(del.run());
  if (engine.db.changes() == 0)
    return Error::make(ErrorKind::not_found, "the container is not connected to network '{}'", n.name);
  return write_all_dns_names(engine);
}

Result<void> wire_new_endpoint(Engine& engine, const std::string& container_id, std::string_view network) {
  BERTH_TRY(auto n, find_existing(engine, network));
  BERTH_TRY(auto endpoints, container_endpoints(engine, container_id));
  auto it = std::find_if(endpoints.begin(), endpoints.end(), [&](const Endpoint& e) { return e.network_id == n.id; });
  if (it == endpoints.end()) return Error::make(ErrorKind::not_found, "not connected to network '{}'", n.name);
  BERTH_TRY_VOID(ensure_bridge(n));
  BERTH_TRY(auto ns, sys::open(engine.layout.netns(container_id), O_RDONLY | O_CLOEXEC));
  BERTH_TRY(auto host, net::Netlink::open());
  BERTH_TRY(auto inside, net::Netlink::open_in(ns.get()));
  // A default route exists when an earlier network has a way out.
  bool routed = std::any_of(endpoints.begin(), it, [](const Endpoint& e) { return !e.internal; });
  BERTH_TRY_VOID(wire_endpoint(host, inside, ns.get(), container_id, *it, routed));
  BERTH_TRY(auto activate, engine.db.prepare("UPDATE endpoints SET active = 1 WHERE container_id = ?1 AND "
                                             "network_id = ?2"));
  activate.bind_all(container_id, n.id);
  BERTH_TRY_VOID(activate.run());
  BERTH_TRY_VOID(write_dns_names_near(engine, container_id));
  return ensure_dns(engine, n);
}

Result<void> unwire_endpoint(Engine& engine, const std::string& container_id, std::string_view network) {
  BERTH_TRY(auto endpoints, container_endpoints(engine, container_id));
  BERTH_TRY(auto n, find_existing(engine, network));
  for (const auto& e : endpoints) {
    if (e.network_id != n.id) continue;
    BERTH_TRY(auto host, net::Netlink::open());
    if (auto del = host.delete_link(veth_name(container_id, e.position)); !del && del.error().kind() != ErrorKind::not_found)
      return std::move(del).error();
  }
  return {};
}

Result<std::vector<std::string>> check_networks(Engine& engine, bool repair) {
  std::vector<std::string> found;
  // Wiring of containers that do not run: their netns mount and host veths.
  std::set<std::string> running;
  BERTH_TRY(auto q, engine.db.prepare("SELECT id FROM containers WHERE state IN ('running', 'paused', 'restarting')"));
  for (;;) {
    BERTH_TRY(bool row, q.step());
    if (!row) break;
    running.insert(q.column_text(0));
  }
  for (const auto& id : sys::list_dir(engine.layout.netns_dir())) {
    if (running.contains(id)) continue;
    found.push_back(fmt::format("network namespace of container {} that does not run", id.substr(0, 12)));
    if (repair) BERTH_TRY_VOID(net::remove_netns(engine.layout.netns(id)));
  }
  BERTH_TRY(auto stale, engine.db.prepare("SELECT e.container_id FROM endpoints e JOIN containers c ON c.id = "
                                          "e.container_id WHERE e.active = 1 AND c.state NOT IN ('running', "
                                          "'paused', 'restarting')"));
  std::vector<std::string> inactive;
  for (;;) {
    BERTH_TRY(bool row, stale.step());
    if (!row) break;
    inactive.push_back(stale.column_text(0));
  }
  BERTH_TRY(auto nl, net::Netlink::open());
  BERTH_TRY(auto veths, nl.links_named("vth"));
  BERTH_TRY(auto all_ids, engine.db.prepare("SELECT id FROM containers"));
  std::vector<std::string> ids;
  for (;;) {
    BERTH_TRY(bool row, all_ids.step());
    if (!row) break;
    ids.push_back(all_ids.column_text(0));
  }
  for (const auto& veth : veths) {
    std::string prefix = veth.substr(3, 11);
    auto owner = std::find_if(ids.begin(), ids.end(), [&](const std::string& id) { return id.starts_with(prefix); });
    // Only veths of this root's containers: another root's are not ours to judge.
    if (owner == ids.end() || running.contains(*owner)) continue;
    found.push_back(fmt::format("veth {} of container {} that does not run", veth, owner->substr(0, 12)));
    if (repair) (void)nl.delete_link(veth);
  }
  for (const auto& id : inactive) {
    found.push_back(fmt::format("DNS names and ports of stopped container {}", id.substr(0, 12)));
    if (repair) {
      BERTH_TRY(auto off, engine.db.prepare("UPDATE endpoints SET active = 0 WHERE container_id = ?1"));
      off.bind(1, id);
      BERTH_TRY_VOID(off.run());
    }
  }
  BERTH_TRY(auto networks, query_networks(engine, ""));
  if (repair && !inactive.empty()) BERTH_TRY_VOID(write_all_dns_names(engine));
  for (const auto& n : networks) {
    bool in_use = false;
    for (const auto& id : running) {
      BERTH_TRY(auto eps, container_endpoints(engine, id));
      for (const auto& e : eps) in_use |= e.network_id == n.id;
    }
    if (in_use && !nl.link_index(n.bridge)) {
      found.push_back(fmt::format("bridge {} of network '{}' is missing", n.bridge, n.name));
      if (repair) BERTH_TRY_VOID(ensure_bridge(n));
    }
  }
  // Bridges of this root's networks that no longer exist in berth.db cannot be told apart from
  // another root's: left alone. The table is always rewritten whole, so it is right afterwards.
  if (repair && !networks.empty()) BERTH_TRY_VOID(sync_firewall(engine));
  return found;
}

Result<void> join_network(Engine& engine, std::string_view container, std::string_view network,
                          const std::vector<std::string>& aliases, const std::string& ip) {
  BERTH_TRY(auto c, find_container(engine, container));
  if (!c.config.on_bridge())
    return Error::make(ErrorKind::failed_precondition, "container {} uses --network {}: it cannot join other networks",
                       c.name, c.config.network);
  BERTH_TRY_VOID(connect_container(engine, c.id, network, aliases, ip));
  if (c.running()) {
    if (auto wired = wire_new_endpoint(engine, c.id, network); !wired) {
      (void)disconnect_container(engine, c.id, network);
      return std::move(wired).error();
    }
  }
  return {};
}

Result<void> leave_network(Engine& engine, std::string_view container, std::string_view network) {
  BERTH_TRY(auto c, find_container(engine, container));
  if (c.running()) BERTH_TRY_VOID(unwire_endpoint(engine, c.id, network));
  return disconnect_container(engine, c.id, network);
}

}  // namespace berth::engine
