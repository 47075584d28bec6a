// http/client.h — an HTTP/1.1 client for registries: keep-alive connections (plain or TLS),
// bodies streamed straight from a file range or to a callback, redirects followed.
//
// Thread-safety: a Client and its connections belong to one thread at a time; run one Client per
// worker thread for parallel transfers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace berth::http {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // "registry.example", "127.0.0.1", "::1" (no brackets)
  std::string port;    // always set: "80"/"443" when the URL had none
  std::string target;  // path and query, "/v2/" when the URL had none

  // Absolute URLs only ("https://host[:port]/path?query"); errors name the URL.
  static Result<Url> parse(std::string_view text);
  // Resolves a Location header (absolute, or a path on this origin).
  Result<Url> resolve(std::string_view location) const;
  std::string authority() const;  // "host:port", the port left out when it is the default
  std::string origin() const;     // "scheme://authority"
  std::string str() const { return origin() + target; }
};

// Header fields in the order given; names compare case-insensitively.
class Headers {
 public:
  void add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
  void set(std::string_view name, std::string value);
  void remove(std::string_view name);
  std::optional<std::string> get(std::string_view name) const;
  std::vector<std::string> get_all(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// What a request sends: nothing, bytes in memory, or `length` bytes of `fd` from `offset`
// (sent with sendfile(2) on plain connections).
struct Body {
  std::string_view data;
  int fd = -1;
  int64_t offset = 0;
  int64_t length = 0;
  // Called now and then with the bytes of the file range sent so far.
  std::function<void(int64_t)> progress;
  int64_t size() const { return fd >= 0 ? length : static_cast<int64_t>(data.size()); }
};

struct Response {
  int status = 0;
  Headers headers;
  int64_t content_length = -1;  // -1 when the server sent none
  std::string body;             // empty when the body went to a sink
  Url url;                      // where it came from, after redirects
};

struct Request {
  std::string method = "GET";
  std::string url;
  Headers headers;
  Body body;
  // Set to stream the body: after the head arrives, `want_stream(response)` says whether this
  // response's body goes to `sink` (e.g. only for 2xx); otherwise it is read into body.
  std::function<bool(const Response&)> want_stream;
  std::function<Result<void>(std::string_view)> sink;
  bool follow_redirects = true;
};

struct ClientOptions {
  bool tls_verify = true;
  std::chrono::milliseconds connect_timeout{30'000};
  std::chrono::milliseconds io_timeout{120'000};  // per read or write, not per request
  size_t buffer_size = 1 << 20;
  // A body not given to a sink is kept in memory (manifests, tokens, error bodies): a server
  // sending more is an `io` error, not an allocation the machine cannot make.
  size_t max_body_in_memory = 64 << 20;
  // HTTP_PROXY, HTTPS_PROXY and NO_PROXY (http/proxy.h), read when the client is made.
  bool use_proxy_environment = true;
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  // Sends the request on a kept-alive connection to its origin (one is opened when needed; a
  // stale one is replaced and the request sent again). Errors: `unavailable` for connection
  // refused, timeouts and TLS failures (naming host:port, with a hint), `io` for broken
  // transfers; a sink's error is returned as it is. HTTP error statuses are not errors here.
  // Through a proxy: `failed_precondition` when it cannot be reached, `unauthenticated` for its
  // 407, `permission_denied` when it refuses a tunnel; a proxy URL that cannot be used is
  // `invalid_argument` or `unsupported`.
  // Authorization is dropped when a redirect leaves the origin.
  Result<Response> send(Request& request);
  // Closes every connection.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string base64_encode(std::string_view data);
// Accepts padded standard base64; invalid_argument otherwise.
Result<std::string> base64_decode(std::string_view text);

}  // namespace berth::http
