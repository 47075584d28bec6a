// net/ipv4.h — IPv4 addresses and subnets, and the address arithmetic IPAM needs. Pure: no
// syscalls, so the rules (which address is the gateway, which a range allows) are unit-tested.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "base/error.h"

namespace berth::net {

struct Ipv4 {
  uint32_t value = 0;  // host byte order
  static Result<Ipv4> parse(std::string_view text);
  std::string to_string() const;
  auto operator<=>(const Ipv4&) const = default;
};

struct Subnet {
  Ipv4 network;
  int prefix = 0;
  // "10.89.0.0/24". The address must be the network address ("10.89.0.1/24" is refused, naming
  // the network address to use instead).
  static Result<Subnet> parse(std::string_view text);
  std::string to_string() const;
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  bool contains(Ipv4 ip) const { return (ip.value & mask()) == network.value; }
  bool contains(const Subnet& other) const { return other.prefix >= prefix && contains(other.network); }
  bool overlaps(const Subnet& other) const { return contains(other.network) || other.contains(network); }
  Ipv4 first_host() const { return {network.value + 1}; }
  Ipv4 broadcast() const { return {network.value | ~mask()}; }
  auto operator<=>(const Subnet&) const = default;
};

// The lowest address of `range` (default: the whole subnet) that is a host address of `subnet`
// (not its network or broadcast address), not the gateway and not in `used`. not_found when the
// range is full (the message names the subnet).
Result<Ipv4> pick_free_address(const Subnet& subnet, const Subnet& range, Ipv4 gateway, const std::set<Ipv4>& used);

// The first subnet of `size` prefix inside `pool` that overlaps none of `taken`.
Result<Subnet> pick_free_subnet(const Subnet& pool, int prefix, const std::set<Subnet>& taken);

// A locally administered MAC derived from the address (02:42:a.b.c.d, as Docker does), so that a
// container keeps its MAC with its address and neighbours' caches stay right.
std::string mac_for(Ipv4 ip);

}  // namespace berth::net
