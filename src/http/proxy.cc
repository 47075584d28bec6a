#include "http/proxy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace berth::http {
namespace {

std::string env_any(const char* upper, const char* lower) {
  for (const char* name : {upper, lower})
    if (const char* v = std::getenv(name); v && *v) return v;
  return "";
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// An IPv4 or IPv6 address as 16 bytes (IPv4 mapped), with its family's bit count.
struct Address {
  std::array<unsigned char, 16> bytes{};
  int bits = 0;
  static std::optional<Address> parse(const std::string& text) {
    Address a;
    in_addr v4{};
    if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
      a.bits = 32;
      std::memcpy(a.bytes.data(), &v4, 4);
      return a;
    }
    in6_addr v6{};
    if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
      a.bits = 128;
      std::memcpy(a.bytes.data(), &v6, 16);
      return a;
    }
    return std::nullopt;
  }
  bool in(const Address& net, int prefix) const {
    if (bits != net.bits || prefix < 0 || prefix > bits) return false;
    for (int i = 0; i < prefix; ++i) {
      int byte = i / 8, bit = 7 - i % 8;
      if (((bytes[byte] >> bit) & 1) != ((net.bytes[byte] >> bit) & 1)) return false;
    }
    return true;
  }
  bool loopback() const {
    static const Address v4 = *parse("127.0.0.0"), v6 = *parse("::1");
    return in(v4, 8) || in(v6, 128);
  }
};

std::string percent_decoded(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool excluded(const Url& target, std::string_view no_proxy) {
  std::string host = lower(target.host);
  auto ip = Address::parse(host);
  if (host == "localhost" || (ip && ip->loopback())) return true;
  while (!no_proxy.empty()) {
    auto comma = no_proxy.find(',');
    std::string entry = lower(trim(no_proxy.substr(0, comma)));
    no_proxy = comma == std::string_view::npos ? std::string_view() : no_proxy.substr(comma + 1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (auto slash = entry.find('/'); slash != std::string::npos) {
      auto net = Address::parse(entry.substr(0, slash));
      std::string prefix = entry.substr(slash + 1);
      // At most 3 digits: std::stoi throws past INT_MAX ("10.0.0.0/99999999999").
      if (net && ip && !prefix.empty() && prefix.size() <= 3 &&
          std::all_of(prefix.begin(), prefix.end(), ::isdigit) && ip->in(*net, std::stoi(prefix)))
        return true;
      continue;
    }
    if (auto addr = Address::parse(entry)) {
      if (ip && ip->in(*addr, addr->bits)) return true;
      continue;
    }
    // host[:port]; "[v6]:port" too.
    std::string port;
    if (auto colon = entry.rfind(':'); colon != std::string::npos && entry.find(']') == std::string::npos) {
      port = entry.substr(colon + 1);
      entry.resize(colon);
    } else if (entry.starts_with("[")) {
      auto close = entry.find(']');
      if (close != std::string::npos && close + 1 < entry.size() && entry[close + 1] == ':') port = entry.substr(close + 2);
      entry = entry.substr(1, close - 1);
      if (auto addr = Address::parse(entry); addr && ip && ip->in(*addr, addr->bits) && (port.empty() || port == target.port))
        return true;
      continue;
    }
    if (!port.empty() && port != target.port) continue;
    if (entry.starts_with("*.")) entry.erase(0, 1);
    bool subdomains_only = entry.starts_with(".");
    std::string suffix = subdomains_only ? entry : "." + entry;
    if (host.ends_with(suffix) || (!subdomains_only && host == entry)) return true;
  }
  return false;
}

}  // namespace

ProxyEnvironment ProxyEnvironment::from_environment() {
  return {env_any("HTTP_PROXY", "http_proxy"), env_any("HTTPS_PROXY", "https_proxy"),
          env_any("NO_PROXY", "no_proxy")};
}

Result<std::optional<Proxy>> proxy_for(const Url& target, const ProxyEnvironment& env) {
  bool https = target.scheme == "https";
  std::string text = https ? env.https_proxy : env.http_proxy;
  std::string variable = https ? "HTTPS_PROXY" : "HTTP_PROXY";
  if (trim(text).empty() || excluded(target, env.no_proxy)) return std::optional<Proxy>();
  text = std::string(trim(text));
  if (text.find("://") == std::string::npos) text = "http://" + text;
  std::string scheme = lower(text.substr(0, text.find("://")));
  std::string_view rest = std::string_view(text).substr(text.find("://") + 3);
  std::string_view authority = rest.substr(0, rest.find('/'));
  auto at = authority.rfind('@');
  // Messages show the URL without its password.
  std::string shown = at == std::string_view::npos
                          ? text
                          : scheme + "://***@" + std::string(std::string_view(text).substr(text.find("://") + 3 + at + 1));
  if (scheme != "http")
    return Error(ErrorKind::unsupported,
                 fmt::format("{}='{}': berth speaks to proxies over http:// only, not {}://", variable, shown, scheme))
        .with_hint(fmt::format("set {}=http://HOST:PORT", variable));
  Proxy proxy;
  proxy.variable = variable;
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    proxy.authorization = "Basic " + base64_encode(percent_decoded(userinfo.substr(0, userinfo.find(':'))) + ":" +
                                                   (userinfo.find(':') == std::string_view::npos
                                                        ? std::string()
                                                        : percent_decoded(userinfo.substr(userinfo.find(':') + 1))));
  }
  auto url = Url::parse(text);
  if (!url) return Error::make(ErrorKind::invalid_argument, "{}='{}' is not a proxy URL", variable, shown);
  proxy.url = std::move(*url);
  return std::optional(std::move(proxy));
}

}  // namespace berth::http
