// One client connection in HTTP mode: parse each request's header (Beast's parser), pick a route
// and a backend, forward it over a pooled keep-alive connection, relay the response, and loop
// (keep-alive; pipelined requests wait in the buffer and are served in order). Also accepts
// connections and hands those of a TCP entrypoint to tcp_session.
#include <array>
#include <boost/beast/http/error.hpp>
#include <chrono>
#include <limits>

#include "base/clock.h"
#include "base/min_rate.h"
#include "proxy/detail/http_head.h"
#include "proxy/detail/session.h"

namespace berth::proxy::detail {

awaitable<void> serve_tcp_connection(Core& core, TcpSocket socket, std::string client_ip,
                                     FrontendStats& fe, std::shared_ptr<LiveTable> table,
                                     const Route* route);

namespace {

// The header part of `buf` with bare LFs made CRLF (crlf_header_lines in http_head.h).
bool crlf_header_lines(FlatBuffer& buf) {
  std::string fixed;
  const bool complete = detail::crlf_header_lines(buf.view(), fixed);
  if (fixed.empty()) return complete;
  buf.clear();
  const auto room = buf.prepare(fixed.size());
  std::memcpy(room.data(), fixed.data(), fixed.size());
  buf.commit(fixed.size());
  return complete;
}

bool idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" || m == "DELETE" || m == "TRACE";
}

std::string_view reason_for(int code) {
  switch (code) {
    case 301:
      return "Moved Permanently";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string error_page(int code, std::string_view detail) {
  return fmt::format(
      "<!DOCTYPE html>\n<html><head><title>{0} {1}</title></head>\n<body><h1>{0} {1}</h1>\n"
      "<p>{2}</p>\n<hr><p>berth proxy</p></body></html>\n",
      code, reason_for(code), html_escape(detail));
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += c;
    }
  }
  return out;
}

enum class Phase { none, idle, header, connect, response, body };

// How long a plain keep-alive connection waits for its next request in its coroutine before it
// parks (HttpSession::park): quiet connections cost a session, busy ones no respawn per request.
constexpr int64_t kParkAfterMs = 25;

template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  // `client_ip` was claimed (Core::claim_client) for this session, which releases it.
  HttpSession(Core& core, Stream stream, std::string client_ip, FrontendStats& fe, bool tls)
      : core_(core),
        stream_(std::move(stream)),
        fe_(fe),
        tls_(tls),
        client_ip_(std::move(client_ip)) {
    deadline_.fire = [this] { expire(); };
  }
  ~HttpSession() {
    core_.disarm(deadline_);
    fe_.current--;
    core_.release_client(client_ip_);
  }

  awaitable<void> run(std::shared_ptr<HttpSession> self);

 private:
  awaitable<bool> serve_request();
  void park(std::shared_ptr<HttpSession> self);
  void expire() {
    expired_ = phase_;
    error_code ignored;
    raw_socket(stream_).cancel(ignored);
    if (x_ && x_->backend) x_->backend->socket.cancel(ignored);
  }
  void set_phase(Phase p, int ms) {
    phase_ = p;
    expired_ = Phase::none;
    core_.arm(deadline_, ms);
  }
  awaitable<void> reply(int code, std::string_view detail, bool close, std::string_view extra = {});
  void release_buffers() {
    in_.release();
    bin_.release();
  }
  awaitable<bool> forward(Parser<true>& p, LiveTable& table, LiveRoute& route);
  void log(int code, const LiveRoute* route, const BackendState* backend, uint64_t bytes);

  Core& core_;
  Stream stream_;
  FrontendStats& fe_;
  bool tls_;
  std::string client_ip_;
  FlatBuffer in_;
  FlatBuffer bin_;
  // What serving requests takes beside the buffers, made for a connection's first request and
  // kept while it stays busy: a parked connection holds none of it.
  struct Exchange {
    std::vector<Field> fields, rfields;
    std::string out, resp, head;
    std::unique_ptr<BackendConn> backend;
    std::vector<BackendState*> tried;
    size_t header_len = 0;
    // The request being served (for logs and stats).
    std::string_view method, target, host;
    std::chrono::steady_clock::time_point started;
  };
  std::unique_ptr<Exchange> x_;
  Deadline deadline_;
  Phase phase_ = Phase::none;
  Phase expired_ = Phase::none;
  bool keep_alive_ = true;
  bool readable_ = false;  // run() saw bytes waiting: serve_request reads without waiting again
};

template <class Stream>
void HttpSession<Stream>::log(int code, const LiveRoute* route, const BackendState* backend,
                              uint64_t bytes) {
  fe_.counters.count_status(code);
  if (core_.options.access_log.empty()) return;
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - x_->started)
                          .count();
  const std::string_view service = route ? std::string_view(route->route->service) : "-";
  const std::string_view bname = backend ? std::string_view(backend->name) : "-";
  if (core_.options.access_log_json) {
    core_.access_log(fmt::format(
        R"({{"time":"{}","client":"{}","frontend":"{}","method":"{}","target":"{}","host":"{}","status":{},"bytes":{},"duration_ms":{:.3f},"service":"{}","backend":"{}"}})",
        clock::rfc3339_now(), client_ip_, json_escape(fe_.name), json_escape(x_->method),
        json_escape(x_->target), json_escape(x_->host), code, bytes, static_cast<double>(micros) / 1000,
        json_escape(service), json_escape(bname)));
  } else {
    core_.access_log(fmt::format("{} {} {} \"{} {}\" host={} {} {} {:.3f}ms {} {}",
                                 clock::rfc3339_now(), client_ip_, fe_.name, x_->method, x_->target,
                                 x_->host.empty() ? "-" : x_->host, code, bytes,
                                 static_cast<double>(micros) / 1000, service, bname));
  }
}

template <class Stream>
awaitable<void> HttpSession<Stream>::reply(int code, std::string_view detail, bool close,
                                           std::string_view extra) {
  if (close) keep_alive_ = false;
  const std::string body = code == 301 ? std::string() : error_page(code, detail);
  const std::string msg = simple_response(code, reason_for(code), body, !keep_alive_, extra);
  error_code ec;
  core_.disarm(deadline_);
  co_await write_all(stream_, msg, ec);
  if (ec) keep_alive_ = false;
}

template <class Stream>
awaitable<void> HttpSession<Stream>::run(std::shared_ptr<HttpSession> self) {
  if constexpr (!std::is_same_v<Stream, TcpSocket>) {
    error_code ec;
    set_phase(Phase::header, core_.options.header_timeout_ms);
    co_await stream_.async_handshake(asio::ssl::stream_base::server, with(ec));
    core_.disarm(deadline_);
    if (ec) co_return;
  }
  bool more = true, park_now = false;
  while (more) {
    if constexpr (std::is_same_v<Stream, TcpSocket>) {
      if (in_.empty() && !readable_) {
        // A busy client's next request comes within microseconds: wait for it here, as
        // respawning the coroutine for each would cost every request. One quiet for
        // kParkAfterMs parks instead (below); closed or past the idle timeout, it ends.
        // A connection that was just served keeps its buffers through that window and reads
        // (asio re-arms epoll, a system call, for each wait for readability but not for a
        // read); a new one gets no buffer before its first bytes.
        const int64_t idle = core_.options.idle_timeout_ms;
        set_phase(Phase::idle, std::min(kParkAfterMs, idle));
        error_code ec;
        if (in_.has_memory()) {
          in_.commit(co_await stream_.async_read_some(in_.prepare(), with(ec)));
        } else {
          co_await stream_.async_wait(TcpSocket::wait_read, with(ec));
          readable_ = !ec;
        }
        if (ec) {
          park_now = expired_ == Phase::idle && kParkAfterMs < idle && raw_socket(stream_).is_open();
          break;
        }
      }
    }
    more = co_await serve_request() && keep_alive_;
  }
  if (park_now) park(std::move(self));
}

// A plain session quiet for kParkAfterMs keeps no coroutine, no buffer and no request state: only
// the session object and a wait for bytes, whose handler starts run() again. Idle keep-alive
// connections are most of a busy proxy's connections, and they cost less than HAProxy's.
template <class Stream>
void HttpSession<Stream>::park(std::shared_ptr<HttpSession> self) {
  set_phase(Phase::idle, core_.options.idle_timeout_ms);
  release_buffers();
  x_.reset();
  raw_socket(stream_).async_wait(
      TcpSocket::wait_read, [self = std::move(self)](const error_code& ec) mutable {
        // An error is the client closing or the idle deadline cancelling the wait: nothing was
        // sent, so nothing is answered, and releasing `self` ends the session.
        if (ec) return;
        HttpSession& session = *self;
        session.readable_ = true;
        asio::co_spawn(session.stream_.get_executor(), session.run(std::move(self)),
                       asio::detached);
      });
}

// Reads one request and answers it, itself or through a backend. False when the connection
// must end.
template <class Stream>
awaitable<bool> HttpSession<Stream>::serve_request() {
  error_code ec;
  if (!x_) x_ = std::make_unique<Exchange>();
  {
    Parser<true> p;
    p.header_limit(core_.options.max_header_bytes);
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    p.max_chunk_head = core_.options.max_header_bytes;
    p.eager(false);
    x_->fields.clear();
    x_->out.clear();
    p.fields = &x_->fields;
    p.body_out = &x_->out;
    bool header_armed = false;
    int bad = 0;
    for (;;) {
      // The parser gets the header once it is all there (or too long): given a part, Beast
      // consumes the request line and wants the rest without it, and the fields are views.
      // (feed_header in http_head.h; fuzz/proxy_feed_fuzz.cc drives it as this loop does.)
      if (!in_.empty()) {
        // Empty lines before the request line are ignored (RFC 9112 §2.2; some clients send a
        // CRLF after a POST body): Beast would take them for a broken request.
        const HeaderStep step = feed_header(p, in_.view(), core_.options.max_header_bytes);
        in_.consume(step.skip);
        bad = step.refuse;
        if (bad) break;
        if (step.header_len) {
          // Views point into in_: consumed only after the request is built (below).
          x_->header_len = step.header_len;
          break;
        }
      }
      if (!header_armed) {
        if (in_.empty()) {
          set_phase(Phase::idle, core_.options.idle_timeout_ms);
        } else {
          set_phase(Phase::header, core_.options.header_timeout_ms);
          header_armed = true;
        }
      }
      if constexpr (std::is_same_v<Stream, TcpSocket>) {
        // Wait for bytes before reading: a connection that sends nothing never gets a buffer,
        // and one that went idle between requests (keep-alive) gives its buffers back.
        if (in_.empty() && !readable_) {
          release_buffers();
          co_await stream_.async_wait(TcpSocket::wait_read, with(ec));
        }
        readable_ = false;
      }
      if (!ec) in_.commit(co_await stream_.async_read_some(in_.prepare(), with(ec)));
      if (ec) {
        if (expired_ == Phase::header || (expired_ == Phase::idle && !in_.empty())) {
          x_->started = std::chrono::steady_clock::now();
          x_->method = x_->target = x_->host = {};
          co_await reply(408, "The request header did not arrive in time.", true);
          log(408, nullptr, nullptr, 0);
        }
        co_return false;
      }
      if (!header_armed && !in_.empty()) {
        set_phase(Phase::header, core_.options.header_timeout_ms);
        header_armed = true;
      }
    }
    core_.disarm(deadline_);
    x_->started = std::chrono::steady_clock::now();
    x_->method = x_->target = x_->host = {};
    if (bad) {
      const std::string reply_detail =
          bad == 431 ? fmt::format("The request header is larger than {} bytes.",
                                   core_.options.max_header_bytes)
                     : std::string("The request could not be parsed as HTTP/1.1.");
      co_await reply(bad, reply_detail, true);
      log(bad, nullptr, nullptr, 0);
      co_return false;
    }
    fe_.counters.requests++;
    keep_alive_ = p.keep_alive();
    x_->method = p.method;
    x_->target = p.target;
    std::string_view path = p.target;
    if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
    std::vector<std::pair<std::string_view, std::string_view>> headers;
    auto table = core_.table;
    const bool want_headers = table->matcher->needs_headers();
    for (const auto& f : x_->fields) {
      if (f.id == http::field::host) x_->host = f.value;
      if (want_headers) headers.emplace_back(f.name, f.value);
    }
    // Before routing: a request without a Host, or with two, is a 400 whatever its route.
    if (std::string error = host_error(p, x_->fields); !error.empty()) {
      co_await reply(400, error, true);
      log(400, nullptr, nullptr, 0);
      co_return false;
    }
    bool has_body = p.chunked() || (p.content_length() && *p.content_length() > 0);
    // Before routing too: one address over --rate-limit-per-client is refused whatever it asks.
    if (!core_.rate_limit.allow(client_ip_, now_ms())) {
      const std::string reply_detail = fmt::format(
          "More than {} requests a second came from this address.", core_.rate_limit.per_second());
      co_await reply(429, reply_detail, has_body, "Retry-After: 1\r\n");
      log(429, nullptr, nullptr, 0);
      in_.consume(x_->header_len);
      co_return keep_alive_;
    }
    RequestView view{fe_.name, tls_, x_->host, path, p.method, headers};
    const Route* route = table->matcher->match(view);
    bool handled = false;
    if (route == nullptr) {
      const std::string reply_detail =
          fmt::format("No route for host '{}' and path '{}'.", x_->host, path);
      co_await reply(404, reply_detail, has_body);
      log(404, nullptr, nullptr, 0);
      handled = true;
    } else if (route->redirect_https && !tls_) {
      std::string host(x_->host);
      if (const auto colon = host.rfind(':');
          colon != std::string::npos && host.find(']') == std::string::npos) {
        host.resize(colon);
      }
      const std::string reply_extra = fmt::format("Location: https://{}{}\r\n", host, x_->target);
      co_await reply(301, "", has_body, reply_extra);
      log(301, table->live(route), nullptr, 0);
      handled = true;
    } else if (core_.options.max_body_bytes > 0 && p.content_length() &&
               *p.content_length() > core_.options.max_body_bytes) {
      const std::string reply_detail =
          fmt::format("The request body is larger than {} bytes.", core_.options.max_body_bytes);
      co_await reply(413, reply_detail, true);
      log(413, table->live(route), nullptr, 0);
      co_return false;
    }
    if (handled) {
      // The header's bytes are consumed; a body we did not read ends the connection (reply
      // said close).
      in_.consume(x_->header_len);
      if (!keep_alive_) co_return false;
      co_return true;
    }
    LiveRoute& live = *table->live(route);
    co_return co_await forward(p, *table, live);
  }
}

// Builds the request for the backend, sends it (with retries) and relays the response. False
// when the client connection must end.
template <class Stream>
awaitable<bool> HttpSession<Stream>::forward(Parser<true>& p, LiveTable& table, LiveRoute& live) {
  const Route& route = *live.route;
  const ServeOptions& opt = core_.options;
  error_code ec;
  // --- the request header ---
  std::string& head = x_->head;  // its memory serves each request of the connection
  const BackendHead bh = backend_request_head(p, x_->fields, x_->host, client_ip_, tls_,
                                              route.sticky_cookie, head);
  if (!bh.error.empty()) {
    co_await reply(400, bh.error, true);
    log(400, &live, nullptr, 0);
    co_return false;
  }
  const bool expect_continue = bh.expect_continue;
  const bool is_upgrade = bh.upgrade;
  const std::string& sticky_in = bh.cookie;
  // Header views die here: the header's bytes leave the buffer.
  const std::string method(p.method);
  const std::string target(p.target);
  const std::string host(x_->host);
  in_.consume(x_->header_len);
  x_->method = method;
  x_->target = target;
  x_->host = host;
  x_->fields.clear();
  // --- the body already in the buffer ---
  x_->out.clear();
  p.rechunk = p.chunked();
  p.eager(true);
  if (!p.is_done() && !in_.empty()) {
    const size_t n = feed_body(p, in_.view(), ec);
    if (ec) {
      // A named string, not a temporary in the co_await (GCC frees one made in a ?: twice).
      const std::string reply_detail =
          ec == http::error::header_limit
              ? fmt::format("A chunk-size line or the trailers are larger than {} bytes.",
                            core_.options.max_header_bytes)
              : std::string("The request body could not be parsed.");
      co_await reply(400, reply_detail, true);
      log(400, &live, nullptr, 0);
      co_return false;
    }
    in_.consume(n);
  }
  const bool body_complete = p.is_done();
  const bool retryable = body_complete && idempotent(method) && !is_upgrade;
  x_->tried.clear();
  std::shared_ptr<BackendState> backend;
  bool sent_continue = false;
  int attempts = 0;
  bool connect_failures = false;
  bool fresh_connection = false;  // a pooled connection failed: the retry connects anew
  for (;;) {
    backend = core_.pick(live, sticky_in, x_->tried);
    if (!backend) {
      if (connect_failures || x_->tried.empty()) {
        live.stats->no_backend++;
        live.stats->counters.count_status(503);
        const std::string reply_detail =
            fmt::format("No instance of service '{}' is available right now.", route.service);
        co_await reply(503, reply_detail, !body_complete);
        log(503, &live, nullptr, 0);
        co_return keep_alive_;
      }
      const std::string reply_detail = fmt::format(
          "The backend of service '{}' closed the connection before "
          "answering.",
          route.service);
      co_await reply(502, reply_detail, true);
      log(502, &live, nullptr, 0);
      co_return false;
    }
    x_->tried.push_back(backend.get());
    // In flight from the pick, not from the connect: a drain that comes while this connects
    // waits for it rather than letting the instance stop under a request about to be sent.
    backend->begin();
    ++attempts;
    if (attempts > 1) {
      backend->counters.retries++;
      live.stats->counters.retries++;
    }
    bool reused = false;
    // A request that may be sent again takes a pooled connection on trust (see take_idle).
    if (!fresh_connection) x_->backend = core_.take_idle(*backend, retryable && attempts <= opt.retries);
    if (x_->backend) {
      reused = true;
    } else {
      x_->backend = std::make_unique<BackendConn>(core_.io.get_executor());
      x_->backend->backend = backend;
      set_phase(Phase::connect, opt.connect_timeout_ms);
      co_await x_->backend->socket.async_connect(backend->endpoint, with(ec));
      core_.disarm(deadline_);
      if (ec) {
        backend->end();
        backend->counters.connect_errors++;
        core_.mark_failed(*backend, expired_ == Phase::connect
                                        ? std::string("connect timed out")
                                        : fmt::format("connect: {}", ec.message()));
        x_->backend.reset();
        connect_failures = true;
        if (attempts <= opt.retries) continue;
        live.stats->no_backend++;
        const std::string reply_detail =
            fmt::format("No instance of service '{}' could be reached.", route.service);
        co_await reply(503, reply_detail, !body_complete);
        log(503, &live, nullptr, 0);
        co_return keep_alive_;
      }
      x_->backend->socket.set_option(tcp::no_delay(true), ec);
      ec = {};
    }
    backend->counters.requests++;
    live.stats->counters.requests++;
    // --- send: header and the body so far; then the rest of the body, streamed ---
    if (expect_continue && !body_complete && !sent_continue) {
      sent_continue = true;
      co_await write_all(stream_, "HTTP/1.1 100 Continue\r\n\r\n", ec);
      if (ec) {
        backend->end();
        x_->backend.reset();
        co_return false;
      }
    }
    x_->resp.clear();
    std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(x_->out)};
    set_phase(Phase::response, opt.response_timeout_ms);
    co_await asio::async_write(x_->backend->socket, bufs, with(ec));
    uint64_t sent_body = x_->out.size();
    if (!ec && !body_complete) {
      // Stream the rest of the request body as it arrives (not retryable any more). It must keep
      // --min-body-rate over each window of the header timeout, checked as each read ends: the
      // idle timeout alone lets a byte a minute hold this connection and the backend's for ever.
      MinimumRate body_rate(opt.min_body_rate, std::chrono::milliseconds(opt.header_timeout_ms));
      body_rate.start(std::chrono::steady_clock::now());
      bool too_slow = false;
      while (!p.is_done()) {
        x_->out.clear();
        set_phase(Phase::body, opt.idle_timeout_ms);
        in_.commit(co_await stream_.async_read_some(in_.prepare(), with(ec)));
        if (ec) break;
        const uint64_t before = p.body_bytes;
        const size_t n = feed_body(p, in_.view(), ec);
        if (ec) break;
        in_.consume(n);
        if (opt.max_body_bytes > 0 && p.body_bytes > opt.max_body_bytes) {
          ec = http::error::body_limit;
          break;
        }
        // Decoded bytes: chunk framing alone does not keep a connection.
        body_rate.add(p.body_bytes - before);
        if (body_rate.too_slow(std::chrono::steady_clock::now())) {
          too_slow = true;
          break;
        }
        set_phase(Phase::response, opt.response_timeout_ms);
        const auto write_began = std::chrono::steady_clock::now();
        co_await write_all(x_->backend->socket, x_->out, ec);
        body_rate.exclude(std::chrono::steady_clock::now() - write_began);  // a slow backend's time
        sent_body += x_->out.size();
        if (ec) break;
      }
      if (ec || too_slow) {
        // The client went away, sent a broken body or too slow a one (the backend has part of
        // it: its connection is dropped).
        const bool client_side = !p.is_done();
        backend->end();
        x_->backend.reset();
        if (client_side) {
          int code = 400;
          if (ec == http::error::body_limit) {
            code = 413;
            const std::string reply_detail =
                fmt::format("The request body is larger than {} bytes.", opt.max_body_bytes);
            co_await reply(413, reply_detail, true);
          } else if (too_slow || expired_ == Phase::body) {
            code = 408;
            const std::string reply_detail = fmt::format(
                "The request body arrived too slowly (under {} bytes a second), or stopped.",
                opt.min_body_rate);
            co_await reply(408, reply_detail, true);
          }
          log(code, &live, backend.get(), 0);
          co_return false;
        }
      }
      set_phase(Phase::response, opt.response_timeout_ms);
    }
    // --- the response header ---
    std::optional<Parser<false>> rp;
    auto fresh_parser = [&] {
      rp.emplace();
      rp->header_limit(64 * 1024);
      rp->max_chunk_head = 64 * 1024;  // a backend is a container: it may send a line for ever
      rp->body_limit(std::numeric_limits<std::uint64_t>::max());
      rp->eager(false);
      if (method == "HEAD") rp->skip(true);
      x_->rfields.clear();
      rp->fields = &x_->rfields;
      rp->body_out = &x_->resp;
    };
    fresh_parser();
    bin_.clear();
    bool got_header = false;
    bool got_any = false;
    size_t rheader_len = 0;
    while (!ec) {
      // The parser gets the header once it is all there: given a part, Beast consumes the status
      // line and wants the rest without it (and the fields are views into bin_).
      if (!bin_.empty()) got_any = true;
      if (!bin_.empty() && (crlf_header_lines(bin_) || bin_.size() > 64 * 1024)) {
        rheader_len = rp->put(asio::buffer(bin_.begin(), bin_.size()), ec);
        if (ec == http::error::need_more) {
          ec = {};
        } else if (ec) {
          break;
        } else if (rp->is_header_done()) {
          if (rp->status >= 100 && rp->status < 200 && rp->status != 101) {
            // Interim responses (we answered 100 Continue ourselves): dropped.
            bin_.consume(rheader_len);
            fresh_parser();
            continue;
          }
          got_header = true;
          break;
        }
      }
      bin_.commit(co_await x_->backend->socket.async_read_some(bin_.prepare(), with(ec)));
    }
    if (!got_header) {
      const bool timed_out = expired_ == Phase::response;
      backend->last_error = fmt::format("no response: {}{}", ec.message(),
                                        got_any ? " (after a partial header)" : "");
      core_.disarm(deadline_);
      backend->end();
      x_->backend.reset();
      backend->counters.response_errors++;
      if (!timed_out && !got_any && !reused) {
        core_.mark_failed(*backend, fmt::format("closed before answering: {}", ec.message()));
      }
      // Safe to send again: an idempotent request, or one on a pooled connection the backend
      // had closed before it could have read anything.
      const bool again = retryable || (reused && body_complete && idempotent(method));
      if (!timed_out && !got_any && again && attempts <= opt.retries) {
        // A pooled connection the backend had closed says nothing about the instance: it may
        // be picked again (the only one, often), on a new connection.
        if (reused) {
          x_->tried.pop_back();
          fresh_connection = true;
        }
        continue;
      }
      const int code = timed_out ? 504 : 502;
      live.stats->counters.count_status(code);
      backend->counters.count_status(code);
      const std::string reply_detail =
          timed_out ? fmt::format("Service '{}' did not answer in time.", route.service)
                    : fmt::format(
                          "The backend of service '{}' closed the connection "
                          "before answering.",
                          route.service);
      co_await reply(code, reply_detail, true);
      log(code, &live, backend.get(), 0);
      co_return false;
    }
    // --- relay the response ---
    const int status = rp->status;
    const bool until_close = status != 101 && !rp->chunked() && !rp->content_length() &&
                             !rp->is_done() && rp->need_eof();
    // A body that ends when the backend closes: an HTTP/1.1 client keeps its connection and
    // gets the body as chunks; an HTTP/1.0 one (no chunks) gets it as is, then the close.
    const bool chunk_until_eof = until_close && keep_alive_ && p.version >= 11;
    if (until_close && !chunk_until_eof) keep_alive_ = false;
    x_->resp.clear();
    std::string set_cookie;
    if (!route.sticky_cookie.empty() && status != 101) {
      const std::string value = sticky_value(backend->id);
      if (value != sticky_in) set_cookie = route.sticky_cookie + "=" + value;
    }
    client_response_head(*rp, x_->rfields, rp->chunked() || chunk_until_eof, keep_alive_,
                         set_cookie, x_->resp);
    bin_.consume(rheader_len);
    x_->rfields.clear();
    const size_t head_size = x_->resp.size();
    if (status == 101) {
      core_.disarm(deadline_);
      co_await write_all(stream_, x_->resp, ec);
      backend->counters.count_status(101);
      live.stats->counters.count_status(101);
      log(101, &live, backend.get(), 0);
      if (!ec) {
        uint64_t up = 0, down = 0;
        co_await tunnel(core_, stream_, x_->backend->socket, in_, bin_, opt.tunnel_timeout_ms, up,
                        down);
        backend->counters.bytes_in += up;
        backend->counters.bytes_out += down;
      }
      backend->end();
      x_->backend.reset();
      co_return false;
    }
    rp->rechunk = rp->chunked();
    rp->chunk_until_eof = chunk_until_eof;
    rp->eager(true);
    uint64_t written = 0;
    bool broken = false;
    while (!rp->is_done()) {
      if (!bin_.empty()) {
        const size_t n = rp->put(asio::buffer(bin_.begin(), bin_.size()), ec);
        if (ec == http::error::need_more) ec = {};
        if (ec) {
          broken = true;
          break;
        }
        bin_.consume(n);
        if (rp->is_done()) break;
        if (rp->chunk_head_check(bin_.view())) {
          broken = true;
          break;
        }
      }
      if (x_->resp.size() > head_size || written > 0 || x_->resp.size() >= 65536) {
        core_.disarm(deadline_);
        co_await write_all(stream_, x_->resp, ec);
        written += x_->resp.size();
        x_->resp.clear();
        if (ec) {
          broken = true;
          break;
        }
      }
      set_phase(Phase::response, opt.response_timeout_ms);
      bin_.commit(co_await x_->backend->socket.async_read_some(bin_.prepare(), with(ec)));
      if (ec == asio::error::eof && rp->need_eof()) {
        ec = {};
        rp->put_eof(ec);
        break;
      }
      if (ec) {
        broken = true;
        break;
      }
    }
    core_.disarm(deadline_);
    if (!broken && !x_->resp.empty()) {
      co_await write_all(stream_, x_->resp, ec);
      written += x_->resp.size();
      if (ec) broken = true;
    }
    x_->resp.clear();
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - x_->started)
                            .count();
    backend->counters.count_status(status);
    live.stats->counters.count_status(status);
    backend->counters.bytes_out += written;
    backend->counters.bytes_in += sent_body + head.size();
    backend->times.add(micros);
    live.stats->times.add(micros);
    if (!broken && rp->keep_alive() && bin_.empty()) {
      core_.give_back(std::move(x_->backend));
    }
    x_->backend.reset();
    backend->end();
    log(status, &live, backend.get(), written);
    if (broken) keep_alive_ = false;
    co_return keep_alive_;
  }
}

// A connection over its client's share: a 503 on plain listeners, then closed (what the client
// sent already is read first, so the close does not reset the connection before the answer).
void refuse_connection(TcpSocket& socket, bool tls) {
  error_code ec;
  if (!tls) {
    const std::string busy =
        simple_response(503, "Service Unavailable", "Too many connections from this address.\n",
                        true, "Retry-After: 1\r\n");
    socket.non_blocking(true, ec);
    socket.write_some(asio::buffer(busy), ec);
    socket.shutdown(TcpSocket::shutdown_send, ec);
  }
  std::array<char, 4096> scratch;
  while (socket.available(ec) > 0 && !ec) socket.read_some(asio::buffer(scratch), ec);
  socket.close(ec);
}

awaitable<void> accept_loop(Core& core, TcpAcceptor& acceptor, FrontendStats& fe, bool tls) {
  for (;;) {
    error_code ec;
    // At the connection limit, new connections wait in the listen backlog until others close.
    while (core.options.max_connections && core.open_connections >= core.options.max_connections) {
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(20));
      co_await pause.async_wait(with(ec));
    }
    TcpSocket socket = co_await acceptor.async_accept(with(ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // EMFILE and friends: back off a little instead of spinning.
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(20));
      co_await pause.async_wait(with(ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    const auto peer = socket.remote_endpoint(ec);
    std::string client_ip = ec ? std::string() : peer.address().to_string();
    if (!core.claim_client(client_ip)) {
      refuse_connection(socket, tls);
      continue;
    }
    fe.connections++;
    core.total_connections++;
    if (++fe.current > fe.max_current) fe.max_current = fe.current;
    auto table = core.table;
    if (const Route* tcp_route = table->matcher->match_tcp(fe.name); tcp_route && !tls) {
      asio::co_spawn(
          acceptor.get_executor(),
          serve_tcp_connection(core, std::move(socket), std::move(client_ip), fe, table, tcp_route),
          asio::detached);
      continue;
    }
    if (tls) {
      using TlsStream = asio::ssl::stream<TcpSocket>;
      auto session = std::make_shared<HttpSession<TlsStream>>(
          core, TlsStream(std::move(socket), *core.default_tls), std::move(client_ip), fe, true);
      asio::co_spawn(acceptor.get_executor(), session->run(session), asio::detached);
    } else {
      auto session = std::make_shared<HttpSession<TcpSocket>>(core, std::move(socket),
                                                                std::move(client_ip), fe, false);
      asio::co_spawn(acceptor.get_executor(), session->run(session), asio::detached);
    }
  }
}

}  // namespace

void start_http_listener(Core& core, TcpAcceptor& acceptor, FrontendStats& stats, bool tls) {
  asio::co_spawn(core.io, accept_loop(core, acceptor, stats, tls), asio::detached);
}

std::string simple_response(int code, std::string_view reason, std::string_view body, bool close,
                            std::string_view extra_headers) {
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n"
      "Cache-Control: no-store\r\n{}{}\r\n{}",
      code, reason, body.size(), extra_headers, close ? "Connection: close\r\n" : "", body);
}

}  // namespace berth::proxy::detail
