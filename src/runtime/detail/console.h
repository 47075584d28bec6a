// runtime/detail/console.h — terminals: a pty made inside the container, its master sent over a
// unix socket (--console-socket, SCM_RIGHTS), and the proxy used when berth itself holds it.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/error.h"
#include "base/unique_fd.h"

namespace berth::runtime {

Result<UniqueFd> connect_unix(const std::string& path);
Result<void> send_fd(int socket, int fd, std::string_view name);
Result<UniqueFd> receive_fd(int socket);

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
