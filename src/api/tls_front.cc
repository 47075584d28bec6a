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

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <utility>
#include <mutex>

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

// The handshake, on a non-blocking socket, done by `deadline` or not at all: a timeout per
// read (SO_RCVTIMEO) would let a client send its hello a byte at a time for ever.
bool handshake(SSL* ssl, int tcp, std::chrono::steady_clock::time_point deadline) {
  const int flags = ::fcntl(tcp, F_GETFL);
  ::fcntl(tcp, F_SETFL, flags | O_NONBLOCK);
  for (;;) {
    int r = SSL_accept(ssl);
    if (r == 1) break;
    int err = SSL_get_error(ssl, r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      log::debug("tls: handshake refused: " + ssl_error());
      return false;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      log::debug("tls: handshake not done in time");
      return false;
    }
    pollfd p{tcp, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
  }
  ::fcntl(tcp, F_SETFL, flags);  // the relay polls, then reads and writes blocking
  return true;
}

// An address's host ("127.0.0.1", "::1") and port.
std::pair<std::string, uint16_t> host_and_port(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    return {host, ntohs(v6->sin6_port)};
  }
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
  ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
  return {host, ntohs(v4->sin_port)};
}

std::string peer_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return "";
  return host_and_port(ss).first;
}

}  // namespace

// Open connections, in all and per client address. Shared with the connections' threads, which
// outlive the front (they finish on their own).
struct TlsFront::Slots {
  std::mutex mutex;
  std::condition_variable freed;
  size_t open = 0;
  std::map<std::string, size_t> per_client;

  // Gives a slot back when the connection's thread ends.
  struct Held {
    std::shared_ptr<Slots> slots;
    std::string client;
    Held(std::shared_ptr<Slots> s, std::string c) : slots(std::move(s)), client(std::move(c)) {}
    Held(Held&&) = default;
    ~Held() {
      if (!slots) return;
      std::lock_guard lock(slots->mutex);
      slots->open--;
      if (--slots->per_client[client] == 0) slots->per_client.erase(client);
      slots->freed.notify_all();
    }
  };
};

struct TlsFront::Impl {
  TlsFrontOptions options;
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx;
  UniqueFd listener;
  std::atomic<bool> stopping{false};
  std::shared_ptr<Slots> slots = std::make_shared<Slots>();
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
  auto [host, port] = host_and_port(ss);
  if (ss.ss_family == AF_INET6) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

void TlsFront::accept_loop() {
  const TlsFrontOptions& o = impl_->options;
  std::shared_ptr<Slots> slots = impl_->slots;
  while (!impl_->stopping) {
    {
      // At the cap, connections wait in the listen backlog rather than fail (as the API's).
      std::unique_lock lock(slots->mutex);
      slots->freed.wait_for(lock, std::chrono::milliseconds(200), [&] {
        return o.max_connections == 0 || slots->open < o.max_connections;
      });
      if (o.max_connections && slots->open >= o.max_connections) continue;  // and look at stopping
    }
    int c = ::accept4(impl_->listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE) ::usleep(100'000);
        continue;
      }
      return;  // shut down
    }
    UniqueFd tcp(c);
    std::string client = peer_address(c);
    {
      std::lock_guard lock(slots->mutex);
      // One address may not take every slot: over its share, closed before any TLS work.
      size_t& from_client = slots->per_client[client];
      if (o.max_per_client && from_client >= o.max_per_client) continue;  // an entry at its share, not 0
      slots->open++;
      from_client++;
    }
    Slots::Held held(slots, client);
    int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.handshake_timeout_ms);
    // The thread holds its own reference to the context: it may outlive the front.
    SSL_CTX_up_ref(impl_->ctx.get());
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx(impl_->ctx.get());
    std::thread([ctx = std::move(ctx), upstream = o.upstream, tcp = std::move(tcp), held = std::move(held),
                 deadline]() mutable {
      std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx.get()));
      if (!ssl) return;
      SSL_set_fd(ssl.get(), tcp.get());
      if (!handshake(ssl.get(), tcp.get(), deadline)) return;
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
