// http_server: raw bytes sent to `berth registry serve` (http/server.h over Boost.Beast, and the
// registry's routing, name checks, uploads and manifests behind it: registry/server.h), on a
// loopback connection, in a Jail: request lines, headers, chunked bodies, percent-encoded paths,
// pipelined requests. The server runs on its own threads for the whole session, as in
// production; each input is one connection, half-closed after the input, read to its end, and
// the input ends once the server thread is idle again. A server that neither answers nor closes
// the connection within 5 s of the half-close hangs: a finding.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "base/clock.h"
#include "fuzz_util.h"
#include "http/server.h"
#include "registry/access.h"
#include "registry/gc.h"
#include "registry/server.h"
#include "registry/storage.h"

namespace {

struct Registry {
  std::unique_ptr<berth::registry::Storage> storage;
  berth::registry::AccessControl access;
  std::unique_ptr<berth::http::Handler> handler;
  std::unique_ptr<berth::http::Server> server;
  std::thread thread;
  sockaddr_in address{};
};

// Never destroyed: the server thread runs until the process exits.
berth::fuzz::Jail* jail;
Registry* peer;
// /proc/self/task/TID/syscall of the server's one thread: "232 ..." while it sleeps in
// epoll_wait, another number or "running" otherwise.
std::atomic<int> server_syscall{-1};

// Waits until the server thread sleeps in epoll_wait with nothing left to run. The client sees
// the connection end before the server has freed it (its coroutine frames, watchdog and
// buffers): those frees came after the input had ended, so libFuzzer, counting more mallocs than
// frees, ran such inputs a second time and scanned the heap, until after 1000 scans it stopped
// looking for leaks per input at all. Gives up after a million looks (about a second): a server
// busy that long is what the next input would meet anyway.
void wait_until_server_idle() {
  int fd = server_syscall.load();
  if (fd < 0) return;
  for (int i = 0; i < 1000000; ++i) {
    char text[32];
    ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    if (n <= 0) return;
    text[n] = 0;
    long number = std::strtol(text, nullptr, 10);
    if (text[0] != 'r' && (number == SYS_epoll_wait || number == SYS_epoll_pwait)) return;
    ::sched_yield();
  }
}

// The socket has SO_SNDTIMEO and SO_RCVTIMEO, which make the kernel end connect(2) and recv(2)
// with EINTR, not restart them, when libFuzzer's timer signal comes while they wait. The
// handshake goes on after an interrupted connect: this waits for it, up to 5 s, and only a
// registry that does not accept in that time is a finding. (The plain connect stopped every
// 20,000 to 235,000 inputs with EINTR, without a SYN lost or a listen queue full.)
void connect_to_registry(int fd) {
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&peer->address), sizeof peer->address) == 0)
    return;
  if (errno != EINTR) berth::fuzz::violated("connect to the registry", std::strerror(errno));
  pollfd ready{fd, POLLOUT, 0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int n;
  do {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    n = ::poll(&ready, 1, static_cast<int>(std::max<long>(0, left.count())));
  } while (n < 0 && errno == EINTR);
  if (n == 0)
    berth::fuzz::violated(
        "connect to the registry: no handshake in 5 s (did the server thread die?)");
  int error = 0;
  socklen_t length = sizeof error;
  if (n < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0)
    berth::fuzz::violated("connect to the registry", std::strerror(n < 0 ? errno : error));
}

ssize_t receive(int fd, char* buffer, size_t size) {
  ssize_t n;
  do n = ::recv(fd, buffer, size, 0);
  while (n < 0 && errno == EINTR);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace berth;
  jail = std::make_unique<fuzz::Jail>("http_server").release();
  peer = std::make_unique<Registry>().release();
  auto storage = registry::open_filesystem_storage(jail->dir() + "/registry");
  if (!storage) fuzz::violated("open storage", storage.error().message());
  peer->storage = std::move(*storage);
  peer->handler =
      registry::make_registry_handler(*peer->storage, peer->access, {.max_busy_uploads = 4});
  http::ServerOptions options;
  options.address = "127.0.0.1:0";
  options.threads = 1;
  options.idle_timeout_ms = 2000;
  // Its SIGINT handler would stop the server, and the input under way would fail as a hang 5 s
  // later: three runs stopped with SIGINT ended so. libFuzzer's handler ends the run.
  options.stop_on_signals = false;
  auto server = http::Server::listen(options, *peer->handler);
  if (!server) fuzz::violated("listen", server.error().message());
  peer->server = std::move(*server);
  std::string bound = peer->server->address();
  peer->address.sin_family = AF_INET;
  peer->address.sin_port =
      htons(static_cast<uint16_t>(std::stoi(bound.substr(bound.rfind(':') + 1))));
  peer->address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  peer->thread = std::thread([] {
    fuzz::block_signals_in_this_thread();
    std::string path = "/proc/self/task/" + std::to_string(::gettid()) + "/syscall";
    server_syscall = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    (void)peer->server->run();
  });
  peer->thread.detach();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) fuzz::violated("socket");
  timeval timeout{5, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  connect_to_registry(s.get());
  jail->enter();
  // Sent in one go and half-closed; the reads keep a server answering a pipelined request from
  // blocking on a full socket buffer.
  size_t sent = 0;
  char buffer[65536];
  while (sent < size) {
    ssize_t n = ::send(s.get(), data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN) break;
    if (receive(s.get(), buffer, sizeof buffer) <= 0) break;
  }
  ::shutdown(s.get(), SHUT_WR);
  // The server reads the half-close within its idle timeout (2 s) at the latest and then ends
  // the connection: nothing for 5 s (SO_RCVTIMEO) means it hangs.
  ssize_t n;
  while ((n = receive(s.get(), buffer, sizeof buffer)) > 0) {
  }
  if (n < 0 && errno == EAGAIN)
    fuzz::violated("the registry neither answered nor closed in 5 s after the request ended");
  wait_until_server_idle();
  // Inputs leave upload sessions behind (an hour's run left 156,000, 531 MB of the jail's 1 GB
  // tmpfs); the purge `berth registry serve` runs every hour keeps the storage from filling.
  // Their repositories go too: `_catalog` walks them all, and as they grew (272 directories
  // after 40 minutes) it took half of the target's time. The server thread is idle here.
  static unsigned inputs = 0;
  if (++inputs % 10000 == 0) {
    (void)registry::remove_abandoned_uploads(*peer->storage, clock::now_ns() - 1'000'000'000);
    std::error_code ignored;
    for (const auto& entry :
         std::filesystem::directory_iterator(jail->dir() + "/registry/repositories", ignored))
      std::filesystem::remove_all(entry.path(), ignored);
  }
  jail->leave();
  return 0;
}
