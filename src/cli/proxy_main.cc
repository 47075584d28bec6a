// berth-proxy — berth's HTTP/TCP load balancer as a lean binary of its own (docs/proxy.md):
//   berth-proxy serve --listen [NAME=]ADDR[,tls]... [--tls-cert F --tls-key F]... [--stats ADDR]
//                     [--control PATH] [--config FILE] [--access-log PATH|-]
//                     [--access-log-format text|json] [--header-timeout-ms N] ...
// `berth proxy serve` execs it with a source of berth's containers; with --config it serves the
// routes of a JSON file and works in front of anything.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "proxy/server.h"
#include "proxy/static_source.h"

namespace {

using namespace berth;

constexpr std::string_view kUsage =
    "usage: berth-proxy serve --listen [NAME=]ADDR[,tls]... [options]\n"
    "       berth-proxy check --config FILE\n"
    "options:\n"
    "  --listen [NAME=]ADDR[,tls]   a listener; NAME is the entrypoint routes name (default http,\n"
    "                               or https with ,tls); repeatable\n"
    "  --tls-cert FILE --tls-key FILE  a certificate and its key (PEM); repeatable, SNI picks\n"
    "  --config FILE                routes from a JSON file, re-read when it changes\n"
    "  --stats ADDR                 stats page (/), /stats.json and /metrics on ADDR\n"
    "  --control PATH               control socket (GET /routes, GET /stats, POST /drain)\n"
    "  --access-log PATH|-          one line per request ('-': stdout)\n"
    "  --access-log-format text|json\n"
    "  --max-header-bytes N (16384)  --max-body-bytes N (0: no limit)\n"
    "  --max-connections N (10000)  --max-connections-per-client N (256; 0: no limit)\n"
    "  --connect-timeout-ms N (3000)  --header-timeout-ms N (10000)  --idle-timeout-ms N (60000)\n"
    "  --response-timeout-ms N (60000)  --tunnel-timeout-ms N (3600000)  --retries N (2)\n"
    "  --min-body-rate N (256)      a request body's bytes a second over each header timeout\n"
    "                               (0: no minimum), else 408\n"
    "  --rate-limit-per-client N (0: none)  --rate-limit-burst N (N)  requests a second from one\n"
    "                               address, else 429\n";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "berth-proxy: %s\n%.*s", message.c_str(), static_cast<int>(kUsage.size()),
               kUsage.data());
  return 2;
}

void say_error(const Error& e) {
  std::fprintf(stderr, "berth-proxy: %s\n", e.message().c_str());
  if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
}

// A source with no routes (no --config): every request gets 404 until one is given.
class EmptySource : public proxy::BackendSource {
 public:
  Result<void> run(const std::function<void(proxy::RouteTable)>& publish,
                   std::stop_token stop) override {
    publish(proxy::RouteTable{{}, 1});
    while (!stop.stop_requested()) ::usleep(50 * 1000);
    return {};
  }
};

bool parse_number(const std::string& text, long min, long max, long& out) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < min || v > max) return false;
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::fputs(std::string(kUsage).c_str(), args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string verb = args[0];
  if (verb != "serve" && verb != "check") return usage_error("unknown command '" + verb + "'");
  proxy::ServeOptions options;
  std::string config;
  std::vector<std::string> certs, keys;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    std::string v;
    long n = 0;
    auto number = [&](long min, long max, auto& field) {
      if (!value(v) || !parse_number(v, min, max, n)) return false;
      field = static_cast<std::remove_reference_t<decltype(field)>>(n);
      return true;
    };
    bool ok = true;
    if (a == "--listen") {
      ok = value(v);
      if (ok) {
        auto spec = proxy::parse_listen(v);
        if (!spec) {
          say_error(spec.error());
          return 2;
        }
        options.listeners.push_back(*spec);
      }
    } else if (a == "--tls-cert") {
      ok = value(v);
      certs.push_back(v);
    } else if (a == "--tls-key") {
      ok = value(v);
      keys.push_back(v);
    } else if (a == "--config") {
      ok = value(config);
    } else if (a == "--stats") {
      ok = value(options.stats_address);
    } else if (a == "--control") {
      ok = value(options.control_path);
    } else if (a == "--access-log") {
      ok = value(options.access_log);
    } else if (a == "--access-log-format") {
      ok = value(v) && (v == "text" || v == "json");
      options.access_log_json = v == "json";
    } else if (a == "--max-header-bytes") {
      ok = number(1024, 1 << 20, options.max_header_bytes);
    } else if (a == "--max-body-bytes") {
      ok = number(0, 1L << 50, options.max_body_bytes);
    } else if (a == "--max-connections") {
      ok = number(0, 1 << 20, options.max_connections);
    } else if (a == "--max-connections-per-client") {
      ok = number(0, 1 << 20, options.max_connections_per_client);
    } else if (a == "--connect-timeout-ms") {
      ok = number(1, 86400000, options.connect_timeout_ms);
    } else if (a == "--header-timeout-ms") {
      ok = number(1, 86400000, options.header_timeout_ms);
    } else if (a == "--idle-timeout-ms") {
      ok = number(1, 86400000, options.idle_timeout_ms);
    } else if (a == "--response-timeout-ms") {
      ok = number(1, 86400000, options.response_timeout_ms);
    } else if (a == "--tunnel-timeout-ms") {
      ok = number(1, 86400000, options.tunnel_timeout_ms);
    } else if (a == "--rate-limit-per-client") {
      ok = number(0, 1 << 24, options.rate_limit_per_client);
    } else if (a == "--rate-limit-burst") {
      ok = number(0, 1 << 24, options.rate_limit_burst);
    } else if (a == "--min-body-rate") {
      ok = number(0, 1L << 40, options.min_body_rate);
    } else if (a == "--retries") {
      ok = number(0, 10, options.retries);
    } else {
      return usage_error("unknown option '" + a + "'");
    }
    if (!ok) return usage_error("option '" + a + "' needs a valid value");
  }
  if (certs.size() != keys.size()) {
    return usage_error("each --tls-cert needs its --tls-key (got " + std::to_string(certs.size()) +
                       " certificates and " + std::to_string(keys.size()) + " keys)");
  }
  for (size_t i = 0; i < certs.size(); ++i) options.certificates.push_back({certs[i], keys[i]});
  if (verb == "check") {
    if (config.empty()) return usage_error("check needs --config FILE");
    auto table = proxy::load_static_config(config);
    if (!table) {
      say_error(table.error());
      return 1;
    }
    std::printf("%s: %zu routes, OK\n", config.c_str(), table->routes.size());
    return 0;
  }
  if (options.listeners.empty()) return usage_error("serve needs at least one --listen ADDR");
  if (!config.empty()) {
    // Fail at start-up, with the file's error, rather than from the source's thread.
    auto table = proxy::load_static_config(config);
    if (!table) {
      say_error(table.error());
      return 1;
    }
  }
  options.on_ready = [&options] {
    std::string addrs;
    for (const auto& l : options.listeners) {
      addrs += (addrs.empty() ? "" : ", ") + l.name + "=" + l.address + (l.tls ? " (tls)" : "");
    }
    std::fprintf(stderr, "%s berth-proxy[%d]: serving on %s\n", clock::rfc3339_now().c_str(),
                 ::getpid(), addrs.c_str());
  };
  Result<void> r;
  if (config.empty()) {
    EmptySource source;
    r = proxy::serve(options, source);
  } else {
    proxy::StaticFileSource source(config);
    r = proxy::serve(options, source);
  }
  if (!r) {
    say_error(r.error());
    return 1;
  }
  return 0;
}
