#include "runtime/detail/sync.h"

#include <sys/socket.h>
#include <unistd.h>

namespace berth::runtime::sync {

Result<void> send(int fd, Msg type, std::string_view payload) {
  std::string buf(1, static_cast<char>(type));
  buf.append(payload);
  for (;;) {
    ssize_t n = ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("send to sync socket");
    return {};
  }
}

Result<std::pair<Msg, std::string>> receive(int fd) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("receive from sync socket");
    if (n == 0) return Error(ErrorKind::not_found, "the container process closed the sync socket");
    return std::make_pair(static_cast<Msg>(buf[0]), std::string(buf + 1, static_cast<size_t>(n - 1)));
  }
}

Result<std::string> expect(int fd, Msg expected) {
  BERTH_TRY(auto msg, receive(fd));
  if (msg.first == Msg::error) return Error(ErrorKind::failed_precondition, msg.second);
  if (msg.first != expected)
    return Error::make(ErrorKind::internal, "sync: expected message '{}', got '{}'",
                       static_cast<char>(expected), static_cast<char>(msg.first));
  return std::move(msg.second);
}

}  // namespace berth::runtime::sync
