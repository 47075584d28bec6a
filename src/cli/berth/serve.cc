// `berth serve`: the Docker Engine API on a unix socket (api/docker_api.h, docs/api.md).
#include <cstdio>

#include "api/docker_api.h"
#include "cli/berth/command.h"
#include "cli/berth/count_option.h"

namespace berth::cli {
namespace {

Result<int> cmd_serve(const Globals& g, const ParsedArgs& a) {
  api::ServeOptions o;
  o.layout = g.layout;
  o.programs = engine::programs_beside_self();
  o.version = BERTH_VERSION;
  o.socket = a.value("socket", o.socket);
  if (a.flag("idle-exit")) {
    BERTH_TRY(o.idle_exit_ms, parse_duration_ms(a.value("idle-exit")).context("--idle-exit"));
    if (o.idle_exit_ms <= 0)
      return Error::make(ErrorKind::invalid_argument,
                         "--idle-exit '{}': give a positive duration such as 5m",
                         a.value("idle-exit"));
  }
  if (a.flag("header-timeout")) {
    BERTH_TRY(o.header_timeout_ms,
              parse_duration_ms(a.value("header-timeout")).context("--header-timeout"));
    if (o.header_timeout_ms < 100)
      return Error::make(ErrorKind::invalid_argument, "--header-timeout '{}': give at least 100ms",
                         a.value("header-timeout"));
  }
  BERTH_TRY_VOID(count_option(a, "max-connections", 0, 1 << 20, o.max_connections));
  BERTH_TRY_VOID(count_option(a, "max-connections-per-client", 0, 1 << 20, o.max_connections_per_client));
  o.tcp = a.value("tcp");
  o.tls_cert = a.value("tls-cert");
  o.tls_key = a.value("tls-key");
  o.tls_ca = a.value("tls-ca");
  if (o.tcp.empty() && !(o.tls_cert + o.tls_key + o.tls_ca).empty())
    return Error(ErrorKind::invalid_argument, "--tls-cert, --tls-key and --tls-ca go with --tcp ADDR");
  o.on_listening = [](const std::string& url) {
    // One line each, flushed at once: scripts wait for it.
    std::fprintf(stderr, "berth serve: Docker Engine API on %s\n", url.c_str());
    std::fflush(stderr);
  };
  BERTH_TRY_VOID(api::serve(o));
  return 0;
}

}  // namespace

std::vector<Command> serve_commands() {
  return {{"serve",
           "[--socket PATH] [--idle-exit DURATION] [--tcp ADDR --tls-cert PEM --tls-key PEM --tls-ca PEM]",
           "Serve the Docker Engine API (DOCKER_HOST=unix:///run/berth/docker.sock)",
           {{"socket", true, "unix socket to listen on (default /run/berth/docker.sock)"},
            {"idle-exit", true, "exit after this long with no client (e.g. 5m); default: never"},
            {"header-timeout", true,
             "close a connection whose request head (or TLS handshake, with --tcp) is not "
             "complete this long after its first byte (default 30s)"},
            {"max-connections", true,
             "open connections at most; more wait until one closes (default 1024, 0: no limit)"},
            {"max-connections-per-client", true,
             "with --tcp: connections from one address at most; more are closed (default 128, 0: "
             "no limit)"},
            {"tcp", true, "also listen on TCP HOST:PORT, with mutual TLS (as dockerd --tlsverify)"},
            {"tls-cert", true, "the server's certificate (PEM), with --tcp"},
            {"tls-key", true, "the server's private key (PEM), with --tcp"},
            {"tls-ca", true, "the CA that signs clients' certificates (PEM), with --tcp"}},
           SIZE_MAX,
           cmd_serve}};
}

}  // namespace berth::cli
