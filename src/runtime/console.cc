#include "runtime/detail/console.h"

#include "base/sys.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

namespace berth::runtime {

Result<UniqueFd> connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("socket");
  UniqueFd sock(fd);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Error::make(ErrorKind::invalid_argument, "console socket path '{}' is too long", path);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    return Error::from_errno("connect to console socket '{}'", path);
  return sock;
}

Result<ConsoleChannel> open_console_channel(const std::string& console_socket) {
  ConsoleChannel channel;
  if (console_socket.empty()) {
    BERTH_TRY(auto pair, sys::socket_pair(SOCK_STREAM));
    channel.own_end = std::move(pair.first);
    channel.to_container = std::move(pair.second);
  } else {
    BERTH_TRY_CTX(channel.to_container, connect_unix(console_socket), "console socket");
  }
  return channel;
}

Result<void> send_fd(int socket, int fd, std::string_view name) {
  struct msghdr msg {};
  struct iovec iov;
  iov.iov_base = const_cast<char*>(name.data());
  iov.iov_len = name.size();
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  if (::sendmsg(socket, &msg, MSG_NOSIGNAL) < 0) return Error::from_errno("send terminal to console socket");
  return {};
}

Result<UniqueFd> receive_fd(int socket) {
  struct msghdr msg {};
  char name[4096];
  struct iovec iov{name, sizeof name};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC) < 0) return Error::from_errno("receive terminal");
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS)
    return Error(ErrorKind::io, "receive terminal: no file descriptor in the message");
  int fd;
  memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
  return UniqueFd(fd);
}

Result<Pty> open_pty(unsigned rows, unsigned cols) {
  int master = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return Error::from_errno("open '/dev/ptmx'");
  Pty pty;
  pty.master.reset(master);
  if (::unlockpt(master) < 0) return Error::from_errno("unlockpt");
  char name[128];
  if (::ptsname_r(master, name, sizeof name) != 0) return Error::from_errno("ptsname");
  pty.slave_path = name;
  int slave = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) return Error::from_errno("open '{}'", name);
  pty.slave.reset(slave);
  if (rows && cols) {
    struct winsize ws {};
    ws.ws_row = static_cast<unsigned short>(rows);
    ws.ws_col = static_cast<unsigned short>(cols);
    if (::ioctl(master, TIOCSWINSZ, &ws) < 0) return Error::from_errno("set terminal size");
  }
  return pty;
}

Result<void> become_console(int slave) {
  if (::setsid() < 0 && errno != EPERM) return Error::from_errno("setsid");
  if (::ioctl(slave, TIOCSCTTY, 0) < 0) return Error::from_errno("make the terminal controlling");
  for (int fd = 0; fd < 3; ++fd)
    if (::dup2(slave, fd) < 0) return Error::from_errno("dup2 terminal to fd {}", fd);
  return {};
}

}  // namespace berth::runtime
