#include "http/client.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <limits>
#include <map>

#include "http/proxy.h"
#include "http/read_room.h"

namespace berth::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string default_port(std::string_view scheme) { return scheme == "https" ? "443" : "80"; }

constexpr const char* kUserAgent = "berth";

// One kept-alive connection: plain TCP or TLS over TCP, and what was read past the last response.
constexpr size_t kMaxResponseHead = 64 * 1024;
// Bounded (http/read_room.h): the head's limit, and room for one read past it or a chunk head.
constexpr size_t kMaxBuffered = kMaxResponseHead + kReadRoom;

struct Connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer{kMaxBuffered};
  bool used = false;
  // Plain HTTP through a proxy: requests name the whole URL and carry the proxy's credentials.
  bool through_proxy = false;
  std::string proxy_authorization;
  std::string proxy_name;  // "127.0.0.1:3128 (HTTP_PROXY)", for messages
  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

Error transfer_error(std::string_view what, const Url& url, const beast::error_code& ec) {
  if (ec == beast::error::timeout)
    return Error::make(ErrorKind::unavailable, "{} {}: timed out", what, url.authority());
  return Error::make(ErrorKind::io, "{} {}: {}", what, url.authority(), ec.message());
}

// Waits until fd is ready for `events`; `unavailable` after the timeout.
Result<void> wait_ready(int fd, short events, std::chrono::milliseconds timeout, const Url& url) {
  struct pollfd p = {fd, events, 0};
  for (;;) {
    int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n > 0) return {};
    if (n == 0) return Error::make(ErrorKind::unavailable, "transfer with {}: timed out", url.authority());
    if (errno != EINTR) return Error::from_errno("poll connection to {}", url.authority());
  }
}

// sendfile(2) to a socket the peer closed raises SIGPIPE (it has no MSG_NOSIGNAL): while one is
// in flight this thread blocks the signal, and a SIGPIPE it caused is taken back before the mask
// is restored. Not SIG_IGN: that would be inherited by every process berth starts.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlock() {
    if (!was_pending_) {
      struct timespec zero = {0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

}  // namespace

// ---- Url ----

Result<Url> Url::parse(std::string_view text) {
  auto sep = text.find("://");
  if (sep == std::string_view::npos)
    return Error::make(ErrorKind::invalid_argument, "URL '{}': no scheme (use http:// or https://)", text);
  Url url;
  for (char c : text.substr(0, sep)) url.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (url.scheme != "http" && url.scheme != "https")
    return Error::make(ErrorKind::invalid_argument, "URL '{}': scheme '{}' is not http or https", text, url.scheme);
  std::string_view rest = text.substr(sep + 3);
  auto slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  url.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (auto hash = url.target.find('#'); hash != std::string::npos) url.target.resize(hash);
  if (url.target.empty() || url.target[0] != '/') url.target.insert(0, "/");
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority = authority.substr(at + 1);
  std::string_view port;
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return Error::make(ErrorKind::invalid_argument, "URL '{}': unclosed '[' in the host", text);
    url.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return Error::make(ErrorKind::invalid_argument, "URL '{}': bad host", text);
      port = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) return Error::make(ErrorKind::invalid_argument, "URL '{}': no host", text);
  // RFC 3986: a reg-name or IPv4 address, or an IPv6 literal in brackets. Anything else (spaces,
  // CR/LF, '[', a second ':') would reach the Host header and name resolution as it is.
  const bool bracketed = authority.starts_with("[");
  constexpr std::string_view kNameChars = "-._~%!$&'()*+,;=";
  for (unsigned char c : url.host) {
    bool ok = bracketed ? std::isxdigit(c) || c == ':' || c == '.' || c == '%'
                        : std::isalnum(c) || (c != 0 && kNameChars.find(static_cast<char>(c)) != std::string_view::npos);
    if (!ok) return Error::make(ErrorKind::invalid_argument, "URL '{}': bad character in the host", text);
  }
  if (!port.empty() && (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit)))
    return Error::make(ErrorKind::invalid_argument, "URL '{}': port '{}' is not a number", text, port);
  url.port = port.empty() ? default_port(url.scheme) : std::string(port);
  return url;
}

Result<Url> Url::resolve(std::string_view location) const {
  if (location.find("://") != std::string_view::npos) return Url::parse(location);
  if (location.starts_with("//")) return Url::parse(scheme + ":" + std::string(location));
  Url out = *this;
  if (location.starts_with("/")) {
    out.target = location;
  } else {
    auto path_end = target.find('?');
    auto dir = target.substr(0, target.rfind('/', path_end) + 1);
    out.target = dir + std::string(location);
  }
  return out;
}

std::string Url::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port == default_port(scheme) ? h : h + ":" + port;
}

std::string Url::origin() const { return scheme + "://" + authority(); }

// ---- Headers ----

void Headers::set(std::string_view name, std::string value) {
  remove(name);
  items_.emplace_back(std::string(name), std::move(value));
}

void Headers::remove(std::string_view name) {
  std::erase_if(items_, [&](const auto& kv) { return iequals(kv.first, name); });
}

std::optional<std::string> Headers::get(std::string_view name) const {
  for (const auto& [k, v] : items_)
    if (iequals(k, name)) return v;
  return std::nullopt;
}

std::vector<std::string> Headers::get_all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : items_)
    if (iequals(k, name)) out.push_back(v);
  return out;
}

// ---- Client ----

struct Client::Impl {
  ClientOptions options;
  net::io_context ioc;
  std::unique_ptr<net::ssl::context> ssl;
  std::map<std::string, std::unique_ptr<Connection>> connections;  // by origin
  std::vector<char> buf;

  ProxyEnvironment proxies;

  explicit Impl(ClientOptions o) : options(std::move(o)), buf(options.buffer_size) {
    if (options.use_proxy_environment) proxies = ProxyEnvironment::from_environment();
  }

  // Runs one asynchronous operation to its end under the I/O deadline. The loop is ours alone,
  // so the synchronous shape of the code stays and timeouts still apply.
  template <typename Start>
  beast::error_code run(beast::tcp_stream& lowest, Start&& start, size_t* bytes = nullptr,
                        std::chrono::milliseconds timeout = {}) {
    lowest.expires_after(timeout.count() ? timeout : options.io_timeout);
    beast::error_code result;
    size_t n = 0;
    start([&](beast::error_code ec, size_t k) {
      result = ec;
      n = k;
    });
    ioc.restart();
    ioc.run();
    if (bytes) *bytes = n;
    return result;
  }

  net::ssl::context& ssl_context() {
    if (!ssl) {
      ssl = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
      ssl->set_default_verify_paths();
      ssl->set_verify_mode(options.tls_verify ? net::ssl::verify_peer : net::ssl::verify_none);
    }
    return *ssl;
  }

  // Opens a CONNECT tunnel to `url` through the proxy `lowest` is connected to.
  Result<void> open_tunnel(beast::tcp_stream& lowest, const Url& url, const Proxy& proxy) {
    std::string where = fmt::format("{}:{}", url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host,
                                    url.port);
    bhttp::request<bhttp::empty_body> req{bhttp::verb::connect, where, 11};
    req.set(bhttp::field::host, where);
    req.set(bhttp::field::user_agent, kUserAgent);
    if (!proxy.authorization.empty()) req.set(bhttp::field::proxy_authorization, proxy.authorization);
    auto ec = run(lowest, [&](auto&& done) { bhttp::async_write(lowest, req, done); });
    bhttp::response_parser<bhttp::empty_body> p;
    p.skip(true);  // a CONNECT answer has no body: what follows belongs to the tunnel
    beast::flat_buffer head;
    if (!ec) ec = run(lowest, [&](auto&& done) { bhttp::async_read_header(lowest, head, p, done); });
    if (ec) return transfer_error(fmt::format("CONNECT {} through proxy", where), proxy.url, ec);
    auto status = p.get().result_int();
    if (status / 100 != 2)
      return Error(status == 407 ? ErrorKind::unauthenticated : ErrorKind::permission_denied,
                   fmt::format("proxy {} ({}) refused CONNECT {}: {} {}", proxy.url.authority(), proxy.variable, where,
                               status, std::string(p.get().reason())))
          .with_hint(status == 407 ? fmt::format("give the proxy's user and password: {}=http://USER:PASSWORD@{}",
                                                 proxy.variable, proxy.url.authority())
                                   : "add the registry to NO_PROXY if it should be reached directly");
    if (head.size() != 0)
      return Error::make(ErrorKind::io, "proxy {} sent data before the tunnel to {} was used", proxy.url.authority(),
                         where);
    return {};
  }

  Result<Connection*> connect(const Url& url) {
    auto key = url.origin();
    if (auto it = connections.find(key); it != connections.end()) return it->second.get();
    BERTH_TRY(auto proxy, proxy_for(url, proxies));
    const Url& peer = proxy ? proxy->url : url;
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    auto endpoints = resolver.resolve(peer.host, peer.port, ec);
    if (ec)
      return proxy ? Error(ErrorKind::failed_precondition, fmt::format("resolve proxy '{}' ({}): {}", peer.host,
                                                               proxy->variable, ec.message()))
                         .with_hint(fmt::format("check {}", proxy->variable))
                   : Error(ErrorKind::unavailable, fmt::format("resolve '{}': {}", url.host, ec.message()))
                         .with_hint("check the registry's host name");
    auto c = std::make_unique<Connection>();
    if (url.scheme == "https")
      c->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ioc, ssl_context());
    else
      c->plain = std::make_unique<beast::tcp_stream>(ioc);
    auto& lowest = c->lowest();
    ec = run(
        lowest,
        [&](auto&& done) {
          lowest.async_connect(endpoints, [done](beast::error_code e, const tcp::endpoint&) { done(e, 0); });
        },
        nullptr, options.connect_timeout);
    if (ec) {
      std::string why = ec == beast::error::timeout ? "timed out" : ec.message();
      for (auto& ch : why) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (proxy)
        return Error(ErrorKind::failed_precondition, fmt::format("connect to proxy {}:{} ({}) for {}: {}", peer.host,
                                                         peer.port, proxy->variable, url.authority(), why))
            .with_hint(fmt::format("is the proxy running? Or add {} to NO_PROXY", url.host));
      return Error::make(ErrorKind::unavailable, "connect to {}:{}: {}", url.host, url.port, why)
          .with_hint("is the registry running and listening there?");
    }
    lowest.socket().set_option(tcp::no_delay(true), ec);
    if (proxy && c->tls) BERTH_TRY_VOID(open_tunnel(lowest, url, *proxy));
    if (proxy && !c->tls) {
      c->through_proxy = true;
      c->proxy_authorization = proxy->authorization;
      c->proxy_name = fmt::format("{} ({})", proxy->url.authority(), proxy->variable);
    }
    if (c->tls) {
      beast::error_code ip_ec;
      net::ip::make_address(url.host, ip_ec);
      // SNI only for names: RFC 6066 forbids IP literals there.
      if (ip_ec) SSL_set_tlsext_host_name(c->tls->native_handle(), url.host.c_str());
      if (options.tls_verify) c->tls->set_verify_callback(net::ssl::host_name_verification(url.host));
      ec = run(lowest, [&](auto&& done) {
        c->tls->async_handshake(net::ssl::stream_base::client, [done](beast::error_code e) { done(e, 0); });
      });
      if (ec) {
        auto e = Error::make(ErrorKind::unavailable, "TLS handshake with {}:{}: {}", url.host, url.port, ec.message());
        return options.tls_verify
                   ? std::move(e).with_hint("if the registry has a self-signed certificate or speaks plain HTTP, "
                                            "pass --tls-verify=false")
                   : std::move(e);
      }
    }
    auto* raw = c.get();
    connections[key] = std::move(c);
    return raw;
  }

  Result<void> write_all(Connection& c, auto& stream, const Url& url, std::string_view data) {
    auto ec = run(c.lowest(), [&](auto&& done) { net::async_write(stream, net::buffer(data.data(), data.size()), done); });
    if (ec) return transfer_error("send request body to", url, ec);
    return {};
  }

  Result<void> send_file(Connection& c, auto& stream, const Url& url, const Body& body) {
    int64_t offset = body.offset;
    int64_t end = body.offset + body.length;
    if constexpr (std::is_same_v<std::decay_t<decltype(stream)>, beast::tcp_stream>) {
      // Plain TCP: the kernel copies from the page cache to the socket.
      int sock = stream.socket().native_handle();
      SigpipeBlock no_sigpipe;
      while (offset < end) {
        off_t off = offset;
        ssize_t n = ::sendfile(sock, body.fd, &off, static_cast<size_t>(std::min<int64_t>(end - offset, 8 << 20)));
        if (n > 0) {
          offset = off;
          if (body.progress) body.progress(offset - body.offset);
          continue;
        }
        if (n == 0) return Error::make(ErrorKind::io, "send file to {}: the file ended early", url.authority());
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return Error::from_errno("send request body to {}", url.authority());
        BERTH_TRY_VOID(wait_ready(sock, POLLOUT, options.io_timeout, url));
      }
      return {};
    } else {
      while (offset < end) {
        ssize_t n = ::pread(body.fd, buf.data(), std::min<int64_t>(end - offset, static_cast<int64_t>(buf.size())), offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::from_errno("read request body");
        if (n == 0) return Error::make(ErrorKind::io, "send file to {}: the file ended early", url.authority());
        BERTH_TRY_VOID(write_all(c, stream, url, std::string_view(buf.data(), static_cast<size_t>(n))));
        offset += n;
        if (body.progress) body.progress(offset - body.offset);
      }
      return {};
    }
  }

  // Reads some body bytes straight into buf (no copy through the parser).
  Result<size_t> read_some(Connection& c, auto& stream, const Url& url, size_t want) {
    want = std::min(want, buf.size());
    if constexpr (std::is_same_v<std::decay_t<decltype(stream)>, beast::tcp_stream>) {
      int sock = stream.socket().native_handle();
      for (;;) {
        ssize_t n = ::recv(sock, buf.data(), want, MSG_DONTWAIT);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return Error::from_errno("read response from {}", url.authority());
        BERTH_TRY_VOID(wait_ready(sock, POLLIN, options.io_timeout, url));
      }
    } else {
      size_t n = 0;
      auto ec = run(c.lowest(), [&](auto&& done) { stream.async_read_some(net::buffer(buf.data(), want), done); }, &n);
      if (ec == net::error::eof || ec == net::ssl::error::stream_truncated) return size_t{0};
      if (ec) return transfer_error("read response from", url, ec);
      return n;
    }
  }

  Result<Response> exchange_on(Connection& c, auto& stream, const Url& url, const Headers& headers,
                               Request& r, bool& got_head, bool& keep_alive) {
    bhttp::request<bhttp::empty_body> req;
    req.version(11);
    req.method_string(r.method);
    req.target(c.through_proxy ? url.str() : url.target);
    req.set(bhttp::field::host, url.authority());
    req.set(bhttp::field::user_agent, kUserAgent);
    for (const auto& [k, v] : headers.items()) req.set(k, v);
    if (!c.proxy_authorization.empty()) req.set(bhttp::field::proxy_authorization, c.proxy_authorization);
    bool has_body = r.body.size() > 0 || r.method == "PUT" || r.method == "POST" || r.method == "PATCH";
    if (has_body) req.content_length(static_cast<uint64_t>(r.body.size()));
    // Some proxies (tinyproxy) close after every answer without saying so; a request sent on such
    // a connection would be lost half-way. So through a proxy each request has its own.
    req.keep_alive(!c.through_proxy);
    bhttp::request_serializer<bhttp::empty_body> sr{req};
    auto ec = run(c.lowest(), [&](auto&& done) { bhttp::async_write_header(stream, sr, done); });
    if (ec) return transfer_error("send request to", url, ec);
    if (r.body.fd >= 0)
      BERTH_TRY_VOID(send_file(c, stream, url, r.body));
    else if (!r.body.data.empty())
      BERTH_TRY_VOID(write_all(c, stream, url, r.body.data));

    bhttp::response_parser<bhttp::buffer_body> p;
    p.body_limit(std::numeric_limits<uint64_t>::max());
    p.header_limit(kMaxResponseHead);
    if (r.method == "HEAD") p.skip(true);
    ec = run(c.lowest(), [&](auto&& done) { bhttp::async_read_header(stream, c.buffer, p, done); });
    if (ec) return transfer_error("read response from", url, ec);
    got_head = true;
    Response resp;
    resp.status = static_cast<int>(p.get().result_int());
    for (const auto& f : p.get()) resp.headers.add(std::string(f.name_string()), std::string(f.value()));
    if (p.content_length()) resp.content_length = static_cast<int64_t>(*p.content_length());
    bool stream_body = r.sink && (!r.want_stream || r.want_stream(resp));
    auto too_large = [&] {
      return Error::make(ErrorKind::io, "response from {} is larger than {} MiB", url.authority(),
                         options.max_body_in_memory >> 20);
    };
    auto deliver = [&](std::string_view piece) -> Result<void> {
      if (stream_body) return r.sink(piece);
      if (resp.body.size() + piece.size() > options.max_body_in_memory) return too_large();
      resp.body.append(piece);
      return {};
    };
    if (!p.is_done() && p.content_length() && !p.chunked()) {
      uint64_t total = *p.content_length();
      uint64_t remain = total;
      if (!stream_body) {
        if (total > options.max_body_in_memory) return too_large();
        resp.body.reserve(total);
      }
      auto pending = c.buffer.data();
      size_t take = std::min<uint64_t>(remain, pending.size());
      if (take) {
        BERTH_TRY_VOID(deliver(std::string_view(static_cast<const char*>(pending.data()), take)));
        c.buffer.consume(take);
        remain -= take;
      }
      while (remain > 0) {
        BERTH_TRY(size_t n, read_some(c, stream, url, static_cast<size_t>(std::min<uint64_t>(remain, buf.size()))));
        if (n == 0)
          return Error::make(ErrorKind::io, "response from {} cut short: {} of {} bytes", url.authority(),
                             total - remain, total);
        BERTH_TRY_VOID(deliver(std::string_view(buf.data(), n)));
        remain -= n;
      }
    } else {
      while (!p.is_done()) {
        p.get().body().data = buf.data();
        p.get().body().size = buf.size();
        ec = run(c.lowest(), [&](auto&& done) { bhttp::async_read(stream, c.buffer, p, done); });
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec == bhttp::error::buffer_overflow)
          return Error::make(ErrorKind::io, "response from {}: a chunk-size line or the trailers exceed {} bytes",
                             url.authority(), kMaxResponseHead);
        if (ec) return transfer_error("read response from", url, ec);
        size_t got = buf.size() - p.get().body().size;
        if (got) BERTH_TRY_VOID(deliver(std::string_view(buf.data(), got)));
      }
    }
    keep_alive = p.get().keep_alive() && !c.through_proxy;
    return resp;
  }

  Result<Response> exchange(const Url& url, const Headers& headers, Request& r) {
    for (int attempt = 0;; ++attempt) {
      BERTH_TRY(Connection * c, connect(url));
      bool reused = c->used;
      c->used = true;
      bool got_head = false, keep_alive = false;
      Result<Response> res = c->tls ? exchange_on(*c, *c->tls, url, headers, r, got_head, keep_alive)
                                     : exchange_on(*c, *c->plain, url, headers, r, got_head, keep_alive);
      if (res && keep_alive) return res;
      std::string proxy_name = c->through_proxy ? c->proxy_name : "";
      connections.erase(url.origin());
      if (res && res->status == 407 && !proxy_name.empty())
        return Error(ErrorKind::unauthenticated, fmt::format("proxy {} refused {} {}: 407 Proxy Authentication Required",
                                                             proxy_name, r.method, url.str()))
            .with_hint("give the proxy's user and password: HTTP_PROXY=http://USER:PASSWORD@HOST:PORT");
      // A kept-alive connection the server closed meanwhile fails before any answer: once more
      // on a new one. Bodies are replayable (memory or a file range).
      // Not a PATCH: the server may have taken part of it, and only the caller knows how much.
      if (!res && reused && !got_head && attempt == 0 && res.error().kind() == ErrorKind::io && r.method != "PATCH")
        continue;
      return res;
    }
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

void Client::close() { impl_->connections.clear(); }

Result<Response> Client::send(Request& request) {
  BERTH_TRY(auto url, Url::parse(request.url));
  Headers headers = request.headers;
  for (int redirects = 0;; ++redirects) {
    BERTH_TRY(auto resp, impl_->exchange(url, headers, request));
    auto location = resp.headers.get("Location");
    bool redirect = resp.status == 301 || resp.status == 302 || resp.status == 303 || resp.status == 307 ||
                    resp.status == 308;
    if (!request.follow_redirects || !redirect || !location) {
      resp.url = url;
      return resp;
    }
    if (redirects >= 10)
      return Error::make(ErrorKind::unavailable, "{} {}: more than 10 redirects", request.method, request.url);
    BERTH_TRY(auto next, url.resolve(*location));
    // Credentials are for the registry, not for the storage it redirects to.
    if (next.origin() != url.origin()) headers.remove("Authorization");
    url = std::move(next);
  }
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0)
    return Error::make(ErrorKind::invalid_argument, "base64 text of {} characters: not a multiple of 4", text.size());
  std::string out(text.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return Error::make(ErrorKind::invalid_argument, "invalid base64 text");
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

}  // namespace berth::http
