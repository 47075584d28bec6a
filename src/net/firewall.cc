#include "net/firewall.h"

#include <dlfcn.h>
#include <nftables/libnftables.h>

#include <fmt/core.h>

#include <memory>
#include <string>
#include <type_traits>

namespace berth::net {
namespace {

// libnftables, loaded on first use. Linked at build time, it and what it pulls in (libnftnl,
// libxtables, libjansson, libgmp) were loaded and relocated by ld.so at the start of every berth
// command, about 0.5 ms each time, though only the commands that change networks or published
// ports call it.
struct Nftables {
  decltype(&nft_ctx_new) ctx_new = nullptr;
  decltype(&nft_ctx_free) ctx_free = nullptr;
  decltype(&nft_ctx_buffer_output) buffer_output = nullptr;
  decltype(&nft_ctx_buffer_error) buffer_error = nullptr;
  decltype(&nft_run_cmd_from_buffer) run_cmd_from_buffer = nullptr;
  decltype(&nft_ctx_get_error_buffer) get_error_buffer = nullptr;
  std::string error;  // why it could not be loaded
};

// The library's soname: its ABI, which these six calls are part of, is stable since nftables 0.9.
constexpr const char* kLibnftables = "libnftables.so.1";

const Nftables& nftables() {
  static const Nftables lib = [] {
    Nftables n;
    void* handle = ::dlopen(kLibnftables, RTLD_NOW | RTLD_LOCAL);  // never closed: used till exit
    if (!handle) {
      const char* why = ::dlerror();
      n.error = why ? why : kLibnftables;
      return n;
    }
    auto bind = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(handle, name));
      if (!fn && n.error.empty()) n.error = fmt::format("{}: no symbol '{}'", kLibnftables, name);
    };
    bind(n.ctx_new, "nft_ctx_new");
    bind(n.ctx_free, "nft_ctx_free");
    bind(n.buffer_output, "nft_ctx_buffer_output");
    bind(n.buffer_error, "nft_ctx_buffer_error");
    bind(n.run_cmd_from_buffer, "nft_run_cmd_from_buffer");
    bind(n.get_error_buffer, "nft_ctx_get_error_buffer");
    return n;
  }();
  return lib;
}

}  // namespace

std::string render_ruleset(const std::string& table, const std::vector<FirewallNetwork>& networks,
                           const std::vector<PublishedPort>& ports) {
  // "add table" first so that "delete table" never fails: the script is one transaction.
  std::string s = fmt::format("add table ip {0}\ndelete table ip {0}\ntable ip {0} {{\n", table);
  s += "  chain publish {\n";
  for (const auto& p : ports) {
    s += "    ";
    if (p.host_ip) s += fmt::format("ip daddr {} ", p.host_ip->to_string());
    s += fmt::format("{} dport {} dnat to {}:{}\n", p.protocol, p.host_port, p.container_ip.to_string(),
                     p.container_port);
  }
  s += "  }\n";
  // Packets for a local address (from outside, from containers, and from the host itself).
  s += "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n"
       "    fib daddr type local jump publish\n  }\n";
  s += "  chain output {\n    type nat hook output priority -100; policy accept;\n"
       "    fib daddr type local jump publish\n  }\n";
  s += "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n";
  for (const auto& n : networks) {
    // A published port reached from 127.0.0.1 or from the container's own network through the
    // host's address: the reply must come back through the host, so the source is the bridge's.
    s += fmt::format("    oifname \"{}\" ct status dnat ip saddr {{ 127.0.0.0/8, {} }} masquerade\n", n.bridge,
                     n.subnet.to_string());
    if (!n.internal)
      s += fmt::format("    ip saddr {} oifname != \"{}\" masquerade\n", n.subnet.to_string(), n.bridge);
  }
  s += "  }\n";
  s += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n";
  // --internal first: not even a published port (DNAT through the gateway's address) leads in
  // or out of an internal network.
  for (const auto& n : networks)
    if (n.internal) {
      s += fmt::format("    iifname \"{0}\" oifname != \"{0}\" drop\n", n.bridge);
      s += fmt::format("    oifname \"{0}\" iifname != \"{0}\" drop\n", n.bridge);
    }
  s += "    ct status dnat accept\n";
  // No traffic from another berth network (published ports, above, excepted).
  for (const auto& n : networks)
    if (!n.internal)
      s += fmt::format("    oifname \"{0}\" iifname \"{1}*\" iifname != \"{0}\" drop\n", n.bridge, kBridgePrefix);
  s += "  }\n";
  // DNS from containers to berth-dns (on each bridge's gateway): beyond kDnsQueriesPerSecond a
  // second from one address (a burst of twice that allowed), datagrams are dropped here, before
  // they fill berth-dns's socket buffer, which every other client of the network shares. The
  // set keeps a rate per address for 30 s after its last query. TCP is capped by berth-dns
  // itself (connections per address).
  s += "  set dns_rate {\n    type ipv4_addr; size 65535; flags dynamic,timeout; timeout 30s;\n  }\n";
  s += "  chain input {\n    type filter hook input priority filter; policy accept;\n";
  s += fmt::format("    iifname \"{}*\" udp dport 53 update @dns_rate {{ ip saddr limit rate over {}/second burst {} "
                   "packets }} counter drop\n",
                   kBridgePrefix, kDnsQueriesPerSecond, 2 * kDnsQueriesPerSecond);
  s += "  }\n}\n";
  return s;
}

Result<void> apply_nft(const std::string& script) {
  const Nftables& nft = nftables();
  if (!nft.error.empty())
    return Error::make(ErrorKind::unsupported, "nftables: load {}: {}", kLibnftables, nft.error)
        .with_hint("install libnftables (Debian: libnftables1)");
  std::unique_ptr<nft_ctx, void (*)(nft_ctx*)> ctx(nft.ctx_new(NFT_CTX_DEFAULT), nft.ctx_free);
  if (!ctx) return Error(ErrorKind::internal, "nftables: cannot create a context");
  nft.buffer_output(ctx.get());
  nft.buffer_error(ctx.get());
  if (nft.run_cmd_from_buffer(ctx.get(), script.c_str()) != 0) {
    std::string message = nft.get_error_buffer(ctx.get());
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return Error::make(ErrorKind::io, "nftables: {}", message)
        .with_hint("berth needs nftables support in the kernel (nf_tables, nft_nat, nft_fib, nft_masq)");
  }
  return {};
}

Result<void> delete_nft_table(const std::string& table) {
  return apply_nft(fmt::format("add table ip {0}\ndelete table ip {0}\n", table));
}

}  // namespace berth::net
