// api/common.cc — the shared router and helpers of the Docker Engine API routes (routes.h).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "api/routes.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys.h"
#include "build/build.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "oci/runtime_spec.h"

namespace berth::api::detail {

void set_common_headers(ServerResponse& r) {
  r.set("Api-Version", std::string(kMaxApiVersion));
  r.set("Docker-Experimental", "false");
  r.set("Ostype", "linux");
  r.set("Server", "berth");
}

ServerResponse json_response(int status, const json& body) {
  ServerResponse r{status};
  // Messages quote what clients sent (a name, a tag, a query value), which need not be UTF-8:
  // strict dumping threw, and the client got an empty 500 instead of the error.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  r.body += '\n';
  r.set("Content-Type", "application/json");
  set_common_headers(r);
  return r;
}

ServerResponse empty_response(int status) {
  ServerResponse r{status};
  set_common_headers(r);
  return r;
}

ServerResponse error_response(int status, const std::string& message) {
  return json_response(status, {{"message", message}});
}

ServerResponse error_response(const Error& e) {
  return error_response(http_status_for(e.kind()), e.message());
}

// Docker's wording for a missing container or image, which clients show as is.
Error no_such(const Error& e, std::string_view what, std::string_view name) {
  if (e.kind() != ErrorKind::not_found) return e;
  return Error::make(ErrorKind::not_found, "No such {}: {}", what, name);
}

// A response head written by a takeover: the body follows until the connection closes.
std::string response_head(int status,
                          const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string head = fmt::format("HTTP/1.1 {} {}\r\n", status, http::status_reason(status));
  for (const auto& [k, v] : headers) head += fmt::format("{}: {}\r\n", k, v);
  head += fmt::format("Api-Version: {}\r\nServer: berth\r\n\r\n", kMaxApiVersion);
  return head;
}

std::string hijack_head(bool tty, bool upgrade) {
  std::string type =
      tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream";
  std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", type}};
  if (upgrade) {
    headers.emplace_back("Connection", "Upgrade");
    headers.emplace_back("Upgrade", "tcp");
  }
  return response_head(upgrade ? 101 : 200, headers);
}

void write_whole(int fd, const ServerResponse& r) {
  std::string out = fmt::format("HTTP/1.1 {} {}\r\n", r.status, http::status_reason(r.status));
  for (const auto& h : r.headers) out += fmt::format("{}: {}\r\n", h.name, h.value);
  if (r.status >= 200 && r.status != 204 && r.status != 304)
    out += fmt::format("Content-Length: {}\r\n", r.body.size());
  out += "Connection: close\r\n\r\n";
  out += r.body;
  (void)sys::write_all(fd, out);
}

// Whether the client closed the connection (a waiter that gave up). Not a half close: an
// attached client without stdin shuts its writing side and still reads.
bool peer_gone(int fd) {
  pollfd p{fd, 0, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

// Runs `work` on a thread of its own (it may block for long) and sends what it answers.
ServerResponse deferred(std::function<ServerResponse(int fd)> work) {
  ServerResponse r;
  r.takeover = [work = std::move(work)](UniqueFd socket) {
    ServerResponse answer = work(socket.get());
    if (answer.status > 0) write_whole(socket.get(), answer);
  };
  return r;
}

std::string human_duration(int64_t ns) {
  int64_t s = ns / 1'000'000'000;
  if (s < 1) return "Less than a second";
  if (s == 1) return "1 second";
  if (s < 60) return fmt::format("{} seconds", s);
  if (s < 120) return "About a minute";
  if (s < 46 * 60) return fmt::format("{} minutes", s / 60);
  if (s < 90 * 60) return "About an hour";
  if (s < 48 * 3600) return fmt::format("{} hours", s / 3600);
  if (s < 14 * 86400) return fmt::format("{} days", s / 86400);
  return fmt::format("{} weeks", s / (7 * 86400));
}

std::string status_text(const engine::ContainerRecord& c) {
  int64_t now = clock::now_ns();
  if (c.state == "running" || c.state == "paused") {
    std::string text = "Up " + human_duration(now - c.started.value_or(now));
    if (c.state == "paused") text += " (Paused)";
    if (!c.health.empty()) text += " (" + c.health + ")";
    return text;
  }
  if (c.state == "restarting") return "Restarting";
  if (c.state == "exited" && c.finished)
    return fmt::format("Exited ({}) {} ago", c.exit_code.value_or(0),
                       human_duration(now - *c.finished));
  return c.state == "created" ? "Created" : c.state;
}

std::string command_text(const engine::ContainerRecord& c) {
  // dockerd's: the process as it runs (the image's entrypoint and command included), each
  // argument with a space in single quotes.
  std::vector<std::string> words;
  if (auto spec = oci::load_spec(c.dir + "/config.json"); spec && spec->process) {
    words = spec->process->args;
  } else {
    if (c.config.entrypoint) words = *c.config.entrypoint;
    words.insert(words.end(), c.config.command.begin(), c.config.command.end());
  }
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    bool quote = i > 0 && words[i].find(' ') != std::string::npos;
    out += (i ? " " : "") + (quote ? "'" + words[i] + "'" : words[i]);
  }
  return out;
}

std::string familiar(const std::string& reference) {
  for (std::string_view prefix : {"docker.io/library/", "docker.io/"})
    if (reference.starts_with(prefix)) return reference.substr(prefix.size());
  return reference;
}

json familiar(const std::vector<std::string>& references) {
  json out = json::array();
  for (const auto& r : references) out.push_back(familiar(r));
  return out;
}

int64_t query_int(const ServerRequest& r, std::string_view name, int64_t fallback) {
  auto v = r.query_value(name);
  if (!v || v->empty()) return fallback;
  char* end = nullptr;
  long long n = std::strtoll(v->c_str(), &end, 10);
  return *end ? fallback : n;
}

bool query_flag(const ServerRequest& r, std::string_view name) {
  auto v = r.query_value(name);
  return v && query_true(*v);
}
void DockerApi::reap_until(const bool& stop, std::mutex& mutex, std::condition_variable& wake) {
  // No connection to berth.db stays open between rounds: while one holds its lock, SQLite defers
  // closing every other connection's file (closing it would drop the process's locks), and the
  // server's fds would grow with its busiest moment.
  std::unique_lock lock(mutex);
  while (!stop) {
    lock.unlock();
    if (auto e = open()) reap(*e);
    reap_monitors();
    lock.lock();
    wake.wait_for(lock, std::chrono::seconds(1), [&] { return stop; });
  }
}

http::Dispatch DockerApi::handle(const ServerRequest& request) {
  log::debug(fmt::format("{} {}", request.method, request.target));
  http::Dispatch d;
  if (auto split = split_version(request.path)) {
    if (request.method == "POST" && split->path == "/build") return build(request);
    if (request.method == "POST" && split->path == "/images/load") return load(request);
    // docker cp's archive: a PUT's tar streams to disk, never whole in memory.
    std::vector<std::string> parts;
    for (auto& p : sys::split(split->path, '/'))
      if (!p.empty()) parts.push_back(p);
    if (parts.size() == 3 && parts[0] == "containers" && parts[2] == "archive" &&
        (request.method == "GET" || request.method == "HEAD" || request.method == "PUT"))
      return archive(request.method, parts[1], request);
  }
  if (request.has_body) {
    d.sink = http::collect_body(
        kBodyLimit, [this, request](std::string body) { return route(request, body); },
        [] { return error_response(413, "request body too large"); });
    return d;
  }
  d.response = route(request, "");
  return d;
}

Result<engine::PooledEngine> DockerApi::open() const { return engines_->take(); }

void DockerApi::hold(const std::string& id, int delta) {
  {
    std::lock_guard lock(held_mutex_);
    if (delta > 0)
      held_.insert(id);
    else if (auto it = held_.find(id); it != held_.end())
      held_.erase(it);
  }
  if (delta < 0) released_.notify_all();
}
bool DockerApi::held(const std::string& id) {
  std::lock_guard lock(held_mutex_);
  return held_.count(id) > 0;
}
bool DockerApi::wait_released(const std::string& key, int64_t timeout_ms) {
  std::unique_lock lock(held_mutex_);
  return released_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                            [&] { return held_.count(key) == 0; });
}

void DockerApi::adopt_monitor(pid_t pid) {
  // Only a monitor this start spawned: an already running container's may be another's child,
  // and its pid, should it have exited, another child's of ours (whose status is not ours to take).
  auto stat = sys::read_file(fmt::format("/proc/{}/stat", pid));
  if (!stat || stat->find("(berth-monitor) ") == std::string::npos) return;
  auto after = stat->substr(stat->rfind(')') + 2);  // "S PPID ..."
  if (std::atoi(after.c_str() + 2) != ::getpid()) return;
  std::lock_guard lock(monitors_mutex_);
  monitors_.push_back(pid);
}

void DockerApi::reap_monitors() {
  std::lock_guard lock(monitors_mutex_);
  std::erase_if(monitors_, [](pid_t pid) {
    int status;
    pid_t got = ::waitpid(pid, &status, WNOHANG);
    return got == pid || (got < 0 && errno == ECHILD);
  });
}

void DockerApi::reap(engine::Engine& e) {
  auto all = engine::list_containers(e);
  if (!all) return;
  for (const auto& c : *all)
    if (c.config.labels.count(kAutoRemoveLabel) && c.state == "exited" && !held(c.id + "/wait") &&
        !held(c.id + "/attach"))
      (void)engine::remove_container(e, c.id, false, true);
}

ServerResponse DockerApi::route(const ServerRequest& request, const std::string& body) {
  auto split = split_version(request.path);
  if (!split) return error_response(split.error());
  std::vector<std::string> parts;
  for (auto& p : sys::split(split->path, '/'))
    if (!p.empty()) parts.push_back(p);
  const std::string& m = request.method;
  try {
    if (parts.empty()) return error_response(404, "page not found");
    const std::string& top = parts[0];
    if (top == "_ping" && parts.size() == 1) return ping();
    if (top == "version" && parts.size() == 1) return version();
    if (top == "info" && parts.size() == 1) return info();
    if (top == "events" && parts.size() == 1 && m == "GET") return events(request);
    if (top == "system" && parts.size() == 2 && parts[1] == "df" && m == "GET") return system_df();
    if (parts.size() == 2 && parts[1] == "prune" && m == "POST" &&
        (top == "containers" || top == "images" || top == "networks" || top == "volumes"))
      return prune(top, request);
    if (top == "networks" && parts.size() == 3 && m == "POST" &&
        (parts[2] == "connect" || parts[2] == "disconnect"))
      return connect(parts[1], parts[2] == "connect", body);
    if (top == "exec") return exec_routes(m, parts, request, body);
    if (top == "auth" && parts.size() == 1 && m == "POST") return auth(body);
    if (top == "commit" && parts.size() == 1 && m == "POST") return commit(request, body);
    if (top == "containers") return containers(m, parts, request, body);
    if (top == "images") return images(m, parts, request);
    if (top == "networks") return networks(m, parts, request, body);
    if (top == "volumes") return volumes(m, parts, request, body);
  } catch (const json::exception& e) {
    return error_response(400, fmt::format("malformed JSON: {}", e.what()));
  }
  return error_response(404, fmt::format("page not found: {} {}", m, split->path));
}

namespace {

class FileSink final : public http::BodySink {
 public:
  FileSink(UniqueFd file, std::string scratch, std::function<ServerResponse(int fd)> done)
      : file_(std::move(file)), scratch_(std::move(scratch)), done_(std::move(done)) {}
  ~FileSink() override {
    if (!handed_over_) (void)sys::remove_all(scratch_);
  }
  Result<void> write(const char* data, size_t size) override {
    return sys::write_all(file_.get(), std::string_view(data, size));
  }
  ServerResponse finish(Result<void> outcome) override {
    if (!outcome) return error_response(outcome.error());
    file_ = UniqueFd();
    handed_over_ = true;
    return deferred([done = done_, scratch = scratch_](int fd) {
      ServerResponse answer = done(fd);
      (void)sys::remove_all(scratch);
      return answer;
    });
  }

 private:
  UniqueFd file_;
  std::string scratch_;
  std::function<ServerResponse(int fd)> done_;
  bool handed_over_ = false;
};

}  // namespace

std::unique_ptr<http::BodySink> file_sink(UniqueFd file, std::string scratch,
                                          std::function<ServerResponse(int fd)> done) {
  return std::make_unique<FileSink>(std::move(file), std::move(scratch), std::move(done));
}

}  // namespace berth::api::detail
