// TCP mode (L4): each connection of a tcp entrypoint goes to one backend, picked and retried like
// an HTTP request's, then bytes flow both ways until either side closes or stays idle.
#include "proxy/detail/session.h"

namespace berth::proxy::detail {

awaitable<void> serve_tcp_connection(Core& core, TcpSocket socket, std::string client_ip,
                                     FrontendStats& fe, std::shared_ptr<LiveTable> table,
                                     const Route* route) {
  struct Leave {
    Core& core;
    FrontendStats& fe;
    std::string client_ip;
    ~Leave() {
      fe.current--;
      core.release_client(client_ip);
    }
  } leave{core, fe, std::move(client_ip)};
  LiveRoute& live = *table->live(route);
  std::vector<BackendState*> tried;
  error_code ec;
  for (int attempt = 0; attempt <= core.options.retries; ++attempt) {
    auto backend = core.pick(live, {}, tried);
    if (!backend) break;
    tried.push_back(backend.get());
    if (attempt > 0) backend->counters.retries++;
    TcpSocket upstream(socket.get_executor());
    Deadline connect_deadline;
    connect_deadline.fire = [&] {
      error_code ignored;
      upstream.close(ignored);
    };
    core.arm(connect_deadline, core.options.connect_timeout_ms);
    backend->begin();  // from the pick: a drain waits for a connect in progress
    co_await upstream.async_connect(backend->endpoint, with(ec));
    core.disarm(connect_deadline);
    if (ec) {
      backend->end();
      backend->counters.connect_errors++;
      core.mark_failed(*backend, fmt::format("connect: {}", ec.message()));
      continue;
    }
    upstream.set_option(tcp::no_delay(true), ec);
    backend->counters.requests++;
    live.stats->counters.requests++;
    fe.counters.requests++;
    FlatBuffer none_in, none_out;
    uint64_t up = 0, down = 0;
    const auto started = std::chrono::steady_clock::now();
    co_await tunnel(core, socket, upstream, none_in, none_out, core.options.idle_timeout_ms, up,
                    down);
    backend->counters.bytes_in += up;
    backend->counters.bytes_out += down;
    backend->times.add(std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count());
    backend->end();
    if (!core.options.access_log.empty()) {
      error_code ignored;
      const auto peer = socket.remote_endpoint(ignored);
      core.access_log(fmt::format("tcp {} {} service={} backend={} up={} down={}",
                                  peer.address().to_string(), fe.name, route->service,
                                  backend->name, up, down));
    }
    co_return;
  }
  // No backend: the connection is refused the only way TCP can, by closing it.
  live.stats->no_backend++;
  error_code ignored;
  socket.close(ignored);
}

}  // namespace berth::proxy::detail
