// api/tls_front.h — `berth serve --tcp ADDR --tls-cert --tls-key --tls-ca`: the API over TCP with
// mutual TLS, as dockerd's --tlsverify. Each connection is checked (a client certificate signed
// by the CA is required), then relayed as plain bytes to the API's own unix socket: every route,
// hijacked streams included, works the same over TLS. One thread per connection. Anyone who
// reaches the port can connect before the certificate is checked, so connections are limited
// as the other servers' are: in all, per client address, and in the time a handshake may take.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "base/error.h"
#include "base/unique_fd.h"

namespace berth::api {

struct TlsFrontOptions {
  std::string address;  // host:port (port 0 picks one)
  std::string cert, key, ca;  // PEM files
  std::string upstream;       // the API's unix socket
  // A handshake must be done this long after the connection came (a client dripping its hello
  // a byte at a time is closed); connections at most (more wait in the backlog; 0: no limit);
  // from one IP address at most (more are closed at once; 0: no limit).
  int64_t handshake_timeout_ms = 30'000;
  size_t max_connections = 1024;
  size_t max_per_client = 128;
};

class TlsFront {
 public:
  // Loads the certificates (errors name the file) and listens.
  static Result<std::unique_ptr<TlsFront>> listen(const TlsFrontOptions& options);
  // Stops accepting; connections being relayed finish on their own.
  ~TlsFront();
  // "127.0.0.1:2376", with the port bound.
  std::string address() const;

 private:
  struct Impl;
  struct Slots;
  explicit TlsFront(std::unique_ptr<Impl> impl);
  void accept_loop();
  std::unique_ptr<Impl> impl_;
  std::thread acceptor_;
};

// The listening sockets systemd passed (LISTEN_FDS, LISTEN_PID: socket activation): the first,
// or an invalid fd when none was passed to this process. The variables are then unset.
UniqueFd socket_from_systemd();

}  // namespace berth::api
