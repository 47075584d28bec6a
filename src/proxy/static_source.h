// proxy/static_source.h — routes from a JSON file (`berth-proxy serve --config FILE`), so the
// proxy works in front of anything, without berth's state. The format mirrors proxy/routes.h
// (docs/proxy.md, "Config file"). The file is watched (inotify on its directory, so editors that
// replace it by rename are seen) and a changed file is published within 100 ms; a file that
// fails to parse is reported and the previous table stays.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/routes.h"

namespace berth::proxy {

// Parses a config file's text. Errors name the file, the JSON path and the value:
//   config 'routes.json': routes[0].backends[1].weight: must be an integer >= 1, got "two"
// Backend addresses that are names ("localhost:8080", "web:80") are resolved here.
Result<RouteTable> parse_static_config(std::string_view text, std::string_view file);

// A host name's first address as text ("10.0.0.5", "fd00::5"), or nullopt with `error` set.
using Resolver =
    std::function<std::optional<std::string>(const std::string& host, std::string& error)>;
// As above with names resolved by `resolve` (getaddrinfo above; tests and fuzzing stay offline).
Result<RouteTable> parse_static_config(std::string_view text, std::string_view file,
                                       const Resolver& resolve);

// Reads and parses a file.
Result<RouteTable> load_static_config(const std::string& path);

class StaticFileSource : public BackendSource {
 public:
  explicit StaticFileSource(std::string path) : path_(std::move(path)) {}
  // Publishes the file's table at once (an error if it cannot be read or parsed), then again
  // after each change.
  Result<void> run(const std::function<void(RouteTable)>& publish, std::stop_token stop) override;

 private:
  std::string path_;
};

}  // namespace berth::proxy
