// base/unix_socket.h — AF_UNIX sockets by path, and file descriptors passed over them.
// Paths longer than sun_path (108 bytes: containers' directories under a deep --root) are
// reached through their directory's /proc/self/fd link, as conmon does.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "base/unique_fd.h"

namespace berth::sys {

// A listening socket of `type` (SOCK_STREAM, SOCK_SEQPACKET) bound at `path`, replacing a file
// left there. Close-on-exec.
Result<UniqueFd> listen_unix(const std::string& path, int type);
// A socket of `type` connected to `path`. Close-on-exec, blocking.
Result<UniqueFd> connect_unix(const std::string& path, int type);

// Sends `fd` with `name` as the message (SCM_RIGHTS; runc's console-socket convention).
Result<void> send_fd(int socket, int fd, std::string_view name);
// Receives a descriptor sent by send_fd (close-on-exec).
Result<UniqueFd> receive_fd(int socket);

}  // namespace berth::sys
