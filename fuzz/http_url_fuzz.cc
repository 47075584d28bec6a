// http_url: what the registry client takes from URLs and headers (http/client.h, http/proxy.h):
// absolute URLs (IPv6 literals, ports), Location headers resolved against a URL, the proxy
// variables and NO_PROXY lists (names, CIDR ranges, host:port), and base64. The input is cut at
// 0x01 bytes: URL, Location, HTTPS_PROXY, NO_PROXY.
#include "fuzz_util.h"
#include "http/client.h"
#include "http/proxy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  auto parts = fuzz::pieces(fuzz::as_text(data, size), '\x01', 4);
  while (parts.size() < 4) parts.emplace_back();
  auto url = http::Url::parse(parts[0]);
  if (url) {
    std::string printed = url->str();
    auto again = http::Url::parse(printed);
    if (!again) fuzz::violated("str() of a parsed URL does not parse", printed);
    if (again->str() != printed) fuzz::violated("URL round trip", printed);
  } else {
    url = http::Url::parse("https://registry.example:5000/v2/a/b/blobs/uploads/");
  }
  if (auto resolved = url->resolve(parts[1])) (void)resolved->authority();
  http::ProxyEnvironment env;
  env.https_proxy = std::string(parts[2]);
  env.http_proxy = std::string(parts[2]);
  env.no_proxy = std::string(parts[3]);
  (void)http::proxy_for(*url, env);
  (void)http::base64_decode(parts[0]);
  auto decoded = http::base64_decode(http::base64_encode(parts[0]));
  if (!decoded || *decoded != parts[0]) fuzz::violated("base64 round trip");
  return 0;
}
