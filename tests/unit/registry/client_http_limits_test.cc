// http::Client against a loopback peer that sends more than it should: bodies kept in memory,
// chunk-size lines and a Content-Length no machine can hold are errors, not allocations.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>

#include "base/unique_fd.h"
#include "http/client.h"

namespace berth::http {
namespace {

// One connection: reads the request head, then `answer` writes what it likes (a send that fails
// because the client closed ends it).
class Peer {
 public:
  explicit Peer(std::function<void(int fd)> answer) : answer_(std::move(answer)) {
    listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
    EXPECT_EQ(::listen(listener_.get(), 4), 0);
    EXPECT_EQ(::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] {
      UniqueFd c(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      std::string head;
      char buffer[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c.get(), buffer, sizeof buffer, 0);
        if (n <= 0) return;
        head.append(buffer, static_cast<size_t>(n));
      }
      answer_(c.get());
    });
  }
  ~Peer() { thread_.join(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v2/"; }

 private:
  std::function<void(int fd)> answer_;
  UniqueFd listener_;
  int port_ = 0;
  std::thread thread_;
};

bool send_text(int fd, const std::string& text) {
  return ::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
}

Result<Response> get(const Peer& peer, std::function<Result<void>(std::string_view)> sink = {}) {
  ClientOptions options;
  options.max_body_in_memory = 1 << 20;
  options.use_proxy_environment = false;
  Client client(options);
  Request r;
  r.url = peer.url();
  r.sink = std::move(sink);
  return client.send(r);
}

constexpr const char* kChunkedHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

TEST(ClientLimits, AContentLengthTooLargeToKeepIsAnErrorNotAnAllocation) {
  Peer peer([](int fd) { send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: 999999999999999\r\n\r\n{"); });
  auto r = get(peer);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("is larger than 1 MiB"), std::string::npos) << r.error().message();
}

TEST(ClientLimits, AChunkedBodyIsKeptUpToTheLimit) {
  Peer peer([](int fd) {
    if (!send_text(fd, kChunkedHead)) return;
    const std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
    for (int i = 0; i < 256 && send_text(fd, chunk); ++i) {
    }
  });
  auto r = get(peer);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("is larger than 1 MiB"), std::string::npos) << r.error().message();
}

TEST(ClientLimits, AChunkSizeLineThatNeverEndsIsCutOff) {
  // Beast has no limit on it: the connection's buffer kept every byte (383 MiB for a pull).
  Peer peer([](int fd) {
    if (!send_text(fd, std::string(kChunkedHead) + "5")) return;
    const std::string more(0x10000, 'a');
    for (int i = 0; i < 256 && send_text(fd, more); ++i) {
    }
  });
  auto r = get(peer);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("a chunk-size line or the trailers exceed 65536 bytes"),
            std::string::npos)
      << r.error().message();
}

TEST(ClientLimits, ABodyGivenToASinkHasNoLimit) {
  Peer peer([](int fd) {
    std::string body(3 << 20, 'x');
    send_text(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\nConnection: close\r\n\r\n" + body);
  });
  size_t got = 0;
  auto r = get(peer, [&](std::string_view piece) -> Result<void> {
    got += piece.size();
    return {};
  });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(got, size_t{3} << 20);
}

}  // namespace
}  // namespace berth::http
