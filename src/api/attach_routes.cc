// api/attach_routes.cc — POST /containers/{id}/attach (the hijacked connection) and resize.
//
// A container with a terminal or an open stdin is attached live, through its monitor's attach
// socket (engine/attach.h): the client's bytes are its stdin, its output comes as it is
// written. Other containers, and one whose monitor is already gone, are followed in the log.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/routes.h"
#include "base/clock.h"
#include "base/sys.h"
#include "engine/attach.h"
#include "engine/container_watch.h"

namespace berth::api::detail {

namespace {

// Ends the output and waits (a little) for the client to close: closing a socket that still has
// unread input sends a reset, and the client would report "connection reset by peer" instead
// of the end of the stream.
void close_after_client(int fd) {
  ::shutdown(fd, SHUT_WR);
  char buf[4096];
  for (int i = 0; i < 20; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0 && ::read(fd, buf, sizeof buf) <= 0) return;
  }
}

}  // namespace

ServerResponse DockerApi::attach(const std::string& id, const ServerRequest& r) {
  StreamChoice which{query_flag(r, "stdout"), query_flag(r, "stderr")};
  bool history = query_flag(r, "logs");
  bool upgrade = r.header("Upgrade") != nullptr;
  auto e = open();
  if (!e) return error_response(e.error());
  auto c = engine::find_container(*e, id);
  if (!c) return error_response(no_such(c.error(), "container", id));
  bool tty = c->config.tty;
  // docker attaches stdin only to a container created with it open (OpenStdin).
  bool with_stdin = query_flag(r, "stdin") && c->config.interactive;
  bool live = tty || with_stdin;
  int64_t since = clock::now_ns();
  // Clients attach before they start the container (docker run, docker start -a).
  std::optional<int64_t> started_before = c->running() ? std::nullopt : std::optional(c->started.value_or(0));
  ServerResponse resp;
  resp.takeover = [this, id = c->id, which, history, upgrade, tty, with_stdin, live, since,
                   started_before](UniqueFd socket) {
    int fd = socket.get();
    if (!sys::write_all(fd, hijack_head(tty, upgrade))) return;
    if (!which.out && !which.err && !with_stdin) return;
    auto e = open();
    if (!e) return;
    hold(id + "/attach", 1);
    struct Release {
      DockerApi& api;
      std::string id;
      bool held = true;
      void now() {
        if (held) api.hold(id + "/attach", -1);
        held = false;
      }
      ~Release() { now(); }
    } release{*this, id};
    // Follow once it has started: a created container until it starts; an exited one (docker
    // start -a) for as long as its start may take to be asked for.
    // Woken by the start (inotify), not by a polling clock: docker run attaches, then starts.
    int64_t deadline = clock::now_ns() + 10'000'000'000;
    std::optional<engine::ContainerWatch> watch;
    while (started_before) {
      auto c = engine::find_container(*e, id);
      if (!c) return;
      if (c->running() || c->started.value_or(0) != *started_before) break;
      if (c->state != "created" && clock::now_ns() > deadline) break;
      if (!watch) {
        watch.emplace(e->layout, *c, false);
        continue;  // look again, watching: a start from now on wakes the wait
      }
      if (watch->wait(watch->watching() ? 1000 : 20, fd) ==
          engine::ContainerWatch::Wake::reader_gone)
        return;
    }
    if (live) {
      auto c = engine::find_container(*e, id);
      if (!c) return;
      if (c->running() && attach_live(fd, *c, started_before || history, with_stdin, which)) {
        // A waiter (docker run --rm) may answer now: the client closes once it has its answer.
        release.now();
        close_after_client(fd);
        return;
      }
    }
    engine::LogOptions lo;
    lo.follow = true;
    lo.reader_fd = fd;
    if (!history) lo.since = since;
    if (which.out || which.err) (void)engine::read_logs(*e, id, lo, framed_sink(fd, tty, which));
    ::shutdown(fd, SHUT_WR);
  };
  return resp;
}

bool DockerApi::attach_live(int fd, const engine::ContainerRecord& c, bool replay, bool with_stdin,
                            StreamChoice which) {
  auto session = engine::AttachSession::open(c, replay);
  if (!session) return false;
  const bool tty = c.config.tty;
  bool reading = with_stdin, client = true;
  // The end of the client's input is the end of the container's stdin when it was made so
  // (docker run -i: StdinOnce; not with a terminal, whose session docker keeps open).
  auto input_ended = [&] {
    reading = false;
    if (!tty && c.config.stdin_once) (void)session->close_input();
  };
  for (;;) {
    pollfd fds[2] = {{session->fd(), POLLIN, 0}, {fd, static_cast<short>(reading ? POLLIN : 0), 0}};
    int n = ::poll(fds, 2, 1000);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) {
      if (peer_gone(fd)) break;
      continue;
    }
    if (fds[0].revents) {
      auto out = session->read();
      if (!out || !*out) break;  // the container exited
      auto& [stream, bytes] = **out;
      bool wanted = stream == 2 ? which.err : which.out;
      if (wanted && client)
        client = sys::write_all(fd, tty ? bytes : frame_stream(stream, bytes)).ok();
      if (!client) break;
    }
    if (reading && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[16384];
      ssize_t got = ::read(fd, buf, sizeof buf);
      if (got > 0) {
        if (!session->send_input(std::string_view(buf, static_cast<size_t>(got)))) reading = false;
      } else if (got == 0 || errno != EINTR) {
        input_ended();
      }
    } else if (fds[1].revents & (POLLHUP | POLLERR)) {
      break;  // the client is gone
    }
  }
  if (reading) input_ended();
  return true;
}

ServerResponse DockerApi::resize(const std::string& id, const ServerRequest& r) {
  int64_t rows = query_int(r, "h", -1), cols = query_int(r, "w", -1);
  if (rows < 0 || cols < 0 || rows > 0xffff || cols > 0xffff)
    return error_response(400, fmt::format("resize: h and w must be numbers from 0 to 65535 (h={}, w={})",
                                           r.query_value("h").value_or(""), r.query_value("w").value_or("")));
  return lifecycle(id, [rows, cols](engine::Engine& e, const engine::ContainerRecord& c) -> Result<int> {
    BERTH_TRY_VOID(engine::resize_container(e, c.id, static_cast<unsigned>(rows), static_cast<unsigned>(cols)));
    return 200;
  });
}

}  // namespace berth::api::detail
