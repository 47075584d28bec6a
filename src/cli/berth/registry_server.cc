// Registry server verbs: registry serve, registry gc.
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/berth/command.h"
#include "cli/berth/count_option.h"
#include "registry/gc.h"
#include "registry/server.h"

namespace berth::cli {
namespace {

Result<int64_t> seconds_option(const ParsedArgs& a, const char* name, int64_t fallback) {
  if (!a.flag(name)) return fallback;
  BERTH_TRY(auto ms, parse_duration_ms(a.value(name)));
  return ms / 1000;
}

Result<int> cmd_serve(const Globals&, const ParsedArgs& a) {
  registry::ServeOptions o;
  o.root = a.value("root");
  if (o.root.empty())
    return Error(ErrorKind::invalid_argument,
                 "give --root DIR: where the registry keeps blobs and manifests");
  o.address = a.value("addr", o.address);
  o.config = a.value("config");
  o.tls_cert = a.value("tls-cert");
  o.tls_key = a.value("tls-key");
  if (a.flag("threads")) {
    char* end = nullptr;
    long n = std::strtol(a.value("threads").c_str(), &end, 10);
    if (*end || n < 1 || n > 64)
      return Error::make(ErrorKind::invalid_argument, "--threads '{}': give a number from 1 to 64",
                         a.value("threads"));
    o.threads = static_cast<int>(n);
  }
  if (a.flag("idle-timeout")) {
    BERTH_TRY(o.idle_timeout_ms, parse_duration_ms(a.value("idle-timeout")));
    if (o.idle_timeout_ms < 100)
      return Error::make(ErrorKind::invalid_argument, "--idle-timeout '{}': give at least 100ms",
                         a.value("idle-timeout"));
  }
  if (a.flag("header-timeout")) {
    BERTH_TRY(o.header_timeout_ms, parse_duration_ms(a.value("header-timeout")));
    if (o.header_timeout_ms < 100)
      return Error::make(ErrorKind::invalid_argument, "--header-timeout '{}': give at least 100ms",
                         a.value("header-timeout"));
  }
  BERTH_TRY_VOID(count_option(a, "max-header-bytes", 1024, 16 << 20, o.max_header_bytes));
  BERTH_TRY_VOID(count_option(a, "max-connections", 0, 1 << 20, o.max_connections));
  BERTH_TRY_VOID(
      count_option(a, "max-connections-per-client", 0, 1 << 20, o.max_connections_per_client));
  size_t rate = 0, burst = 0;
  BERTH_TRY_VOID(count_option(a, "rate-limit-per-client", 0, 1 << 24, rate));
  BERTH_TRY_VOID(count_option(a, "rate-limit-burst", 0, 1 << 24, burst));
  o.handler.requests_per_second_per_client = static_cast<uint32_t>(rate);
  o.handler.request_burst_per_client = static_cast<uint32_t>(burst);
  BERTH_TRY(o.upload_grace_seconds, seconds_option(a, "upload-grace", o.upload_grace_seconds));
  BERTH_TRY(o.upload_purge_interval_seconds,
            seconds_option(a, "upload-purge-interval", o.upload_purge_interval_seconds));
  if (o.upload_grace_seconds < 1)
    return Error::make(ErrorKind::invalid_argument,
                       "--upload-grace '{}': give at least 1s (an upload in progress would go)",
                       a.value("upload-grace"));
  BERTH_TRY_VOID(registry::serve(o, [&](const std::string& address) {
    // One line, flushed at once: scripts wait for it (and read the port when they asked for 0).
    std::fprintf(stderr, "berth registry listening on %s://%s (storage %s%s)\n",
                 o.tls_cert.empty() ? "http" : "https", address.c_str(), o.root.c_str(),
                 o.config.empty() ? ", no authentication" : "");
    std::fflush(stderr);
  }));
  return 0;
}

Result<int> cmd_gc(const Globals&, const ParsedArgs& a) {
  std::string root = a.value("root");
  if (root.empty())
    return Error(ErrorKind::invalid_argument, "give --root DIR: the registry's storage");
  registry::GcOptions o;
  o.dry_run = a.flag("dry-run");
  BERTH_TRY(o.grace_seconds, seconds_option(a, "grace", o.grace_seconds));
  BERTH_TRY(o.upload_grace_seconds, seconds_option(a, "upload-grace", o.upload_grace_seconds));
  BERTH_TRY(auto storage, registry::open_filesystem_storage(root));
  BERTH_TRY(auto report, registry::collect_garbage(*storage, o, clock::now_ns()));
  if (a.value("format") == "json") {
    nlohmann::json blobs = nlohmann::json::array();
    for (const auto& d : report.removed_blobs) blobs.push_back(d.str());
    print(nlohmann::json{{"dry_run", o.dry_run},
                         {"removed_blobs", blobs},
                         {"removed_bytes", report.removed_bytes},
                         {"removed_uploads", report.removed_uploads},
                         {"kept_blobs", report.kept_blobs},
                         {"young_blobs", report.young_blobs}}
              .dump() +
          "\n");
    return 0;
  }
  std::string verb = o.dry_run ? "Would remove" : "Removed";
  for (const auto& d : report.removed_blobs) print(fmt::format("{} blob {}\n", verb, d.str()));
  for (const auto& id : report.removed_uploads) print(fmt::format("{} upload {}\n", verb, id));
  print(fmt::format(
      "{} {} blobs ({}) and {} uploads; kept {} blobs in use and {} younger than the grace "
      "period\n",
      verb, report.removed_blobs.size(), human_size(static_cast<int64_t>(report.removed_bytes)),
      report.removed_uploads.size(), report.kept_blobs, report.young_blobs));
  return 0;
}

}  // namespace

std::vector<Command> registry_server_commands() {
  return {
      {"registry serve",
       "--root DIR [--addr HOST:PORT] [--config FILE] [--tls-cert F --tls-key F]",
       "Serve an OCI distribution registry",
       {{"root", true, "storage directory (created if missing)"},
        {"addr", true, "listen address (default 127.0.0.1:5000; port 0 picks one)"},
        {"config", true,
         "access control file (JSON, see docs/registry.md); none: no authentication"},
        {"tls-cert", true, "PEM certificate: serve HTTPS"},
        {"tls-key", true, "PEM private key of the certificate"},
        {"threads", true, "event-loop threads (default 2)"},
        {"idle-timeout", true, "close connections idle this long (default 5m)"},
        {"header-timeout", true,
         "close a connection whose request head is not complete this long after its first byte "
         "(default 30s)"},
        {"max-header-bytes", true, "larger request heads get 431 (default 65536)"},
        {"max-connections", true,
         "open connections at most; more wait until one closes (default 1024, 0: no limit)"},
        {"max-connections-per-client", true,
         "open connections from one IP address at most; more get 503 (default 128, 0: no limit)"},
        {"rate-limit-per-client", true,
         "requests a second from one IP address at most; more get 429 (default 0: no limit)"},
        {"rate-limit-burst", true,
         "requests one IP address may make at once before its rate applies (default: the rate)"},
        {"upload-grace", true, "remove upload sessions untouched for this long (default 24h)"},
        {"upload-purge-interval", true,
         "look for such uploads this often (default 1h, 0: never; `registry gc` also removes "
         "them)"}},
       SIZE_MAX,
       cmd_serve},
      {"registry gc",
       "--root DIR [--dry-run] [--grace 1h] [--upload-grace 24h]",
       "Remove blobs no manifest refers to, and abandoned uploads",
       {{"root", true, "the registry's storage directory"},
        {"dry-run", false, "only say what would be removed"},
        {"grace", true, "keep unreferenced blobs younger than this (default 1h)"},
        {"upload-grace", true, "remove uploads untouched for this long (default 24h)"},
        {"format", true, "text or json"}},
       SIZE_MAX,
       cmd_gc},
  };
}

}  // namespace berth::cli
