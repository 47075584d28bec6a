// http_server: raw bytes sent to `berth registry serve` (http/server.h over Boost.Beast, and the
// registry's routing, name checks, uploads and manifests behind it: registry/server.h), on a
// loopback connection, in a Jail: request lines, headers, chunked bodies, percent-encoded paths,
// pipelined requests. The server runs on its own threads for the whole session, as in
// production; each input is one connection, half-closed after the input, read to its end.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <thread>

#include "fuzz_util.h"
#include "http/server.h"
#include "registry/access.h"
#include "registry/server.h"
#include "registry/storage.h"

namespace {

struct Registry {
  std::unique_ptr<berth::registry::Storage> storage;
  berth::registry::AccessControl access;
  std::unique_ptr<berth::http::Handler> handler;
  std::unique_ptr<berth::http::Server> server;
  std::thread thread;
  sockaddr_in address{};
};

// Never destroyed: the server thread runs until the process exits.
berth::fuzz::Jail* jail;
Registry* peer;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace berth;
  jail = std::make_unique<fuzz::Jail>("http_server").release();
  peer = std::make_unique<Registry>().release();
  auto storage = registry::open_filesystem_storage(jail->dir() + "/registry");
  if (!storage) fuzz::violated("open storage", storage.error().message());
  peer->storage = std::move(*storage);
  peer->handler = registry::make_registry_handler(*peer->storage, peer->access, 4);
  http::ServerOptions options;
  options.address = "127.0.0.1:0";
  options.threads = 1;
  options.idle_timeout_ms = 2000;
  auto server = http::Server::listen(options, *peer->handler);
  if (!server) fuzz::violated("listen", server.error().message());
  peer->server = std::move(*server);
  std::string bound = peer->server->address();
  peer->address.sin_family = AF_INET;
  peer->address.sin_port = htons(static_cast<uint16_t>(std::stoi(bound.substr(bound.rfind(':') + 1))));
  peer->address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  peer->thread = std::thread([] { (void)peer->server->run(); });
  peer->thread.detach();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) fuzz::violated("socket");
  timeval timeout{5, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&peer->address),
                sizeof peer->address) != 0)
    fuzz::violated("connect to the registry (did the server thread die?)", std::strerror(errno));
  jail->enter();
  // Sent in one go and half-closed; the reads keep a server answering a pipelined request from
  // blocking on a full socket buffer.
  size_t sent = 0;
  char buffer[65536];
  while (sent < size) {
    ssize_t n = ::send(s.get(), data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN) break;
    if (::recv(s.get(), buffer, sizeof buffer, 0) <= 0) break;
  }
  ::shutdown(s.get(), SHUT_WR);
  while (::recv(s.get(), buffer, sizeof buffer, 0) > 0) {
  }
  jail->leave();
  return 0;
}
