// http/server.cc — the Asio/Beast side of http/server.h. Beast parses request heads (and chunked
// bodies); Content-Length bodies are read straight from the socket into a 1 MiB buffer, and file
// responses go out with sendfile(2) on plain TCP, so a blob is never copied through user space
// on the way out, and only once on the way in.
#include "http/server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
// Boost 1.74's Asio enables C++20 coroutines for g++, and for clang only with libc++; clang-tidy
// reads this file with clang and libstdc++, whose <coroutine> clang 14 supports.
#if defined(__clang__) && defined(__cpp_impl_coroutine) && __has_include(<coroutine>)
#define BOOST_ASIO_HAS_CO_AWAIT 1
#define BOOST_ASIO_HAS_STD_COROUTINE 1
#endif
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <csignal>
#include <cstring>
#include <limits>
#include <thread>
#include <type_traits>

#include "base/log.h"
#include "base/min_rate.h"
#include "http/read_room.h"

namespace berth::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;
using asio::awaitable;
using asio::use_awaitable;

constexpr size_t kBodyBuffer = 1 << 20;
// A request body's buffer starts here and doubles, up to kBodyBuffer, each time a read fills it:
// a fast upload soon reads 1 MiB at a time, while a slow client, whose reads never fill it, holds
// 64 KiB. (1 MiB for every connection with a body let 120 slow uploads make the registry hold
// 130 MB, 1 GiB at the connection limit.)
constexpr size_t kBodyBufferFirst = 64 * 1024;
constexpr uint64_t kDrainLimit = 1 << 20;

using Clock = std::chrono::steady_clock;

// ServerOptions' limits, in the units the loop uses.
struct Limits {
  std::chrono::milliseconds idle{300'000};
  std::chrono::milliseconds header{30'000};  // also the window of the body's minimum rate
  uint64_t min_body_rate = 256;              // bytes per second, 0: none
  size_t max_header_bytes = 64 * 1024;
  size_t max_connections = 1024;
  size_t max_per_client = 128;
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

ServerRequest to_request(const bhttp::request_parser<bhttp::buffer_body>& parser, bool tls,
                         const std::string& remote) {
  const auto& msg = parser.get();
  ServerRequest r;
  r.method = std::string(msg.method_string());
  r.target = std::string(msg.target());
  std::string_view target = r.target;
  auto q = target.find('?');
  r.path = percent_decode(target.substr(0, q), false);
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      auto amp = rest.find('&');
      std::string_view item = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (item.empty()) continue;
      auto eq = item.find('=');
      r.query.emplace_back(
          percent_decode(item.substr(0, eq), true),
          eq == std::string_view::npos ? "" : percent_decode(item.substr(eq + 1), true));
    }
  }
  for (const auto& f : msg)
    r.headers.push_back({std::string(f.name_string()), std::string(f.value())});
  if (auto len = parser.content_length()) r.content_length = *len;
  r.has_body = parser.chunked() || (r.content_length && *r.content_length > 0);
  r.tls = tls;
  r.remote = remote;
  return r;
}

class CollectSink final : public BodySink {
 public:
  CollectSink(size_t limit, std::function<ServerResponse(std::string)> done,
              std::function<ServerResponse()> too_large)
      : limit_(limit), done_(std::move(done)), too_large_(std::move(too_large)) {}
  Result<void> write(const char* data, size_t size) override {
    if (body_.size() + size > limit_) {
      over_ = true;
      return Error::make(ErrorKind::invalid_argument, "request body exceeds {} bytes", limit_);
    }
    body_.append(data, size);
    return {};
  }
  ServerResponse finish(Result<void> outcome) override {
    if (over_) return too_large_();
    if (!outcome) return ServerResponse{500};
    return done_(std::move(body_));
  }

 private:
  size_t limit_;
  std::function<ServerResponse(std::string)> done_;
  std::function<ServerResponse()> too_large_;
  std::string body_;
  bool over_ = false;
};

// Reads and throws away a small body we have no use for, so the connection can be reused and
// the client, still writing it, is not cut off before it reads the answer. A chunked body is
// drained too (Go's client sends a body chunked when not told its length), up to kDrainLimit:
// past that the connection is closed.
class DiscardSink final : public BodySink {
 public:
  Result<void> write(const char*, size_t size) override {
    discarded_ += size;
    if (discarded_ > kDrainLimit)
      return Error::make(ErrorKind::invalid_argument, "unread body exceeds {} bytes", kDrainLimit);
    return {};
  }
  ServerResponse finish(Result<void>) override { return {}; }

 private:
  uint64_t discarded_ = 0;
};

// Closes a connection that made no progress (no byte read or written) for the idle limit: a
// client that stalls mid-request or keeps an idle connection must not hold its fd for ever.
// Runs on the connection's own single-threaded context, so no locking.
// It also enforces a deadline, when one is set: the end of a request head's (or TLS handshake's)
// time, which progress does not extend; and, while a body arrives, its minimum rate.
struct Watchdog {
  Watchdog(asio::io_context& context, const Limits& limits)
      : timer(context), body_rate(limits.min_body_rate, limits.header) {}
  asio::steady_timer timer;
  Clock::time_point last = Clock::now();
  Clock::time_point deadline = Clock::time_point::max();
  bool in_body = false;
  MinimumRate body_rate;  // the body's windows are as long as the header timeout
  bool done = false;
  std::function<void()> close;

  // True when the body brought too little over a whole window (checked at each window's end).
  bool body_too_slow(Clock::time_point now) { return in_body && body_rate.too_slow(now); }
};

awaitable<void> watch(std::shared_ptr<Watchdog> w, Limits limits) {
  auto every = std::max<std::chrono::milliseconds>(
      std::chrono::milliseconds(10),
      std::min({limits.idle / 2, limits.header / 4, std::chrono::milliseconds(15'000)}));
  for (;;) {
    w->timer.expires_after(every);
    beast::error_code ec;
    co_await w->timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (w->done) co_return;
    auto now = Clock::now();
    if (now - w->last > limits.idle || now > w->deadline || w->body_too_slow(now)) {
      w->close();
      co_return;
    }
  }
}

// The socket's fd, taken from Asio and made blocking, for a takeover; -1 when the stream cannot
// be handed over (TLS: the session state lives in this process's OpenSSL objects).
template <class Protocol, class Executor>
int release_socket(asio::basic_stream_socket<Protocol, Executor>& socket) {
  beast::error_code ec;
  int fd = socket.release(ec);
  if (ec) return -1;
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}
int release_socket(beast::ssl_stream<tcp::socket>&) { return -1; }

// A parse error of the request head (not the peer closing mid-head).
bool malformed_head(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::header_limit).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

class Connection {
 public:
  Connection(Handler& handler, Watchdog& watchdog, std::atomic<int>& takeovers,
             const Limits& limits)
      : handler_(handler), watchdog_(watchdog), takeovers_(takeovers), limits_(limits) {}

  template <class Stream>
  awaitable<void> serve(Stream& stream, bool tls, std::string remote) {
    // Bounded: Beast limits a head but not a chunk-size line or trailers, and would keep every
    // byte of one that never ends. A head over the limit is still a 431 (Beast sees it first);
    // kReadRoom is room for one read past a head or chunk.
    beast::flat_buffer buffer(limits_.max_header_bytes + kReadRoom);
    for (;;) {
      bhttp::request_parser<bhttp::buffer_body> parser;
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
      beast::error_code ec;
      // Waiting for the next request is idle time; once its first byte is here, the whole head
      // has header_timeout to arrive.
      if (buffer.size() == 0) {
        size_t n = co_await stream.async_read_some(buffer.prepare(4096),
                                                   asio::redirect_error(use_awaitable, ec));
        buffer.commit(n);
        touch();
        if (ec) co_return;
      }
      watchdog_.deadline = Clock::now() + limits_.header;
      co_await bhttp::async_read_header(stream, buffer, parser,
                                        asio::redirect_error(use_awaitable, ec));
      watchdog_.deadline = Clock::time_point::max();
      touch();
      if (ec == bhttp::error::need_buffer) ec = {};  // a head whose empty body is complete too
      if (ec) {
        if (malformed_head(ec)) {
          // Into locals first: g++ 12 destroys temporaries of a co_await's full expression twice
          // when they come out of a conditional.
          const bool too_long = ec == bhttp::error::header_limit;
          const int status = too_long ? 431 : 400;
          std::string message =
              too_long ? fmt::format("the request head exceeds {} bytes", limits_.max_header_bytes)
                       : fmt::format("malformed request: {}", ec.message());
          co_await refuse_head(stream, status, std::move(message));
        } else if (ec != asio::error::eof) {
          log::debug(fmt::format("{}: read request: {}", remote, ec.message()));
        }
        co_return;
      }
      ServerRequest request = to_request(parser, tls, remote);
      bool keep_alive = parser.get().keep_alive();
      bool expect_continue = false;
      if (const auto* e = request.header("Expect")) expect_continue = iequals(*e, "100-continue");

      Dispatch dispatch;
      try {
        dispatch = handler_.handle(request);
      } catch (const std::exception& e) {
        log::error(fmt::format("{} {}: {}", request.method, request.target, e.what()));
        dispatch.response = ServerResponse{500};
      }
      ServerResponse response;
      if (dispatch.sink || (request.has_body && !expect_continue &&
                            (!request.content_length || *request.content_length <= kDrainLimit))) {
        BodySink* sink = dispatch.sink ? dispatch.sink.get() : nullptr;
        DiscardSink discard;
        if (!sink) sink = &discard;
        if (expect_continue && request.has_body) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          co_await asio::async_write(stream, asio::buffer(kContinue.data(), kContinue.size()),
                                     asio::redirect_error(use_awaitable, ec));
          if (ec) {
            sink->finish(Error(ErrorKind::unavailable, "connection closed"));
            co_return;
          }
        }
        bool peer_gone = false;
        Result<void> outcome =
            co_await read_body(stream, buffer, parser, request, *sink, peer_gone);
        if (peer_gone) {
          sink->finish(std::move(outcome));
          co_return;
        }
        if (!outcome) keep_alive = false;  // the rest of the body is still on the wire
        if (dispatch.sink) {
          try {
            response = sink->finish(std::move(outcome));
          } catch (const std::exception& e) {
            log::error(fmt::format("{} {}: {}", request.method, request.target, e.what()));
            response = ServerResponse{500};
          }
          // Release what the sink holds (an upload's busy mark) before the client can see the
          // response and send its next request, perhaps on another connection.
          dispatch.sink.reset();
        } else {
          response = std::move(dispatch.response);
        }
      } else {
        response = std::move(dispatch.response);
        if (request.has_body) keep_alive = false;  // we did not read it
      }
      if (response.takeover) {
        int fd = release_socket(stream);
        if (fd >= 0) {
          hand_over(std::move(response.takeover), fd);
          co_return;
        }
        response = ServerResponse{501};
        keep_alive = false;
      }
      if (request.method == "HEAD") response.head_only = true;
      if (!co_await write_response(stream, response, keep_alive)) co_return;
      if (!keep_alive) co_return;
    }
  }

 private:
  // Answers a head we will not read (431, 400) and closes. What the client still sends is read
  // and dropped first (up to kDrainLimit, within header_timeout): closing with unread bytes would
  // reset the connection, and the client could lose the answer.
  template <class Stream>
  awaitable<void> refuse_head(Stream& stream, int status, std::string message) {
    ServerResponse r{status};
    r.body = message + "\n";
    r.set("Content-Type", "text/plain");
    if (!co_await write_response(stream, r, false)) co_return;
    watchdog_.deadline = Clock::now() + limits_.header;
    std::array<char, 16384> scratch;
    uint64_t drained = 0;
    beast::error_code ec;
    while (drained < kDrainLimit) {
      drained += co_await stream.async_read_some(asio::buffer(scratch),
                                                 asio::redirect_error(use_awaitable, ec));
      if (ec) break;
    }
  }

  template <class Stream>
  awaitable<Result<void>> read_body(Stream& stream, beast::flat_buffer& buffer,
                                    bhttp::request_parser<bhttp::buffer_body>& parser,
                                    const ServerRequest& request, BodySink& sink, bool& peer_gone) {
    if (!request.has_body) co_return Result<void>();
    if (body_.size() < kBodyBufferFirst) body_.resize(kBodyBufferFirst);
    BodyWindow window(watchdog_);
    beast::error_code ec;
    if (request.content_length) {
      uint64_t left = *request.content_length;
      size_t buffered = static_cast<size_t>(std::min<uint64_t>(buffer.size(), left));
      if (buffered) {
        auto r = sink.write(static_cast<const char*>(buffer.data().data()), buffered);
        buffer.consume(buffered);
        left -= buffered;
        if (!r) co_return r;
      }
      while (left > 0) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(left, body_.size()));
        size_t n = co_await stream.async_read_some(asio::buffer(body_.data(), want),
                                                   asio::redirect_error(use_awaitable, ec));
        touch();
        watchdog_.body_rate.add(n);
        if (ec) {
          peer_gone = true;
          co_return Error::make(ErrorKind::unavailable,
                                "connection closed with {} bytes of the body unread", left);
        }
        left -= n;
        if (auto r = sink.write(body_.data(), n); !r) co_return r;
        grow_body_buffer_if_filled(n);
      }
      co_return Result<void>();
    }
    // Chunked: Beast decodes the framing into our buffer.
    while (!parser.is_done()) {
      auto& body = parser.get().body();
      body.data = body_.data();
      body.size = body_.size();
      body.more = true;
      co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      touch();
      // The rate counts decoded bytes: chunk framing alone does not keep a connection.
      watchdog_.body_rate.add(body_.size() - parser.get().body().size);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec == bhttp::error::buffer_overflow)
        co_return Error::make(ErrorKind::invalid_argument,
                              "a chunk-size line or the trailers exceed {} bytes",
                              limits_.max_header_bytes);
      if (ec) {
        peer_gone = true;
        co_return Error::make(ErrorKind::unavailable, "connection closed mid-body: {}",
                              ec.message());
      }
      size_t n = body_.size() - parser.get().body().size;
      if (n)
        if (auto r = sink.write(body_.data(), n); !r) co_return r;
      grow_body_buffer_if_filled(n);
    }
    co_return Result<void>();
  }

  void grow_body_buffer_if_filled(size_t read) {
    if (read == body_.size() && body_.size() < kBodyBuffer) body_.resize(std::min(kBodyBuffer, body_.size() * 2));
  }

  template <class Stream>
  awaitable<bool> write_response(Stream& stream, ServerResponse& response, bool keep_alive) {
    beast::error_code ec;
    bool has_file = response.file.valid();
    uint64_t length = has_file ? response.file_length : response.body.size();
    bhttp::response<bhttp::empty_body> head{static_cast<bhttp::status>(response.status), 11};
    for (const auto& h : response.headers) head.insert(h.name, h.value);
    head.keep_alive(keep_alive);
    // 1xx, 204 and 304 responses carry no Content-Length.
    if (response.status >= 200 && response.status != 204 && response.status != 304)
      head.content_length(length);
    bhttp::response_serializer<bhttp::empty_body> serializer{head};
    co_await bhttp::async_write_header(stream, serializer, asio::redirect_error(use_awaitable, ec));
    touch();
    if (ec) co_return false;
    if (response.head_only || length == 0) co_return true;
    if (!has_file) {
      co_await asio::async_write(stream, asio::buffer(response.body),
                                 asio::redirect_error(use_awaitable, ec));
      co_return !ec;
    }
    co_return co_await send_file(stream, response);
  }

  template <class Protocol, class Executor>
  awaitable<bool> send_file(asio::basic_stream_socket<Protocol, Executor>& socket,
                            ServerResponse& response) {
    beast::error_code ec;
    socket.native_non_blocking(true, ec);
    auto offset = static_cast<off_t>(response.file_offset);
    uint64_t left = response.file_length;
    while (left > 0) {
      ssize_t n = ::sendfile(socket.native_handle(), response.file.get(), &offset,
                             static_cast<size_t>(std::min<uint64_t>(left, 1 << 30)));
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        co_await socket.async_wait(asio::socket_base::wait_write,
                                   asio::redirect_error(use_awaitable, ec));
        if (ec) co_return false;
        continue;
      }
      if (n <= 0) co_return false;  // the file shrank or the peer went away: drop the connection
      touch();
      left -= static_cast<uint64_t>(n);
    }
    co_return true;
  }

  awaitable<bool> send_file(beast::ssl_stream<tcp::socket>& stream, ServerResponse& response) {
    if (body_.empty()) body_.resize(kBodyBuffer);
    beast::error_code ec;
    auto offset = static_cast<off_t>(response.file_offset);
    uint64_t left = response.file_length;
    while (left > 0) {
      ssize_t n = ::pread(response.file.get(), body_.data(), std::min<uint64_t>(left, body_.size()),
                          offset);
      if (n <= 0) co_return false;
      co_await asio::async_write(stream, asio::buffer(body_.data(), static_cast<size_t>(n)),
                                 asio::redirect_error(use_awaitable, ec));
      if (ec) co_return false;
      touch();
      offset += n;
      left -= static_cast<uint64_t>(n);
    }
    co_return true;
  }

  void touch() { watchdog_.last = std::chrono::steady_clock::now(); }

  // The body's rate is watched while it lasts.
  struct BodyWindow {
    explicit BodyWindow(Watchdog& w) : w(w) {
      w.in_body = true;
      w.body_rate.start(Clock::now());
    }
    ~BodyWindow() { w.in_body = false; }
    Watchdog& w;
  };

  // The takeover runs on its own thread: it may block (a followed log) for as long as it likes
  // without holding up this context's other connections.
  void hand_over(std::function<void(UniqueFd)> takeover, int fd) {
    ++takeovers_;
    std::thread([takeover = std::move(takeover), fd, &count = takeovers_] {
      try {
        takeover(UniqueFd(fd));
      } catch (const std::exception& e) {
        log::error(fmt::format("takeover: {}", e.what()));
      }
      --count;
    }).detach();
  }

  Handler& handler_;
  Watchdog& watchdog_;
  std::atomic<int>& takeovers_;
  const Limits& limits_;
  std::vector<char> body_;
};

// Said to a connection beyond its client's share, before closing it.
constexpr std::string_view kTooManyFromClient =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 43\r\n"
    "Retry-After: 1\r\nConnection: close\r\n\r\ntoo many connections from this address\n";

Result<tcp::endpoint> parse_address(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos)
    return Error::make(ErrorKind::invalid_argument,
                       "address '{}': use HOST:PORT, e.g. 127.0.0.1:5000", address);
  std::string host = address.substr(0, colon);
  std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  char* end = nullptr;
  unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end || p > 65535)
    return Error::make(ErrorKind::invalid_argument,
                       "address '{}': port '{}' is not a number 0-65535", address, port);
  beast::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (ec)
    return Error::make(ErrorKind::invalid_argument, "address '{}': '{}' is not an IP address",
                       address, host);
  return tcp::endpoint(ip, static_cast<unsigned short>(p));
}

class AsioServer final : public Server {
 public:
  // One io_context per thread, each run by its thread alone (concurrency hint 1: no locking, no
  // hand-offs between threads); the acceptor lives on the first and deals connections out in
  // turn. Measured: a second thread on one shared context cost 20% more CPU per pushed byte.
  AsioServer(Handler& handler, int threads, Limits limits)
      : handler_(handler),
        limits_(limits),
        acceptor_(context(std::max(1, threads))),
        local_acceptor_(*contexts_[0]) {}

  ~AsioServer() override {
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
  }

  asio::io_context& context(int threads) {
    for (int i = 0; i < threads; ++i) contexts_.push_back(std::make_unique<asio::io_context>(1));
    active_ = std::make_unique<std::atomic<int>[]>(static_cast<size_t>(threads));
    return *contexts_[0];
  }

  // The context with the fewest open connections (ties in turn): two uploads arriving on new
  // connections, right after short ones (POST) closed, land on different threads.
  size_t pick_context() {
    size_t best = next_++ % contexts_.size();
    for (size_t k = 1; k < contexts_.size(); ++k) {
      size_t i = (best + k) % contexts_.size();
      if (active_[i].load() < active_[best].load()) best = i;
    }
    return best;
  }

  // A socket file left by a server that is gone is replaced; one a live server answers on is not.
  Result<void> open_unix(const ServerOptions& options) {
    const std::string& path = options.unix_socket;
    if (path.size() >= sizeof(sockaddr_un{}.sun_path))
      return Error::make(ErrorKind::invalid_argument, "socket path '{}' is too long", path);
    struct ::stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        return Error::make(ErrorKind::already_exists, "listen on '{}': not a socket", path);
      beast::error_code ec;
      local::socket probe(*contexts_[0]);
      probe.connect(local::endpoint(path), ec);
      if (!ec)
        return Error::make(ErrorKind::already_exists, "listen on '{}': a server answers there",
                           path)
            .with_hint("stop it first, or choose another --socket");
      if (::unlink(path.c_str()) < 0) return Error::from_errno("remove stale socket '{}'", path);
    }
    beast::error_code ec;
    local_acceptor_.open(local(), ec);
    if (!ec) local_acceptor_.bind(local::endpoint(path), ec);
    if (!ec) unix_path_ = path;
    local_ = !ec;
    if (!ec && ::chmod(path.c_str(), 0660) < 0) ec.assign(errno, beast::system_category());
    if (!ec) local_acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Error::make(ErrorKind::io, "listen on '{}': {}", path, ec.message());
    return {};
  }

  Result<void> open(const ServerOptions& options) {
    idle_exit_ = std::chrono::milliseconds(options.idle_exit_ms);
    stop_on_signals_ = options.stop_on_signals;
    if (options.listen_fd >= 0) {
      beast::error_code ec;
      local_acceptor_.assign(local(), options.listen_fd, ec);
      if (ec) return Error::make(ErrorKind::io, "take over socket fd {}: {}", options.listen_fd, ec.message());
      local_ = true;
      return {};
    }
    if (!options.unix_socket.empty()) return open_unix(options);
    BERTH_TRY(auto endpoint, parse_address(options.address));
    if (options.tls_cert.empty() != options.tls_key.empty())
      return Error(ErrorKind::invalid_argument, "give both --tls-cert and --tls-key, or neither");
    if (!options.tls_cert.empty()) {
      tls_ = std::make_unique<ssl::context>(ssl::context::tls_server);
      tls_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      beast::error_code ec;
      tls_->use_certificate_chain_file(options.tls_cert, ec);
      if (ec)
        return Error::make(ErrorKind::invalid_argument, "load TLS certificate '{}': {}",
                           options.tls_cert, ec.message())
            .with_hint("give a PEM certificate (chain) file");
      tls_->use_private_key_file(options.tls_key, ssl::context::pem, ec);
      if (ec)
        return Error::make(ErrorKind::invalid_argument, "load TLS key '{}': {}", options.tls_key,
                           ec.message())
            .with_hint("give the PEM private key that matches the certificate");
    }
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return Error::make(ec.value() == EADDRINUSE ? ErrorKind::already_exists : ErrorKind::io,
                         "listen on '{}': {}", options.address, ec.message())
          .with_hint(ec.value() == EADDRINUSE
                         ? "another process listens there: choose another --addr"
                         : "");
    return {};
  }

  std::string address() const override {
    if (local_) {
      beast::error_code ec;
      auto ep = local_acceptor_.local_endpoint(ec);
      return ec ? unix_path_ : ep.path();
    }
    beast::error_code ec;
    auto ep = acceptor_.local_endpoint(ec);
    if (ec) return "";
    return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                                : fmt::format("{}:{}", ep.address().to_string(), ep.port());
  }

  Result<void> run() override {
    asio::io_context& first = *contexts_[0];
    asio::signal_set signals(first);
    if (stop_on_signals_) {
      signals.add(SIGINT);
      signals.add(SIGTERM);
      signals.async_wait([this](const beast::error_code& ec, int) {
        if (!ec) stop();
      });
    }
    if (!local_)
      asio::co_spawn(first, accept_loop(acceptor_), asio::detached);
    else
      asio::co_spawn(first, accept_loop(local_acceptor_), asio::detached);
    if (idle_exit_.count() > 0) asio::co_spawn(first, exit_when_idle(), asio::detached);
    // sendfile(2) takes no MSG_NOSIGNAL: a client that resets a download would raise SIGPIPE and
    // end the process. Ignored while serving (nothing forks meanwhile), restored afterwards.
    struct sigaction ignore {};
    struct sigaction previous {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &previous);
    // The other contexts have no work until a connection arrives: keep them running.
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep;
    std::vector<std::thread> extra;
    for (size_t i = 1; i < contexts_.size(); ++i) {
      keep.push_back(asio::make_work_guard(*contexts_[i]));
      extra.emplace_back([this, i] { contexts_[i]->run(); });
    }
    first.run();
    for (auto& t : extra) t.join();
    ::sigaction(SIGPIPE, &previous, nullptr);
    return {};
  }

  void stop() override {
    for (auto& c : contexts_) c->stop();
  }

 private:
  bool busy() const {
    if (takeovers_.load() > 0) return true;
    for (size_t i = 0; i < contexts_.size(); ++i)
      if (active_[i].load() > 0) return true;
    return false;
  }

  awaitable<void> exit_when_idle() {
    asio::steady_timer timer(*contexts_[0]);
    auto idle_since = std::chrono::steady_clock::now();
    auto every = std::min<std::chrono::milliseconds>(idle_exit_, std::chrono::milliseconds(250));
    for (;;) {
      timer.expires_after(every);
      beast::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;
      auto now = std::chrono::steady_clock::now();
      if (busy()) {
        idle_since = now;
      } else if (now - idle_since >= idle_exit_) {
        log::debug("idle: exiting");
        stop();
        co_return;
      }
    }
  }

  size_t open_connections() const {
    size_t n = 0;
    for (size_t i = 0; i < contexts_.size(); ++i) n += static_cast<size_t>(active_[i].load());
    return n;
  }

  // Counts a connection against its client's share; false when the share is used up.
  bool claim_client(const std::string& client) {
    std::lock_guard lock(clients_mutex_);
    size_t& n = clients_[client];
    if (limits_.max_per_client && n >= limits_.max_per_client) {
      if (n == 0) clients_.erase(client);
      return false;
    }
    ++n;
    return true;
  }

  void release_client(const std::string& client) {
    std::lock_guard lock(clients_mutex_);
    auto it = clients_.find(client);
    if (it != clients_.end() && --it->second == 0) clients_.erase(it);
  }

  // A connection over its client's share: a 503 (plain TCP), then closed. What the client sent
  // already is read first, so the close does not reset the connection before the answer.
  void refuse_connection(int fd, bool plain) {
    if (plain) {
      (void)::send(fd, kTooManyFromClient.data(), kTooManyFromClient.size(),
                   MSG_DONTWAIT | MSG_NOSIGNAL);
      ::shutdown(fd, SHUT_WR);
    }
    std::array<char, 4096> scratch;
    while (::recv(fd, scratch.data(), scratch.size(), MSG_DONTWAIT) > 0) {
    }
    ::close(fd);
  }

  template <class Acceptor>
  awaitable<void> accept_loop(Acceptor& acceptor) {
    using Socket = typename Acceptor::protocol_type::socket;
    for (;;) {
      beast::error_code ec;
      // At the connection limit, new connections wait in the listen backlog (their handshake
      // done by the kernel) and are served once others close.
      while (limits_.max_connections && open_connections() >= limits_.max_connections) {
        asio::steady_timer wait(*contexts_[0], std::chrono::milliseconds(20));
        co_await wait.async_wait(asio::redirect_error(use_awaitable, ec));
      }
      Socket socket = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        log::warn(fmt::format("accept: {}", ec.message()));
        asio::steady_timer t(*contexts_[0],
                             std::chrono::milliseconds(100));  // out of fds: let some close
        co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      std::string client;
      if constexpr (std::is_same_v<Socket, tcp::socket>) {
        socket.set_option(tcp::no_delay(true), ec);
        auto peer = socket.remote_endpoint(ec);
        if (!ec) client = peer.address().to_string();
      }
      if (!client.empty() && !claim_client(client)) {
        log::debug(fmt::format("{}: refused, {} connections from it are open already", client,
                               limits_.max_per_client));
        int fd = socket.release(ec);
        if (!ec) refuse_connection(fd, !tls_);
        continue;
      }
      // Hand the connection to its thread's context (the socket is re-homed by release/assign).
      size_t i = pick_context();
      auto protocol = socket.local_endpoint(ec).protocol();
      int fd = socket.release(ec);
      if (ec) continue;
      Socket moved(*contexts_[i]);
      moved.assign(protocol, fd, ec);
      if (ec) {
        ::close(fd);
        if (!client.empty()) release_client(client);
        continue;
      }
      ++active_[i];
      asio::co_spawn(*contexts_[i], session(std::move(moved), i, std::move(client)),
                     asio::detached);
    }
  }

  template <class Socket>
  awaitable<void> session(Socket socket, size_t context_index, std::string client) {
    struct Count {
      AsioServer& server;
      std::atomic<int>& n;
      std::string client;
      ~Count() {
        if (!client.empty()) server.release_client(client);
        --n;
      }
    } count{*this, active_[context_index], client};
    beast::error_code ec;
    std::string remote = "unix";
    if constexpr (std::is_same_v<Socket, tcp::socket>) {
      auto peer = socket.remote_endpoint(ec);
      remote = ec ? "" : fmt::format("{}:{}", peer.address().to_string(), peer.port());
    }
    auto watchdog = std::make_shared<Watchdog>(*contexts_[context_index], limits_);
    struct Stop {
      Watchdog& w;
      ~Stop() {
        w.done = true;
        w.timer.cancel();
      }
    } stop{*watchdog};
    asio::co_spawn(*contexts_[context_index], watch(watchdog, limits_), asio::detached);
    Connection connection(handler_, *watchdog, takeovers_, limits_);
    if (!tls_ || !std::is_same_v<Socket, tcp::socket>) {
      watchdog->close = [&socket] {
        beast::error_code ignored;
        socket.close(ignored);
      };
      co_await connection.serve(socket, false, remote);
      if (socket.is_open()) socket.shutdown(asio::socket_base::shutdown_both, ec);
      co_return;
    }
    if constexpr (std::is_same_v<Socket, tcp::socket>)
      co_await tls_session(std::move(socket), *watchdog, connection, remote);
  }

  awaitable<void> tls_session(tcp::socket socket, Watchdog& watchdog, Connection& connection,
                              const std::string& remote) {
    beast::error_code ec;
    beast::ssl_stream<tcp::socket> stream(std::move(socket), *tls_);
    watchdog.close = [&stream] {
      beast::error_code ignored;
      stream.next_layer().close(ignored);
    };
    watchdog.deadline = Clock::now() + limits_.header;
    co_await stream.async_handshake(ssl::stream_base::server,
                                    asio::redirect_error(use_awaitable, ec));
    watchdog.deadline = Clock::time_point::max();
    if (ec) co_return;
    co_await connection.serve(stream, true, remote);
    co_await stream.async_shutdown(asio::redirect_error(use_awaitable, ec));
  }

  Handler& handler_;
  // What sessions use lives longer than the contexts: stop() leaves sessions suspended, and the
  // contexts destroy them, releasing their counts here. (Declared after the contexts, the
  // client map was gone by then: a double free when a server stopped with a connection open.)
  std::unique_ptr<std::atomic<int>[]> active_;  // open connections per context
  std::mutex clients_mutex_;
  std::map<std::string, size_t> clients_;  // open connections per client address
  Limits limits_;
  std::unique_ptr<ssl::context> tls_;
  std::atomic<int> takeovers_{0};  // takeover threads still running
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  size_t next_ = 0;
  tcp::acceptor acceptor_;
  local::acceptor local_acceptor_;
  std::string unix_path_;  // set once bound: removed again by the destructor
  bool local_ = false;     // listening on a unix socket (bound here or inherited)
  std::chrono::milliseconds idle_exit_{0};
  bool stop_on_signals_ = true;
};

}  // namespace

const std::string* ServerRequest::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}

std::optional<std::string> ServerRequest::query_value(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return v;
  return std::nullopt;
}

ServerResponse& ServerResponse::set(std::string name, std::string value) {
  for (auto& h : headers)
    if (iequals(h.name, name)) {
      h.value = std::move(value);
      return *this;
    }
  headers.push_back({std::move(name), std::move(value)});
  return *this;
}

std::unique_ptr<BodySink> collect_body(size_t limit,
                                       std::function<ServerResponse(std::string body)> done,
                                       std::function<ServerResponse()> too_large) {
  return std::make_unique<CollectSink>(limit, std::move(done), std::move(too_large));
}

Result<std::unique_ptr<Server>> Server::listen(const ServerOptions& options, Handler& handler) {
  if (options.header_timeout_ms <= 0 || options.idle_timeout_ms <= 0)
    return Error::make(ErrorKind::invalid_argument,
                       "header timeout ({} ms) and idle timeout ({} ms) must be positive",
                       options.header_timeout_ms, options.idle_timeout_ms);
  if (options.max_header_bytes < 1024 || options.max_header_bytes > (16u << 20))
    return Error::make(ErrorKind::invalid_argument,
                       "max header bytes {}: give a size from 1 KiB to 16 MiB",
                       options.max_header_bytes);
  Limits limits{std::chrono::milliseconds(options.idle_timeout_ms),
                std::chrono::milliseconds(options.header_timeout_ms),
                options.min_body_bytes_per_second, options.max_header_bytes,
                options.max_connections, options.max_connections_per_client};
  // The cap stays below the descriptor limit (less some for files, sockets and takeovers): at
  // the cap connections wait in the backlog instead of failing accept(2) with EMFILE.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    size_t room = files.rlim_cur > 128 ? static_cast<size_t>(files.rlim_cur) - 64 : 64;
    if (limits.max_connections == 0 || limits.max_connections > room) {
      log::debug(
          fmt::format("connection limit {} (the descriptor limit is {})", room, files.rlim_cur));
      limits.max_connections = room;
    }
  }
  auto server = std::make_unique<AsioServer>(handler, options.threads, limits);
  BERTH_TRY_VOID(server->open(options));
  return std::unique_ptr<Server>(std::move(server));
}

std::string_view status_reason(int status) {
  auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  return {reason.data(), reason.size()};
}

}  // namespace berth::http
