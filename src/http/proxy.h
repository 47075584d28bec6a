// http/proxy.h — which HTTP proxy a request goes through: HTTP_PROXY, HTTPS_PROXY and NO_PROXY
// (or their lower-case forms) read the way Go's clients read them, so docker, podman, skopeo
// and berth agree. Requests to localhost and loopback addresses are never proxied.
#pragma once

#include <optional>
#include <string>

#include "base/error.h"
#include "http/client.h"

namespace berth::http {

struct ProxyEnvironment {
  std::string http_proxy, https_proxy, no_proxy;
  static ProxyEnvironment from_environment();
};

struct Proxy {
  Url url;                    // an http:// proxy ("host:port" alone means http://host:port)
  std::string authorization;  // "Basic …" from user:password in its URL; empty without
  std::string variable;       // where it came from, for messages: "HTTPS_PROXY"
};

// The proxy for `target` (https URLs take HTTPS_PROXY, http URLs HTTP_PROXY), or nullopt when
// the request goes straight there. NO_PROXY: comma-separated host names (a name also matches
// its subdomains; ".name" and "*.name" only them), "host:port", IP addresses, CIDR ranges, "*".
// A proxy URL that cannot be used is an error naming the variable.
Result<std::optional<Proxy>> proxy_for(const Url& target, const ProxyEnvironment& env);

}  // namespace berth::http
