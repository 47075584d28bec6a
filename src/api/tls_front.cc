// api/tls_front.cc — see tls_front.h. OpenSSL directly: the relay is a byte pump, no HTTP.
#include "api/tls_front.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdlib>

#include "base/log.h"
#include "base/unix_socket.h"

namespace berth::api {

namespace {

std::string ssl_error() {
  unsigned long e = ERR_get_error();
  if (!e) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

// "host:port" → IPv4/IPv6 address.
Result<sockaddr_storage> parse_address(const std::string& address, socklen_t& len) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos)
    return Error::make(ErrorKind::invalid_argument, "--tcp '{}': give HOST:PORT, such as 127.0.0.1:2376", address);
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  char* end = nullptr;
  unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end || p > 65535)
    return Error::make(ErrorKind::invalid_argument, "--tcp '{}': port '{}' is not a number 0-65535", address, port);
  sockaddr_storage ss{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(p));
    len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(p));
    len = sizeof *v6;
  } else {
    return Error::make(ErrorKind::invalid_argument, "--tcp '{}': '{}' is not an IP address", address, host);
  }
  return ss;
}

// Pumps bytes between the TLS client and the API's socket until both directions ended. A
// direction's end is passed on: the client's close_notify as a half close of the API socket (the
// end of an attach's stdin), the API socket's end as close_notify.
void relay(SSL* ssl, int tcp, int api) {
  bool from_client = true, to_client = true;
  char buf[16384];
  while (from_client || to_client) {
    // Bytes OpenSSL already decrypted are not visible to poll.
    bool buffered = from_client && SSL_pending(ssl) > 0;
    pollfd fds[2] = {{tcp, static_cast<short>(from_client ? POLLIN : 0), 0},
                     {api, static_cast<short>(to_client ? POLLIN : 0), 0}};
    if (!buffered && ::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (buffered || (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n > 0) {
        for (int off = 0; off < n;) {
          ssize_t w = ::send(api, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) return;
          off += static_cast<int>(w);
        }
      } else {
        int err = SSL_get_error(ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) continue;
        if (err != SSL_ERROR_ZERO_RETURN) return;  // the client vanished: drop both
        from_client = false;
        ::shutdown(api, SHUT_WR);
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(api, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        to_client = false;
        SSL_shutdown(ssl);
        if (!from_client) break;
        // The server closed: a client still sending has nobody to hear it.
        if (n < 0) return;
        continue;
      }
      if (SSL_write(ssl, buf, static_cast<int>(n)) <= 0) return;
    }
  }
}

}  // namespace

struct TlsFront::Impl {
  TlsFrontOptions options;
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx;
  UniqueFd listener;
  std::atomic<bool> stopping{false};
};

Result<std::unique_ptr<TlsFront>> TlsFront::listen(const TlsFrontOptions& o) {
  if (o.cert.empty() || o.key.empty() || o.ca.empty())
    return Error(ErrorKind::invalid_argument, "--tcp needs --tls-cert, --tls-key and --tls-ca (mutual TLS)")
        .with_hint("berth serves no API over plain TCP: anyone who reaches it would be root");
  auto impl = std::make_unique<Impl>();
  impl->options = o;
  impl->ctx.reset(SSL_CTX_new(TLS_server_method()));
  if (!impl->ctx) return Error::make(ErrorKind::internal, "TLS context: {}", ssl_error());
  SSL_CTX* ctx = impl->ctx.get();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, o.cert.c_str()) != 1)
    return Error::make(ErrorKind::invalid_argument, "load TLS certificate '{}': {}", o.cert, ssl_error());
  if (SSL_CTX_use_PrivateKey_file(ctx, o.key.c_str(), SSL_FILETYPE_PEM) != 1)
    return Error::make(ErrorKind::invalid_argument, "load TLS key '{}': {}", o.key, ssl_error());
  if (SSL_CTX_check_private_key(ctx) != 1)
    return Error::make(ErrorKind::invalid_argument, "TLS key '{}' does not match certificate '{}'", o.key, o.cert);
  if (SSL_CTX_load_verify_locations(ctx, o.ca.c_str(), nullptr) != 1)
    return Error::make(ErrorKind::invalid_argument, "load TLS CA '{}': {}", o.ca, ssl_error());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);

  socklen_t len = 0;
  BERTH_TRY(auto addr, parse_address(o.address, len));
  UniqueFd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket for '{}'", o.address);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0)
    return Error::from_errno("listen on '{}'", o.address);
  if (::listen(fd.get(), SOMAXCONN) < 0) return Error::from_errno("listen on '{}'", o.address);
  impl->listener = std::move(fd);
  std::unique_ptr<TlsFront> front(new TlsFront(std::move(impl)));
  front->acceptor_ = std::thread([f = front.get()] { f->accept_loop(); });
  return front;
}

TlsFront::TlsFront(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TlsFront::~TlsFront() {
  impl_->stopping = true;
  ::shutdown(impl_->listener.get(), SHUT_RDWR);  // wakes accept()
  if (acceptor_.joinable()) acceptor_.join();
}

std::string TlsFront::address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(impl_->listener.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    return fmt::format("[{}]:{}", host, ntohs(v6->sin6_port));
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
  return fmt::format("{}:{}", host, ntohs(v4->sin_port));
}

void TlsFront::accept_loop() {
  while (!impl_->stopping) {
    int c = ::accept4(impl_->listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE) ::usleep(100'000);
        continue;
      }
      return;  // shut down
    }
    UniqueFd tcp(c);
    int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread([ctx = impl_->ctx.get(), upstream = impl_->options.upstream, tcp = std::move(tcp)]() mutable {
      std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx));
      if (!ssl) return;
      SSL_set_fd(ssl.get(), tcp.get());
      // A client that never finishes its handshake does not hold the thread for ever.
      struct timeval limit{30, 0};
      ::setsockopt(tcp.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      if (SSL_accept(ssl.get()) != 1) {
        log::debug("tls: handshake refused: " + ssl_error());
        return;
      }
      struct timeval none{0, 0};
      ::setsockopt(tcp.get(), SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
      auto api = sys::connect_unix(upstream, SOCK_STREAM);
      if (!api) {
        log::warn("tls: " + api.error().message());
        return;
      }
      relay(ssl.get(), tcp.get(), api->get());
    }).detach();
  }
}

UniqueFd socket_from_systemd() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (!pid || !fds || std::atoi(pid) != ::getpid() || std::atoi(fds) < 1) return {};
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  constexpr int kFirst = 3;  // SD_LISTEN_FDS_START
  ::fcntl(kFirst, F_SETFD, FD_CLOEXEC);
  return UniqueFd(kFirst);
}

}  // namespace berth::api
