// api/exec_routes.cc — docker exec: POST /containers/{id}/exec, POST /exec/{id}/start
// (hijacked, detach, tty, stdin), POST /exec/{id}/resize, GET /exec/{id}/json.
//
// An exec is a record in this server's memory (as in dockerd: execs do not outlive it) until
// its start, which runs the engine's spawn_exec (`berth exec` as a child, fds given) and relays
// its streams over the hijacked connection: framed without a tty; with one, raw bytes through a
// pty of ours whose slave is the child's terminal, so a resize of our master reaches it.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <deque>
#include <optional>
#include <thread>

#include "api/bodies.h"
#include "api/routes.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys.h"

namespace berth::api::detail {

struct ExecSession {
  std::string id, container_id;
  engine::ExecRequest request;
  bool attach_stdin = false, attach_stdout = false, attach_stderr = false;
  std::mutex mutex;  // guards what follows
  bool started = false, running = false;
  std::optional<int> exit_code;
  pid_t pid = 0;
  int master = -1;  // our pty master while the exec runs (resize target)
  std::optional<std::pair<unsigned short, unsigned short>> size;  // rows, cols asked so far
};

// The execs of this server, newest last; finished ones beyond kKeep are forgotten.
class ExecRegistry {
 public:
  static constexpr size_t kKeep = 256;
  void add(std::shared_ptr<ExecSession> s) {
    std::lock_guard lock(mutex_);
    sessions_.push_back(std::move(s));
    while (sessions_.size() > kKeep) {
      auto it = std::find_if(sessions_.begin(), sessions_.end(), [](const auto& x) {
        std::lock_guard l(x->mutex);
        return !x->running;
      });
      if (it == sessions_.end()) break;
      sessions_.erase(it);
    }
  }
  std::shared_ptr<ExecSession> find(const std::string& id) {
    std::lock_guard lock(mutex_);
    for (const auto& s : sessions_)
      if (s->id == id) return s;
    return nullptr;
  }
  std::vector<std::string> ids_of(const std::string& container_id) {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& s : sessions_)
      if (s->container_id == container_id) out.push_back(s->id);
    return out;
  }

 private:
  std::mutex mutex_;
  std::deque<std::shared_ptr<ExecSession>> sessions_;
};

DockerApi::DockerApi(const ServeOptions& options)
    : options_(options), execs_(std::make_unique<ExecRegistry>()),
      engines_(std::make_unique<engine::EnginePool>(options.layout, options.programs)) {}
DockerApi::~DockerApi() = default;

namespace {

void set_window(int master, unsigned short rows, unsigned short cols) {
  struct winsize ws {};
  ws.ws_row = rows;
  ws.ws_col = cols;
  ::ioctl(master, TIOCSWINSZ, &ws);
}

struct OurPty {
  UniqueFd master, slave;
};

Result<OurPty> open_our_pty() {
  int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return Error::from_errno("open '/dev/ptmx'");
  OurPty pty;
  pty.master.reset(master);
  if (::unlockpt(master) < 0) return Error::from_errno("unlockpt");
  char name[128];
  if (::ptsname_r(master, name, sizeof name) != 0) return Error::from_errno("ptsname");
  int slave = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) return Error::from_errno("open '{}'", name);
  pty.slave.reset(slave);
  // Raw from the start: the container's own terminal echoes and edits; input that arrives
  // before `berth exec` makes this one raw must not be echoed twice.
  struct termios t {};
  if (::tcgetattr(slave, &t) == 0) {
    ::cfmakeraw(&t);
    ::tcsetattr(slave, TCSANOW, &t);
  }
  return pty;
}

Result<std::pair<UniqueFd, UniqueFd>> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return Error::from_errno("pipe");
  return std::pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace

ServerResponse DockerApi::exec_create(const std::string& container, const std::string& body) {
  auto parsed = exec_create_from_json(body);
  if (!parsed) return error_response(parsed.error());
  auto s = std::make_shared<ExecSession>();
  s->request = std::move(parsed->request);
  s->attach_stdin = parsed->attach_stdin;
  s->attach_stdout = parsed->attach_stdout;
  s->attach_stderr = parsed->attach_stderr;
  s->size = parsed->size;
  auto e = open();
  if (!e) return error_response(e.error());
  auto c = engine::find_container(*e, container);
  if (!c) return error_response(no_such(c.error(), "container", container));
  if (c->state == "paused")
    return error_response(
        409, fmt::format("Container {} is paused, unpause the container before exec", container));
  if (c->state != "running")
    return error_response(409, fmt::format("Container {} is not running", c->id));
  s->container_id = c->id;
  s->id = sys::random_hex(32);
  execs_->add(s);
  return json_response(201, {{"Id", s->id}});
}

ServerResponse DockerApi::exec_routes(const std::string& m, const std::vector<std::string>& parts,
                                      const ServerRequest& r, const std::string& body) {
  if (parts.size() != 3) return error_response(404, "page not found");
  const std::string& id = parts[1];
  const std::string& action = parts[2];
  auto s = execs_->find(id);
  if (!s) return error_response(404, fmt::format("No such exec instance: {}", id));
  if (action == "json" && m == "GET") {
    std::lock_guard lock(s->mutex);
    json args = json::array();
    for (size_t i = 1; i < s->request.args.size(); ++i) args.push_back(s->request.args[i]);
    return json_response(200, {{"ID", s->id},
                               {"ContainerID", s->container_id},
                               {"Running", s->running},
                               {"ExitCode", s->exit_code ? json(*s->exit_code) : json(nullptr)},
                               {"ProcessConfig",
                                {{"tty", s->request.tty},
                                 {"entrypoint", s->request.args.empty() ? "" : s->request.args[0]},
                                 {"arguments", args},
                                 {"privileged", false},
                                 {"user", s->request.user}}},
                               {"OpenStdin", s->attach_stdin},
                               {"OpenStdout", s->attach_stdout},
                               {"OpenStderr", s->attach_stderr},
                               {"CanRemove", false},
                               {"DetachKeys", ""},
                               {"Pid", s->pid}});
  }
  if (action == "resize" && m == "POST") {
    int64_t h = query_int(r, "h", 0), w = query_int(r, "w", 0);
    if (h <= 0 || w <= 0 || h > 65535 || w > 65535)
      return error_response(400, "resize: give h and w, the rows and columns, above 0");
    std::lock_guard lock(s->mutex);
    s->size = std::pair{static_cast<unsigned short>(h), static_cast<unsigned short>(w)};
    if (s->master >= 0) set_window(s->master, s->size->first, s->size->second);
    return empty_response(200);
  }
  if (action == "start" && m == "POST") {
    auto start = exec_start_from_json(body);
    if (!start) return error_response(start.error());
    const bool detach = start->detach;
    if (start->size) {
      std::lock_guard lock(s->mutex);
      s->size = start->size;
    }
    {
      std::lock_guard lock(s->mutex);
      if (s->running)
        return error_response(409, fmt::format("Error: Exec command {} is already running", id));
      if (s->started)
        return error_response(409, fmt::format("Error: Exec command {} has already run", id));
      s->started = true;
      s->running = true;
    }
    if (detach) return exec_detached(s);
    bool upgrade = r.header("Upgrade") != nullptr;
    ServerResponse resp;
    resp.takeover = [this, s, upgrade](UniqueFd socket) {
      exec_attached(socket.get(), s, upgrade);
    };
    return resp;
  }
  return error_response(404, fmt::format("page not found: {} {}", m, r.path));
}

namespace {

void finish_session(ExecSession& s, int code) {
  std::lock_guard lock(s.mutex);
  s.exit_code = code;
  s.running = false;
  s.master = -1;
}

// Waits for the exec's process; its status, or 126 when it could not be waited for.
int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 126;
  return proc::exit_code_of(status);
}

}  // namespace

ServerResponse DockerApi::exec_detached(std::shared_ptr<ExecSession> s) {
  auto e = open();
  if (!e) {
    finish_session(*s, 126);
    return error_response(e.error());
  }
  auto pid = engine::spawn_exec(*e, s->container_id, s->request, {});
  if (!pid) {
    finish_session(*s, 126);
    return error_response(pid.error());
  }
  {
    std::lock_guard lock(s->mutex);
    s->pid = *pid;
  }
  std::thread([s, pid = *pid] { finish_session(*s, wait_exit(pid)); }).detach();
  return empty_response(200);
}

void DockerApi::exec_attached(int sock, std::shared_ptr<ExecSession> s, bool upgrade) {
  const bool tty = s->request.tty;
  // The child's ends (closed here once it has them) and ours.
  UniqueFd child_in, child_out, child_err, in, out, err, master;
  engine::ExecIo io;
  auto fail = [&](const Error& e) {
    finish_session(*s, 126);
    write_whole(sock, error_response(e));
  };
  if (tty) {
    auto pty = open_our_pty();
    if (!pty) return fail(pty.error());
    {
      std::lock_guard lock(s->mutex);
      if (s->size) set_window(pty->master.get(), s->size->first, s->size->second);
    }
    io = {pty->slave.get(), pty->slave.get(), pty->slave.get(), true};
    child_in = std::move(pty->slave);
    master = std::move(pty->master);
  } else {
    if (s->attach_stdin) {
      auto p = make_pipe();
      if (!p) return fail(p.error());
      child_in = std::move(p->first);
      in = std::move(p->second);
      io.stdin_fd = child_in.get();
    }
    if (s->attach_stdout) {
      auto p = make_pipe();
      if (!p) return fail(p.error());
      out = std::move(p->first);
      child_out = std::move(p->second);
      io.stdout_fd = child_out.get();
    }
    if (s->attach_stderr) {
      auto p = make_pipe();
      if (!p) return fail(p.error());
      err = std::move(p->first);
      child_err = std::move(p->second);
      io.stderr_fd = child_err.get();
    }
  }
  auto e = open();
  if (!e) return fail(e.error());
  auto pid = engine::spawn_exec(*e, s->container_id, s->request, io);
  if (!pid) return fail(pid.error());
  child_in.reset();
  child_out.reset();
  child_err.reset();
  {
    std::lock_guard lock(s->mutex);
    s->pid = *pid;
    s->master = master.get();
    if (master && s->size) set_window(master.get(), s->size->first, s->size->second);
  }
  bool client = sys::write_all(sock, hijack_head(tty, upgrade)).ok();
  // Where the client's bytes go: the pty, or the stdin pipe (-1: nowhere, they are dropped).
  int input = tty ? (s->attach_stdin ? master.get() : -1) : in.get();
  bool reading = client;
  auto send = [&](int stream, const char* data, size_t n) {
    if (!client) return;
    std::string_view bytes(data, n);
    client = sys::write_all(sock, tty ? std::string(bytes) : frame_stream(stream, bytes)).ok();
  };
  // Copies what is readable on `fd` to the client; at its end (EOF, or EIO on a pty whose
  // slave is closed), `open` becomes false. The fds stay open until the session has finished:
  // a resize may still name the master.
  bool out_open = tty || out, err_open = !tty && err;
  auto pump = [&](int fd, int stream, bool& open) {
    char buf[16384];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) return;
    if (n <= 0)
      open = false;
    else
      send(stream, buf, static_cast<size_t>(n));
  };
  std::optional<int> code;
  for (;;) {
    if (!code) {
      int status;
      if (::waitpid(*pid, &status, WNOHANG) == *pid) code = proc::exit_code_of(status);
    }
    int source_out = out_open ? (tty ? master.get() : out.get()) : -1;
    int source_err = err_open ? err.get() : -1;
    if (source_out < 0 && source_err < 0 && code) break;
    pollfd fds[3] = {
        {reading ? sock : -1, POLLIN, 0}, {source_out, POLLIN, 0}, {source_err, POLLIN, 0}};
    // Once the process is gone, only what it left in the pipes is read (a background child
    // of it may hold them open for ever).
    int ready = ::poll(fds, 3, code ? 0 : 100);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) {
      if (code) break;
      continue;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[16384];
      ssize_t n = ::read(sock, buf, sizeof buf);
      if (n > 0 && input >= 0) {
        if (!sys::write_all(input, std::string_view(buf, static_cast<size_t>(n))))
          input = -1;  // the process closed its stdin
      } else if (n == 0 || (n < 0 && errno != EINTR)) {
        // The client closed its side: the process sees the end of its input (not with a tty:
        // docker keeps a terminal's session open while the client still reads).
        reading = false;
        in.reset();
        if (!tty) input = -1;
        // A client that is gone altogether hangs the terminal up, as a closed terminal window
        // does: its shell gets SIGHUP, rather than waiting for input that can never come.
        if (tty && peer_gone(sock)) {
          std::lock_guard lock(s->mutex);
          s->master = -1;
          master.reset();
          input = -1;
          out_open = false;
        }
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) pump(source_out, 1, out_open);
    if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) pump(source_err, 2, err_open);
  }
  if (!code) code = wait_exit(*pid);
  // The exit code is recorded before the stream ends: docker inspects the exec right after.
  finish_session(*s, *code);
  ::shutdown(sock, SHUT_WR);
}

}  // namespace berth::api::detail
