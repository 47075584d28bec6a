// http::Server's run() stops on SIGINT and SIGTERM, unless stop_on_signals is off: for a process
// that handles them itself (the http_server fuzz target, whose SIGINT is libFuzzer's: the server
// took it, stopped, and the input under way failed as a hang). And a server stopped with a
// connection open is destroyed cleanly.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "base/unique_fd.h"
#include "http/server.h"

namespace berth::http {
namespace {

struct Answers200 : Handler {
  Dispatch handle(const ServerRequest&) override { return {}; }
};

std::atomic<int> caught{0};
void count_signal(int) { ++caught; }

void catch_here(int signal) {
  struct sigaction action {};
  action.sa_handler = count_signal;
  ASSERT_EQ(::sigaction(signal, &action, nullptr), 0);
}

UniqueFd connect_to(const std::string& address) {
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
  peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(s.get(), reinterpret_cast<sockaddr*>(&peer), sizeof peer), 0);
  return s;
}

// A request answered: run() is serving, and its signal handling is in place.
void expect_answer(const std::string& address) {
  UniqueFd s = connect_to(address);
  std::string request = "GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(s.get(), request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  char buffer[256];
  ssize_t n = ::recv(s.get(), buffer, sizeof buffer, 0);
  ASSERT_GT(n, 12);
  EXPECT_EQ(std::string(buffer, 12), "HTTP/1.1 200");
}

// Sends `signal` to the process while run() serves; true when run() returned within 5 s.
bool run_returns_on(int signal, bool stop_on_signals) {
  Answers200 handler;
  ServerOptions options;
  options.address = "127.0.0.1:0";
  options.threads = 1;
  options.stop_on_signals = stop_on_signals;
  auto server = Server::listen(options, handler);
  EXPECT_TRUE(server);
  if (!server) return false;
  std::promise<void> done;
  std::future<void> returned = done.get_future();
  std::thread serving([&] {
    (void)(*server)->run();
    done.set_value();
  });
  expect_answer((*server)->address());
  // A connection open when the server stops: its session is left suspended, and destroyed
  // with the server.
  UniqueFd idle = connect_to((*server)->address());
  expect_answer((*server)->address());
  ::kill(::getpid(), signal);
  bool stopped =
      returned.wait_for(std::chrono::seconds(stop_on_signals ? 5 : 1)) == std::future_status::ready;
  if (!stopped) {
    expect_answer((*server)->address());  // still serving
    (*server)->stop();
  }
  serving.join();
  return stopped;
}

TEST(ServerSignals, RunStopsOnSigintAndSigtermUnlessStopOnSignalsIsOff) {
  for (int signal : {SIGINT, SIGTERM}) {
    catch_here(signal);
    caught = 0;
    EXPECT_FALSE(run_returns_on(signal, false)) << strsignal(signal);
    EXPECT_EQ(caught, 1) << "the process's own handler gets " << strsignal(signal);

    caught = 0;
    EXPECT_TRUE(run_returns_on(signal, true)) << strsignal(signal);
    EXPECT_EQ(caught, 0) << "the server took " << strsignal(signal);
    catch_here(signal);  // run() left the default action behind
  }
}

}  // namespace
}  // namespace berth::http
