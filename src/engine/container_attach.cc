// engine/container_attach.cc — attach and resize through the container's monitor.
#include <sys/socket.h>

#include <fmt/format.h>

#include "base/backoff.h"
#include "base/clock.h"
#include "base/sys.h"
#include "base/unix_socket.h"
#include "engine/attach.h"
#include "monitor/protocol.h"

namespace berth::engine {

Result<AttachSession> AttachSession::open(const ContainerRecord& c, bool replay) {
  auto fd = sys::connect_unix(sys::join_path(c.dir, monitor::kAttachSocket), SOCK_SEQPACKET);
  if (!fd)
    return Error::make(ErrorKind::unavailable, "attach to container '{}': its monitor serves no attach socket",
                       c.name);
  AttachSession session(std::move(*fd));
  BERTH_TRY_VOID(session.send(monitor::kAttachHello, replay ? "1" : "0"));
  return session;
}

Result<void> AttachSession::send(char kind, std::string_view data) {
  std::string packet(1, kind);
  packet.append(data);
  while (::send(fd_.get(), packet.data(), packet.size(), MSG_NOSIGNAL) < 0)
    if (errno != EINTR) return Error::from_errno("send to the container's attach socket");
  return {};
}

Result<void> AttachSession::send_input(std::string_view data) {
  for (size_t at = 0; at < data.size(); at += monitor::kAttachPacketBytes)
    BERTH_TRY_VOID(send(monitor::kAttachInput, data.substr(at, monitor::kAttachPacketBytes)));
  return {};
}

Result<void> AttachSession::close_input() { return send(monitor::kAttachCloseInput, ""); }

Result<void> AttachSession::resize(unsigned rows, unsigned cols) {
  return send(monitor::kAttachResize, fmt::format("{} {}", rows, cols));
}

Result<std::optional<std::pair<int, std::string>>> AttachSession::read() {
  std::string buf(monitor::kAttachPacketBytes + 1, '\0');
  for (;;) {
    ssize_t got = ::recv(fd_.get(), buf.data(), buf.size(), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Error::from_errno("read the container's attach socket");
    if (got == 0) return std::optional<std::pair<int, std::string>>();
    buf.resize(static_cast<size_t>(got));
    int stream = buf[0] == monitor::kAttachStderr ? 2 : 1;
    return std::optional(std::pair(stream, buf.substr(1)));
  }
}

Result<void> resize_container(Engine& engine, const std::string& name_or_id, unsigned rows, unsigned cols) {
  // `docker run -it` resizes right after its start and gives up after about 150 ms; on a loaded
  // machine the monitor may not serve the terminal yet: wait for it a little (2 s at most).
  const int64_t until = clock::now_ns() + 2'000'000'000;
  for (Backoff backoff(1'000, 50'000);; backoff.sleep()) {
    BERTH_TRY(auto c, find_container(engine, name_or_id));
    if (!c.config.tty)
      return Error::make(ErrorKind::failed_precondition,
                         "container '{}' has no terminal (it was created without tty)", c.name);
    const bool late = clock::now_ns() >= until;
    if (!c.running()) {
      if (c.state != "created" || late)
        return Error::make(ErrorKind::failed_precondition, "container '{}' is not running", c.name);
      continue;
    }
    auto session = AttachSession::open(c, false);
    if (session) return session->resize(rows, cols);
    if (late) return std::move(session).error();
  }
}

}  // namespace berth::engine
