#include "net/ipv4.h"

#include <arpa/inet.h>

#include <fmt/core.h>

namespace berth::net {

Result<Ipv4> Ipv4::parse(std::string_view text) {
  in_addr addr{};
  std::string s(text);
  if (::inet_pton(AF_INET, s.c_str(), &addr) != 1)
    return Error::make(ErrorKind::invalid_argument, "'{}' is not an IPv4 address", text);
  return Ipv4{ntohl(addr.s_addr)};
}

std::string Ipv4::to_string() const {
  return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 255, (value >> 8) & 255, value & 255);
}

Result<Subnet> Subnet::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return Error::make(ErrorKind::invalid_argument, "subnet '{}' needs a prefix length, as in 10.89.0.0/24", text);
  auto ip = Ipv4::parse(text.substr(0, slash));
  if (!ip) return Error::make(ErrorKind::invalid_argument, "subnet '{}': {}", text, ip.error().message());
  std::string prefix_text(text.substr(slash + 1));
  char* end = nullptr;
  long prefix = std::strtol(prefix_text.c_str(), &end, 10);
  if (prefix_text.empty() || *end != '\0' || prefix < 0 || prefix > 32)
    return Error::make(ErrorKind::invalid_argument, "subnet '{}': prefix length '{}' is not 0..32", text, prefix_text);
  Subnet s{*ip, static_cast<int>(prefix)};
  if ((ip->value & s.mask()) != ip->value)
    return Error::make(ErrorKind::invalid_argument, "subnet '{}' has host bits set: did you mean {}/{}?", text,
                       Ipv4{ip->value & s.mask()}.to_string(), prefix);
  return s;
}

std::string Subnet::to_string() const { return network.to_string() + "/" + std::to_string(prefix); }

Result<Ipv4> pick_free_address(const Subnet& subnet, const Subnet& range, Ipv4 gateway, const std::set<Ipv4>& used) {
  uint64_t first = std::max<uint64_t>(range.network.value, subnet.network.value + 1);
  uint64_t last = std::min<uint64_t>(uint64_t{range.network.value} | ~range.mask(), subnet.broadcast().value - 1);
  for (uint64_t v = first; v <= last; ++v) {
    Ipv4 ip{static_cast<uint32_t>(v)};
    if (ip != gateway && !used.contains(ip)) return ip;
  }
  return Error::make(ErrorKind::unavailable, "no free address left in {}", range.to_string())
      .with_hint("remove containers from the network, or create one with a larger --subnet");
}

Result<Subnet> pick_free_subnet(const Subnet& pool, int prefix, const std::set<Subnet>& taken) {
  if (prefix < pool.prefix) return Error::make(ErrorKind::internal, "a /{} does not fit in {}", prefix, pool.to_string());
  uint64_t step = uint64_t{1} << (32 - prefix);
  for (uint64_t v = pool.network.value; v <= (uint64_t{pool.network.value} | ~pool.mask()); v += step) {
    Subnet candidate{Ipv4{static_cast<uint32_t>(v)}, prefix};
    bool clash = false;
    for (const auto& t : taken) clash |= t.overlaps(candidate);
    if (!clash) return candidate;
  }
  return Error::make(ErrorKind::unavailable, "no free /{} subnet left in {}", prefix, pool.to_string())
      .with_hint("give the network a --subnet of your own");
}

std::string mac_for(Ipv4 ip) {
  return fmt::format("02:42:{:02x}:{:02x}:{:02x}:{:02x}", ip.value >> 24, (ip.value >> 16) & 255,
                     (ip.value >> 8) & 255, ip.value & 255);
}

}  // namespace berth::net
