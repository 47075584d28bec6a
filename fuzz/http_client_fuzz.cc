// http_client: a registry's HTTP response as the client reads it (http/client.h over
// Boost.Beast): status line, headers, Content-Length, chunked bodies, early close, both into
// memory and streamed to a sink. A loopback peer thread answers each request with the input.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/unique_fd.h"
#include "fuzz_util.h"
#include "http/client.h"

namespace {

std::mutex mutex;
std::string reply;  // what the peer sends next
std::string url;

// The peer allocates nothing per connection: its strings keep their capacity. Its frees came
// after the input that made its mallocs had ended, and libFuzzer, seeing more mallocs than frees
// in an input, ran a leak check (a scan of the heap) for nearly every input.
void serve(int listener) {
  berth::fuzz::block_signals_in_this_thread();
  std::string head, out;
  head.reserve(1 << 20);
  out.reserve(1 << 20);
  for (;;) {
    berth::UniqueFd c(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (c.get() < 0) continue;
    timeval timeout{5, 0};
    ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(c.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    head.clear();
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos &&
           head.size() < head.capacity() - sizeof buffer) {
      ssize_t n = ::recv(c.get(), buffer, sizeof buffer, 0);
      if (n <= 0) break;
      head.append(buffer, static_cast<size_t>(n));
    }
    {
      std::lock_guard lock(mutex);
      out.assign(reply);  // within its capacity: inputs are at most 64 KiB
    }
    (void)::send(c.get(), out.data(), out.size(), MSG_NOSIGNAL);
    ::shutdown(c.get(), SHUT_WR);
    while (::recv(c.get(), buffer, sizeof buffer, 0) > 0) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::listen(listener, 16) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    berth::fuzz::violated("listen on loopback");
  reply.reserve(1 << 20);
  url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) +
        "/v2/library/busybox/manifests/latest";
  std::thread(serve, listener).detach();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  {
    std::lock_guard lock(mutex);
    reply.assign(reinterpret_cast<const char*>(data), size);
  }
  http::ClientOptions options;
  options.use_proxy_environment = false;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.io_timeout = std::chrono::milliseconds(2000);
  options.buffer_size = 4096;
  http::Client client(options);
  http::Request request;
  request.method = size & 1 ? "HEAD" : "GET";
  request.url = url;
  request.follow_redirects = false;  // a Location could name any host; http_url resolves them
  size_t streamed = 0;
  if (size & 2) {
    request.want_stream = [](const http::Response& r) { return r.status / 100 == 2; };
    request.sink = [&streamed](std::string_view piece) -> Result<void> {
      streamed += piece.size();
      return {};
    };
  }
  if (auto response = client.send(request)) {
    (void)response->headers.get("Content-Type");
    if (response->content_length >= 0 && !(size & 1) && response->body.size() + streamed > 0 &&
        response->body.size() + streamed != static_cast<size_t>(response->content_length))
      fuzz::violated("body length differs from Content-Length");
  }
  return 0;
}
