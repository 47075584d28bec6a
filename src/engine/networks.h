// engine/networks.h — networks as users see them (`berth network ...`) and the wiring of each
// container to its networks: an address leased in berth.db (never handed out twice), a network
// namespace with a veth into the network's bridge, published ports in berth's nftables table,
// and the names berth-dns answers with. A crash at any point is repaired by the next start,
// `rm`, or `system check`.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "engine/container_config.h"
#include "engine/engine.h"

namespace berth::engine {

// The network containers join when --network is not given: created on first use.
inline constexpr const char* kDefaultNetwork = "bridge";

struct NetworkRecord {
  std::string id, name, driver = "bridge", bridge;
  std::string subnet, gateway, ip_range;  // "10.89.0.0/24", "10.89.0.1", "" (whole subnet)
  bool internal = false;
  std::optional<int> mtu;
  std::map<std::string, std::string> labels;
  int64_t created = 0;
  int64_t containers = 0;  // attached containers
};

struct NetworkOptions {
  std::string name;
  std::string driver = "bridge";
  std::string subnet, gateway, ip_range;  // "" = chosen by berth
  bool internal = false;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> options;  // --opt: mtu=1400
};

Result<NetworkRecord> create_network(Engine& engine, const NetworkOptions& options);
// By name, full id or unique id prefix. The default network is created when first asked for.
Result<NetworkRecord> find_network(Engine& engine, std::string_view name_or_id);
Result<std::vector<NetworkRecord>> list_networks(Engine& engine);
// Refuses while a container is attached (the message names them); the default network too.
Result<void> remove_network(Engine& engine, std::string_view name_or_id);
// `system reset`: every network, the default one too, and berth's nftables table. Refused while
// a container is attached to any.
Result<void> remove_all_networks(Engine& engine);
// Removes networks no container uses (not the default one); returns their names.
Result<std::vector<std::string>> prune_networks(Engine& engine);
std::string network_inspect_json(Engine& engine, const NetworkRecord& network);

// A container's place on one network.
struct Endpoint {
  std::string network_id, network, bridge;
  std::string ip, gateway;
  int prefix = 0;
  std::vector<std::string> aliases;
  int position = 0;  // eth<position>
  bool internal = false;
  std::optional<int> mtu;
  std::string mac() const;
};
Result<std::vector<Endpoint>> container_endpoints(Engine& engine, const std::string& container_id);

struct PublishedPortRecord {
  std::string protocol, host_ip;  // host_ip "0.0.0.0" for every address
  int host_port = 0, container_port = 0;
};
Result<std::vector<PublishedPortRecord>> container_ports(Engine& engine, const std::string& container_id);
// "0.0.0.0:8080->80/tcp, 127.0.0.1:8081->81/tcp" as `ps` shows them.
std::string format_ports(const std::vector<PublishedPortRecord>& ports);

// --- used by containers.cc --------------------------------------------------------------------

// Inside create's transaction, after the container's row: leases an address on the container's
// network (its --ip, or the lowest free one) and reserves its published ports. A port taken by
// another container or by a host process is refused, naming it. `exposed` is the image's
// EXPOSE list, for -P.
Result<void> reserve_network(Engine& engine, const std::string& container_id, const ContainerConfig& config,
                             const std::vector<std::string>& exposed);
// Before create's transaction: resolves the network (creating the default one) so that bad
// input fails before anything is written.
Result<void> check_network_config(Engine& engine, const ContainerConfig& config);
// The network namespace path the container's spec joins ("" for none/host: the runtime makes a
// new empty one, or uses the host's).
std::string netns_path_for(const Engine& engine, const std::string& container_id, const ContainerConfig& config);
// /etc/hosts and /etc/resolv.conf content for a container on its networks.
Result<std::string> hosts_file_for(Engine& engine, const std::string& container_id, const ContainerConfig& config,
                                   const std::string& hostname);
Result<std::string> resolv_conf_for(Engine& engine, const std::string& container_id, const ContainerConfig& config);

// At start: the netns, veths, addresses and routes, the firewall's ports, DNS names.
Result<void> wire_container(Engine& engine, const std::string& container_id, const ContainerConfig& config);
// Rewrites the names of the container's networks (after its health changed: a service name
// answers with healthy instances only).
Result<void> refresh_dns_names(Engine& engine, const std::string& container_id);
// At exit, failed start and rm: undoes wire_container (what is already gone is fine).
void unwire_container(Engine& engine, const std::string& container_id, const ContainerConfig& config);
// A running container joins a network it was just connected to: a new eth<n> in its namespace.
Result<void> wire_new_endpoint(Engine& engine, const std::string& container_id, std::string_view network);
// A running container leaves a network (before disconnect_container drops the lease).
Result<void> unwire_endpoint(Engine& engine, const std::string& container_id, std::string_view network);
// `network connect`/`disconnect`: the lease and names (see wire_new_endpoint for a running one).
Result<void> connect_container(Engine& engine, const std::string& container_id, std::string_view network,
                               const std::vector<std::string>& aliases, const std::string& ip);
Result<void> disconnect_container(Engine& engine, const std::string& container_id, std::string_view network);
// The whole of `network connect` for a container by name or id: refused for one not on a
// bridge (--network host/none/container:), the lease, and for a running one its new interface
// (the lease is dropped again when that fails).
Result<void> join_network(Engine& engine, std::string_view container, std::string_view network,
                          const std::vector<std::string>& aliases, const std::string& ip);
// The whole of `network disconnect`: a running container's interface goes first.
Result<void> leave_network(Engine& engine, std::string_view container, std::string_view network);

// berth's nftables table for this root: "berth" for /var/lib/berth, "berth_<hash>" otherwise
// (test roots do not fight over one table).
std::string firewall_table(const Layout& layout);
// Replaces berth's nftables table with what berth.db says.
Result<void> sync_firewall(Engine& engine);

// `system check`: leftovers of crashed wiring (netns mounts and host veths of containers that do
// not run, DNS names of stopped containers, missing bridges of networks in use, the firewall).
// Returns what it repaired, one line each; with `repair` false only reports.
Result<std::vector<std::string>> check_networks(Engine& engine, bool repair);

}  // namespace berth::engine
