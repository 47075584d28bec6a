// runtime/detail/console.h — terminals: a pty made inside the container, its master sent over a
// unix socket (--console-socket, SCM_RIGHTS), and the proxy used when berth itself holds it.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/error.h"
#include "base/unique_fd.h"
#include "base/unix_socket.h"

namespace berth::runtime {

using sys::receive_fd;
using sys::send_fd;

// Where the container's pty master goes: to the caller's --console-socket, or, when that is
// empty, back to us over a socket pair (`own_end`) so that we relay the terminal ourselves.
struct ConsoleChannel {
  UniqueFd to_container;  // the container side sends the master here
  UniqueFd own_end;       // valid when we relay: receive_fd() on it
};
Result<ConsoleChannel> open_console_channel(const std::string& console_socket);

struct Pty {
  UniqueFd master;
  UniqueFd slave;
  std::string slave_path;
};
// Opens a new pty from the /dev/ptmx the calling process sees, with the given size (0 = keep).
Result<Pty> open_pty(unsigned rows, unsigned cols);
// Makes the slave the controlling terminal and stdin/stdout/stderr of the calling process.
Result<void> become_console(int slave);

}  // namespace berth::runtime
