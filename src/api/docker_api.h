// api/docker_api.h — `berth serve`: the Docker Engine API on a unix socket, a thin adapter over
// the same engine calls the `berth` CLI makes, so a container made through the API is the one
// `berth ps` shows. No state of its own: each request opens the engine (as each CLI command
// does) and everything is read from berth.db and the containers' monitors.
//
// Threads: the HTTP server's (http/server.h) run quick requests; requests that may block (start,
// stop, wait, logs, attach, create) take their connection over on a thread of their own.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/error.h"
#include "engine/engine.h"

namespace berth::api {

struct ServeOptions {
  std::string socket = "/run/berth/docker.sock";
  int64_t idle_exit_ms = 0;  // > 0: exit after that long without a connection
  // Limits against slow and flooding clients (http/server.h ServerOptions says what each does).
  // Streams a request takes over (logs -f, attach, wait) are not counted as open connections.
  int64_t header_timeout_ms = 30'000;
  size_t max_header_bytes = 64 * 1024;
  size_t max_connections = 1024;
  size_t max_connections_per_client = 128;  // --tcp only: a unix socket's clients have no address
  // TCP with mutual TLS as well (api/tls_front.h): host:port and PEM files; relayed to `socket`.
  std::string tcp, tls_cert, tls_key, tls_ca;
  engine::Layout layout;
  engine::Programs programs;
  std::string version;  // berth's, for GET /version
  // Called once per listener ("unix:///run/berth/docker.sock", "tcp://127.0.0.1:2376"): the CLI
  // prints where.
  std::function<void(const std::string& url)> on_listening;
};

// Serves until SIGINT/SIGTERM or the idle limit; the socket file is removed on return. Started by
// systemd with a socket (LISTEN_FDS), serves that one instead of `socket`.
Result<void> serve(const ServeOptions& options);

}  // namespace berth::api
