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
  o.on_listening = [](const std::string& socket) {
    // One line, flushed at once: scripts wait for it.
    std::fprintf(stderr, "berth serve: Docker Engine API on unix://%s\n", socket.c_str());
    std::fflush(stderr);
  };
  BERTH_TRY_VOID(api::serve(o));
  return 0;
}

}  // namespace

std::vector<Command> serve_commands() {
  return {{"serve",
           "[--socket PATH] [--idle-exit DURATION]",
           "Serve the Docker Engine API (DOCKER_HOST=unix:///run/berth/docker.sock)",
           {{"socket", true, "unix socket to listen on (default /run/berth/docker.sock)"},
            {"idle-exit", true, "exit after this long with no client (e.g. 5m); default: never"},
            {"header-timeout", true,
             "close a connection whose request head is not complete this long after its first "
             "byte (default 30s)"},
            {"max-connections", true,
             "open connections at most; more wait until one closes (default 1024, 0: no limit)"}},
           SIZE_MAX,
           cmd_serve}};
}

}  // namespace berth::cli
