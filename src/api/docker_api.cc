// api/docker_api.cc — serve(): the Docker Engine API's server and its reaper. The routes are in
// routes.h's files, one per concern (docs/api.md).
#include "api/docker_api.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "api/routes.h"
#include "api/tls_front.h"
#include "base/sys.h"
#include "http/server.h"

namespace berth::api {

Result<void> serve(const ServeOptions& options) {
  detail::DockerApi api(options);
  http::ServerOptions so;
  so.idle_exit_ms = options.idle_exit_ms;
  so.header_timeout_ms = options.header_timeout_ms;
  so.max_header_bytes = options.max_header_bytes;
  so.max_connections = options.max_connections;
  UniqueFd activated = socket_from_systemd();
  if (activated) {
    so.listen_fd = activated.release();  // the server's acceptor owns it now
  } else {
    so.unix_socket = options.socket;
    auto dir = options.socket.substr(0, options.socket.rfind('/'));
    if (!dir.empty() && !sys::exists(dir)) BERTH_TRY_VOID(sys::mkdir_all(dir, 0711));
  }
  BERTH_TRY(auto server, http::Server::listen(so, api));
  if (options.on_listening) options.on_listening("unix://" + server->address());
  std::unique_ptr<TlsFront> tls;
  if (!options.tcp.empty()) {
    TlsFrontOptions to;
    to.address = options.tcp;
    to.cert = options.tls_cert;
    to.key = options.tls_key;
    to.ca = options.tls_ca;
    to.upstream = server->address();
    to.handshake_timeout_ms = options.header_timeout_ms;
    to.max_connections = options.max_connections;
    to.max_per_client = options.max_connections_per_client;
    BERTH_TRY(tls, TlsFront::listen(to));
    if (options.on_listening) options.on_listening("tcp://" + tls->address());
  }
  bool stop = false;
  std::mutex mutex;
  std::condition_variable wake;
  std::thread reaper([&] { api.reap_until(stop, mutex, wake); });
  auto served = server->run();
  {
    std::lock_guard lock(mutex);
    stop = true;
  }
  wake.notify_all();
  reaper.join();
  return served;
}

}  // namespace berth::api
