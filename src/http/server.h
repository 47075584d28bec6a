// http/server.h — an HTTP/1.1 server (Boost.Beast parsing, OpenSSL TLS) that hands each request
// to a Handler and streams request bodies into a BodySink, so large uploads never sit in memory.
//
// Threads: `threads` Asio io_contexts (default 2: the machine's cores), each run by one thread; a
// new connection goes to the context with the fewest open connections and stays there. Each
// connection is one coroutine, so its requests are handled one after another, but connections on
// different threads call the Handler at the same time: the Handler must be thread-safe. A
// handler's blocking work (fsync) holds up only the connections of its thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace berth::http {

struct HeaderField {
  std::string name;  // as sent; compare case-insensitively
  std::string value;
};

struct ServerRequest {
  std::string method;  // "GET"
  std::string target;  // as sent: "/v2/a/tags/list?n=2"
  std::string path;    // target without the query, percent-decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::vector<HeaderField> headers;
  std::optional<uint64_t> content_length;  // absent for chunked bodies
  bool has_body = false;                   // Content-Length > 0 or chunked
  bool tls = false;
  std::string remote;  // "127.0.0.1:41234"

  // The first header of that name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
  // The first query parameter of that name.
  std::optional<std::string> query_value(std::string_view name) const;
};

struct ServerResponse {
  int status = 200;
  std::vector<HeaderField> headers;
  std::string body;
  // A region of a file to send instead of `body` (sendfile on plain TCP).
  UniqueFd file;
  uint64_t file_offset = 0;
  uint64_t file_length = 0;
  // Send the head only (HEAD requests), with Content-Length of what GET would send.
  bool head_only = false;
  // When set, nothing above is sent: the server hands the connection's socket (blocking, plain
  // connections only) to this function on a thread of its own, which writes the whole response
  // and closes it. For streams that outlive a handler call: followed logs, hijacked connections
  // (Docker's attach), long waits. Over TLS the client gets a 501 instead.
  std::function<void(UniqueFd socket)> takeover;

  ServerResponse& set(std::string name, std::string value);
};

// Receives a request body as it arrives, then produces the response.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // Called for each piece of the body, in order. An error stops reading; finish gets it.
  virtual Result<void> write(const char* data, size_t size) = 0;
  // Called once: `outcome` is ok after the last byte, the write's error when a write failed, or
  // an `unavailable` error when the peer went away (the response is then not sent).
  virtual ServerResponse finish(Result<void> outcome) = 0;
};

// What a handler decides from a request's head: a response now, or a sink for the body.
struct Dispatch {
  ServerResponse response;
  std::unique_ptr<BodySink> sink;  // when set, the body streams into it and it answers
};

class Handler {
 public:
  virtual ~Handler() = default;
  virtual Dispatch handle(const ServerRequest& request) = 0;
};

// A sink that keeps a body of at most `limit` bytes in memory and calls `done` with it; a longer
// body is refused with `too_large` (413).
std::unique_ptr<BodySink> collect_body(size_t limit,
                                       std::function<ServerResponse(std::string body)> done,
                                       std::function<ServerResponse()> too_large);

struct ServerOptions {
  std::string address = "127.0.0.1:5000";  // host:port; port 0 picks a free one
  // When set, listen on this unix socket path instead of `address` (a stale socket file there is
  // replaced; the socket is made 0660).
  std::string unix_socket;
  // When >= 0, a listening unix socket to take over instead (systemd socket activation): not
  // removed at exit, its owner made it.
  int listen_fd = -1;
  std::string tls_cert;  // PEM files; both set → HTTPS only
  std::string tls_key;
  int threads = 2;
  // A connection with no byte read or written for this long is closed (idle keep-alive, or a
  // client stalled mid-request; an upload it left stays resumable).
  int64_t idle_timeout_ms = 300'000;
  // Once a request's first byte has arrived, its head (request line and headers) must be complete
  // within this, or the connection is closed: a client trickling a header a byte at a time
  // (slowloris) does not hold a connection for ever. Also bounds a TLS handshake.
  int64_t header_timeout_ms = 30'000;
  // While a request body arrives, each window of header_timeout_ms must bring at least this many
  // bytes per second, or the connection is closed: a client dripping an upload a byte at a time,
  // just often enough to beat the idle timeout, does not hold a connection for ever. 0: no floor.
  uint64_t min_body_bytes_per_second = 256;
  // A longer request head is answered 431 and the connection closed.
  size_t max_header_bytes = 64 * 1024;
  // Open connections at most; more wait in the listen backlog until one closes (queued, then
  // served). 0: no limit. Never more than the descriptor limit (RLIMIT_NOFILE) less 64.
  size_t max_connections = 1024;
  // Open connections from one client IP address at most; more are answered 503 and closed, so
  // one client cannot take every slot. 0: no limit. Not applied to a unix socket.
  size_t max_connections_per_client = 128;
  // When > 0, run() returns once no connection and no takeover has been open for this long.
  int64_t idle_exit_ms = 0;
  // SIGINT and SIGTERM stop the server (run() takes them over). Off for a server embedded in a
  // process that handles them itself: the fuzz target, whose SIGINT must reach libFuzzer.
  bool stop_on_signals = true;
};

class Server {
 public:
  // Binds the address (and loads the certificate). The handler must outlive the server.
  static Result<std::unique_ptr<Server>> listen(const ServerOptions& options, Handler& handler);
  virtual ~Server() = default;
  // The bound address, with the port chosen when 0 was asked for: "127.0.0.1:37125"; the path
  // of a unix socket.
  virtual std::string address() const = 0;
  // Serves until SIGINT or SIGTERM (with stop_on_signals) or stop(); returns after in-flight
  // handlers have returned.
  virtual Result<void> run() = 0;
  virtual void stop() = 0;
};

// The reason phrase of a status ("Not Found").
std::string_view status_reason(int status);

}  // namespace berth::http
