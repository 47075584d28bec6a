// net/firewall.h — berth's own nftables table: outbound NAT, isolation between networks,
// --internal networks, and published ports (DNAT, including from 127.0.0.1 and from containers
// through the host's address). The whole table is rendered from the state and replaced in one
// atomic nftables transaction, so a crash never leaves half a rule set and rules that are not
// berth's are never touched.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "net/ipv4.h"

namespace berth::net {

struct FirewallNetwork {
  std::string bridge;
  Subnet subnet;
  bool internal = false;
};

struct PublishedPort {
  std::string protocol;          // "tcp" or "udp"
  std::optional<Ipv4> host_ip;   // nullopt: every local address
  int host_port = 0;
  Ipv4 container_ip;
  int container_port = 0;
};

// Every bridge berth creates starts with this, so that isolation rules can name them all.
inline constexpr const char* kBridgePrefix = "bth-";
// UDP DNS queries a second one container address may send to berth-dns (render_ruleset).
inline constexpr int kDnsQueriesPerSecond = 2000;

// The nft script that replaces table `ip <table>` with these networks and ports.
std::string render_ruleset(const std::string& table, const std::vector<FirewallNetwork>& networks,
                           const std::vector<PublishedPort>& ports);

// Runs an nft script through libnftables in one transaction; errors carry nft's message.
Result<void> apply_nft(const std::string& script);
// Removes table `ip <table>` if it exists.
Result<void> delete_nft_table(const std::string& table);

}  // namespace berth::net
