#include "base/unix_socket.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace berth::sys {
namespace {

// The address for `path`; a path too long for sun_path goes through `dir_holder`, its
// directory opened O_PATH.
Result<sockaddr_un> address_of(const std::string& path, UniqueFd& dir_holder) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string usable = path;
  if (usable.size() >= sizeof addr.sun_path) {
    auto slash = path.rfind('/');
    std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    dir_holder = UniqueFd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir_holder) return Error::from_errno("open '{}'", dir);
    usable = "/proc/self/fd/" + std::to_string(dir_holder.get()) + path.substr(slash);
    if (usable.size() >= sizeof addr.sun_path)
      return Error::make(ErrorKind::invalid_argument, "socket name in '{}' is too long", path);
  }
  ::memcpy(addr.sun_path, usable.c_str(), usable.size() + 1);
  return addr;
}

}  // namespace

Result<UniqueFd> listen_unix(const std::string& path, int type) {
  UniqueFd dir;
  BERTH_TRY(auto addr, address_of(path, dir));
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket for '{}'", path);
  ::unlink(addr.sun_path);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    return Error::from_errno("bind '{}'", path);
  if (::listen(fd.get(), 16) < 0) return Error::from_errno("listen on '{}'", path);
  return fd;
}

Result<UniqueFd> connect_unix(const std::string& path, int type) {
  UniqueFd dir;
  BERTH_TRY(auto addr, address_of(path, dir));
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket for '{}'", path);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    return Error::from_errno("connect to '{}'", path);
  return fd;
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
  ::memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  if (::sendmsg(socket, &msg, MSG_NOSIGNAL) < 0) return Error::from_errno("send a file descriptor");
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
  if (::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC) < 0) return Error::from_errno("receive a file descriptor");
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS)
    return Error(ErrorKind::io, "receive a file descriptor: none in the message");
  int fd;
  ::memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
  return UniqueFd(fd);
}

}  // namespace berth::sys
