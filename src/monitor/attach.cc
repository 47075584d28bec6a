#include "monitor/attach.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "base/sys.h"
#include "base/unix_socket.h"
#include "monitor/protocol.h"

namespace berth::monitor {

Result<std::unique_ptr<AttachServer>> AttachServer::listen(const std::string& dir, UniqueFd input, bool terminal) {
  // A container that closed its stdin must not kill the monitor writing to it: EPIPE instead
  // (blocked, not ignored: an ignored signal would stay ignored in the container).
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  sigprocmask(SIG_BLOCK, &pipe, nullptr);
  std::string path = sys::join_path(dir, kAttachSocket);
  BERTH_TRY(auto listener, sys::listen_unix(path, SOCK_SEQPACKET | SOCK_NONBLOCK));
  return std::unique_ptr<AttachServer>(new AttachServer(path, std::move(listener), std::move(input), terminal));
}

AttachServer::~AttachServer() {
  clients_.clear();
  ::unlink(path_.c_str());  // a long path: the socket goes with the container's directory anyway
}

int AttachServer::poll_fds(struct pollfd* fds) {
  int n = 0;
  fds[n++] = {listener_.get(), POLLIN, 0};
  if (input_ && !pending_.empty()) fds[n++] = {input_.get(), POLLOUT, 0};
  // Clients wait while the container is behind on its input: their bytes stay in their sockets.
  bool take_input = pending_.size() < (1 << 20);
  for (auto& c : clients_) fds[n++] = {c.fd.get(), static_cast<short>(take_input ? POLLIN : 0), 0};
  return n;
}

void AttachServer::handle(const struct pollfd* fds, int count) {
  std::vector<int> gone;
  for (int i = 0; i < count; ++i) {
    if (!fds[i].revents) continue;
    if (fds[i].fd == listener_.get()) {
      accept_client();
    } else if (input_ && fds[i].fd == input_.get()) {
      write_input();
    } else {
      auto c = std::find_if(clients_.begin(), clients_.end(), [&](auto& x) { return x.fd.get() == fds[i].fd; });
      if (c != clients_.end() && !read_packet(*c)) gone.push_back(fds[i].fd);
    }
  }
  std::erase_if(clients_, [&](auto& c) { return std::find(gone.begin(), gone.end(), c.fd.get()) != gone.end(); });
}

void AttachServer::accept_client() {
  UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd || static_cast<int>(clients_.size()) >= kMaxClients) return;
  // A client that stops reading is dropped rather than stalling the container's output.
  struct timeval limit{2, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  int size = 1 << 20;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  clients_.push_back({std::move(fd), false});
}

bool AttachServer::read_packet(Client& c) {
  char buf[kAttachPacketBytes + 1];
  ssize_t got = ::recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
  if (got < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (got <= 0) return false;
  std::string_view data(buf + 1, static_cast<size_t>(got) - 1);
  switch (buf[0]) {
    case kAttachHello:
      if (!c.greeted && data == "1")
        for (const auto& packet : kept_)
          if (!send_packet(c, packet)) return false;
      c.greeted = true;
      break;
    case kAttachInput:
      if (input_ && !close_after_pending_) pending_.append(data);
      break;
    case kAttachCloseInput:
      if (!terminal_) close_after_pending_ = true;
      break;
    case kAttachResize: {
      if (!terminal_ || !input_) break;
      std::string text(data);
      char* end = nullptr;
      struct winsize size{};
      size.ws_row = static_cast<unsigned short>(std::strtoul(text.c_str(), &end, 10));
      size.ws_col = static_cast<unsigned short>(std::strtoul(end, nullptr, 10));
      ::ioctl(input_.get(), TIOCSWINSZ, &size);  // the kernel tells the container (SIGWINCH)
      break;
    }
    default:
      return false;  // not our protocol
  }
  if (close_after_pending_ && pending_.empty()) input_.reset();
  return true;
}

void AttachServer::write_input() {
  // poll said writable: a pipe then takes PIPE_BUF bytes, a terminal a little, without blocking.
  size_t chunk = std::min(pending_.size(), size_t{terminal_ ? 256u : PIPE_BUF});
  ssize_t wrote = ::write(input_.get(), pending_.data(), chunk);
  if (wrote < 0 && errno != EINTR && errno != EAGAIN) {
    pending_.clear();  // the container closed its stdin (EPIPE) or exited (EIO)
    input_.reset();
    return;
  }
  if (wrote > 0) pending_.erase(0, static_cast<size_t>(wrote));
  if (close_after_pending_ && pending_.empty()) input_.reset();
}

void AttachServer::output(bool is_stdout, std::string_view data) {
  for (size_t at = 0; at < data.size(); at += kAttachPacketBytes) {
    std::string packet(1, is_stdout ? kAttachStdout : kAttachStderr);
    packet.append(data.substr(at, kAttachPacketBytes));
    std::erase_if(clients_, [&](Client& c) { return c.greeted && !send_packet(c, packet); });
    kept_bytes_ += packet.size();
    kept_.push_back(std::move(packet));
    while (kept_bytes_ > kAttachReplayBytes && kept_.size() > 1) {
      kept_bytes_ -= kept_.front().size();
      kept_.pop_front();
    }
  }
}

bool AttachServer::send_packet(Client& c, std::string_view packet) {
  for (;;) {
    if (::send(c.fd.get(), packet.data(), packet.size(), MSG_NOSIGNAL) >= 0) return true;
    if (errno != EINTR) return false;
  }
}

Result<UniqueFd> receive_terminal(int listener, int timeout_ms) {
  struct pollfd p{listener, POLLIN, 0};
  int n;
  while ((n = ::poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  if (n <= 0) return Error::make(ErrorKind::unavailable, "the runtime sent no terminal in {} ms", timeout_ms);
  UniqueFd conn(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn) return Error::from_errno("accept on the console socket");
  return sys::receive_fd(conn.get()).context("receive the container's terminal");
}

}  // namespace berth::monitor
