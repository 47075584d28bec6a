// registry/server.h — `berth registry serve`: the OCI distribution spec v1.1 over http::Server,
// on a registry::Storage, guarded by an AccessControl. Endpoints, error codes and the files on
// disk are described in docs/registry.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "http/server.h"
#include "registry/access.h"
#include "registry/storage.h"

namespace berth::registry {

// What the protocol handler lets clients have at once.
struct HandlerLimits {
  size_t max_busy_uploads = 256;  // more uploads streaming at once → 429 TOOMANYREQUESTS
  // Requests a second from one client address (a token bucket); more are answered 429
  // TOOMANYREQUESTS with Retry-After. Sign-ins count too, which slows a password guesser.
  // 0: no limit (the default: users behind one NAT share an address).
  uint32_t requests_per_second_per_client = 0;
  uint32_t request_burst_per_client = 0;  // 0: one second's worth
};

struct ServeOptions {
  std::string root;                        // storage directory
  std::string address = "127.0.0.1:5000";  // port 0 picks a free one
  std::string config;                      // access config (JSON); empty: no auth
  std::string tls_cert;
  std::string tls_key;
  int threads = 2;
  int64_t idle_timeout_ms = 300'000;
  // Limits against slow and flooding clients (http/server.h ServerOptions says what each does).
  int64_t header_timeout_ms = 30'000;
  size_t max_header_bytes = 64 * 1024;
  size_t max_connections = 1024;
  size_t max_connections_per_client = 128;
  HandlerLimits handler;  // uploads at once, requests a second per client
  // Upload sessions untouched this long are removed, checked at this interval (0: never), as
  // `berth registry gc` does: a client starting uploads and leaving fills no disk for ever.
  int64_t upload_grace_seconds = 24 * 3600;
  int64_t upload_purge_interval_seconds = 3600;
};

// The protocol: routes /v2/… and the token endpoint (the path of the token realm) to storage.
// Storage and access must outlive it. Thread-safe.
std::unique_ptr<http::Handler> make_registry_handler(Storage& storage, AccessControl& access,
                                                     const HandlerLimits& limits = {});

// Opens storage and config, binds, calls `listening` with the bound address, serves until
// SIGINT/SIGTERM.
Result<void> serve(const ServeOptions& options,
                   const std::function<void(const std::string&)>& listening);

}  // namespace berth::registry
