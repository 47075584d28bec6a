#include "runtime/detail/console.h"

#include "base/sys.h"
#include "base/unix_socket.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

namespace berth::runtime {

Result<ConsoleChannel> open_console_channel(const std::string& console_socket) {
  ConsoleChannel channel;
  if (console_socket.empty()) {
    BERTH_TRY(auto pair, sys::socket_pair(SOCK_STREAM));
    channel.own_end = std::move(pair.first);
    channel.to_container = std::move(pair.second);
  } else {
    BERTH_TRY_CTX(channel.to_container, sys::connect_unix(console_socket, SOCK_STREAM), "console socket");
  }
  return channel;
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
