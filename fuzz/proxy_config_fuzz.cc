// proxy_config: berth-proxy's config file (proxy/static_source.h, `berth-proxy serve --config`),
// parsed with a resolver that stays offline ("web" and "v6" resolve, other names do not). A
// table that parses has a service per route and a backend address of HOST:PORT with a port
// from 1 to 65535 for each backend.
#include <charconv>

#include "fuzz_util.h"
#include "proxy/static_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  const proxy::Resolver resolve = [](const std::string& host,
                                     std::string& error) -> std::optional<std::string> {
    if (host == "web") return "10.88.0.5";
    if (host == "v6") return "fd00::5";
    error = "Name or service not known";
    return std::nullopt;
  };
  auto table = proxy::parse_static_config(fuzz::as_text(data, size), "routes.json", resolve);
  if (!table) {
    if (table.error().message().rfind("config 'routes.json': ", 0) != 0)
      fuzz::violated("an error that does not name the file", table.error().message());
    return 0;
  }
  for (const auto& r : table->routes) {
    if (r.service.empty()) fuzz::violated("a route without a service");
    for (const auto& b : r.backends) {
      const auto colon = b.address.rfind(':');
      int port = 0;
      if (colon == std::string::npos ||
          std::from_chars(b.address.data() + colon + 1, b.address.data() + b.address.size(), port)
                  .ec != std::errc() ||
          port < 1 || port > 65535)
        fuzz::violated("a backend address without a port", b.address);
    }
  }
  return 0;
}
