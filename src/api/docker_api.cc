// api/docker_api.cc — the routes of the Docker Engine API over the engine (docs/api.md). Boost
// stays in http/; nlohmann's exceptions stay in this file and translate.cc.
#include "api/docker_api.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "api/translate.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys.h"
#include "build/build.h"
#include "engine/containers.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "engine/volumes.h"
#include "http/server.h"

namespace berth::api {
namespace {

using http::ServerRequest;
using http::ServerResponse;
using nlohmann::json;

constexpr size_t kBodyLimit = 16 << 20;

// HostConfig.AutoRemove through the API: the engine's --rm removes a container the moment it
// exits, before a client's attach has read its last output and its wait the exit code (Docker's
// daemon removes after both). So the API marks the container instead, its waiter removes it
// after answering, and a reaper removes marked containers that exited with nobody waiting.
constexpr const char* kAutoRemoveLabel = "berth.api.auto-remove";

void set_common_headers(ServerResponse& r) {
  r.set("Api-Version", std::string(kMaxApiVersion));
  r.set("Docker-Experimental", "false");
  r.set("Ostype", "linux");
  r.set("Server", "berth");
}

ServerResponse json_response(int status, const json& body) {
  ServerResponse r{status};
  r.body = body.dump();
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
  std::vector<std::string> words;
  if (c.config.entrypoint) words = *c.config.entrypoint;
  words.insert(words.end(), c.config.command.begin(), c.config.command.end());
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
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

class DockerApi final : public http::Handler {
 public:
  explicit DockerApi(const ServeOptions& options) : options_(options) {}

  // Removes exited auto-remove containers nobody waits for or attaches to; once a second until
  // `stop` is set.
  void reap_until(const bool& stop, std::mutex& mutex, std::condition_variable& wake) {
    std::unique_lock lock(mutex);
    while (!stop) {
      lock.unlock();
      reap();
      lock.lock();
      wake.wait_for(lock, std::chrono::seconds(1), [&] { return stop; });
    }
  }

  http::Dispatch handle(const ServerRequest& request) override {
    log::debug(fmt::format("{} {}", request.method, request.target));
    http::Dispatch d;
    if (request.method == "POST") {
      auto split = split_version(request.path);
      if (split && split->path == "/build") return build(request);
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

 private:
  Result<engine::Engine> open() const {
    return engine::Engine::open(options_.layout, options_.programs);
  }

  // "ID/wait" and "ID/attach" while a waiter or an attached client reads a container (the reaper
  // leaves it alone).
  void hold(const std::string& id, int delta) {
    std::lock_guard lock(held_mutex_);
    if (delta > 0)
      held_.insert(id);
    else if (auto it = held_.find(id); it != held_.end())
      held_.erase(it);
  }
  bool held(const std::string& id) {
    std::lock_guard lock(held_mutex_);
    return held_.count(id) > 0;
  }

  void reap() {
    auto e = open();
    if (!e) return;
    auto all = engine::list_containers(*e);
    if (!all) return;
    for (const auto& c : *all)
      if (c.config.labels.count(kAutoRemoveLabel) && c.state == "exited" && !held(c.id + "/wait") &&
          !held(c.id + "/attach"))
        (void)engine::remove_container(*e, c.id, false, true);
  }

  ServerResponse route(const ServerRequest& request, const std::string& body) {
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
      if (top == "containers") return containers(m, parts, request, body);
      if (top == "images") return images(m, parts, request);
      if (top == "networks") return networks(m, parts, request, body);
      if (top == "volumes") return volumes(m, parts, request, body);
    } catch (const json::exception& e) {
      return error_response(400, fmt::format("malformed JSON: {}", e.what()));
    }
    return error_response(404, fmt::format("page not found: {} {}", m, split->path));
  }

  // --- system -------------------------------------------------------------------------------

  ServerResponse ping() {
    ServerResponse r{200};
    r.body = "OK";
    r.set("Content-Type", "text/plain; charset=utf-8");
    r.set("Cache-Control", "no-cache, no-store, must-revalidate");
    r.set("Pragma", "no-cache");
    // The classic builder's protocol (a tar context, a JSON progress stream), not BuildKit's.
    r.set("Builder-Version", "1");
    set_common_headers(r);
    return r;
  }

  static std::string kernel() {
    struct utsname u {};
    ::uname(&u);
    return u.release;
  }

  ServerResponse version() {
    json component = {{"Name", "Engine"},
                      {"Version", options_.version},
                      {"Details",
                       {{"ApiVersion", kMaxApiVersion},
                        {"MinAPIVersion", kMinApiVersion},
                        {"Os", "linux"},
                        {"Arch", "amd64"},
                        {"KernelVersion", kernel()}}}};
    return json_response(200, {{"Platform", {{"Name", "berth"}}},
                               {"Components", json::array({component})},
                               {"Version", options_.version},
                               {"ApiVersion", kMaxApiVersion},
                               {"MinAPIVersion", kMinApiVersion},
                               {"GitCommit", ""},
                               {"GoVersion", ""},
                               {"Os", "linux"},
                               {"Arch", "amd64"},
                               {"KernelVersion", kernel()},
                               {"BuildTime", ""}});
  }

  ServerResponse info() {
    auto e = open();
    if (!e) return error_response(e.error());
    auto all = engine::list_containers(*e);
    if (!all) return error_response(all.error());
    auto images = engine::list_images(*e);
    if (!images) return error_response(images.error());
    int running = 0, paused = 0, stopped = 0;
    for (const auto& c : *all) {
      if (c.state == "paused")
        ++paused;
      else if (c.running())
        ++running;
      else
        ++stopped;
    }
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    return json_response(
        200,
        {{"ID", ""},
         {"Containers", all->size()},
         {"ContainersRunning", running},
         {"ContainersPaused", paused},
         {"ContainersStopped", stopped},
         {"Images", images->size()},
         {"Driver", "overlay2"},
         {"DriverStatus", json::array()},
         {"DockerRootDir", options_.layout.root},
         {"Plugins",
          {{"Volume", {"local"}}, {"Network", {"bridge", "host", "none"}}, {"Log", {"json-file"}}}},
         {"MemoryLimit", true},
         {"SwapLimit", false},
         {"CgroupDriver", "cgroupfs"},
         {"CgroupVersion", "2"},
         {"KernelVersion", kernel()},
         {"OperatingSystem", "berth"},
         {"OSType", "linux"},
         {"Architecture", "x86_64"},
         {"NCPU", std::thread::hardware_concurrency()},
         {"MemTotal", static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE)},
         {"Name", host},
         {"ServerVersion", options_.version},
         {"Runtimes", {{"berth-runtime", {{"path", options_.programs.runtime}}}}},
         {"DefaultRuntime", "berth-runtime"},
         {"SecurityOptions", {"name=seccomp,profile=default", "name=cgroupns"}},
         {"RegistryConfig",
          {{"IndexConfigs", json::object()}, {"InsecureRegistryCIDRs", json::array()}}},
         {"Labels", json::array()},
         {"Warnings", json::array()}});
  }

  // --- containers ---------------------------------------------------------------------------

  ServerResponse containers(const std::string& m, const std::vector<std::string>& parts,
                            const ServerRequest& r, const std::string& body) {
    if (parts.size() == 2 && parts[1] == "json" && m == "GET") return list_containers(r);
    if (parts.size() == 2 && parts[1] == "create" && m == "POST") return create_container(r, body);
    if (parts.size() < 2) return error_response(404, "page not found");
    std::string id = parts[1];
    std::string action = parts.size() > 2 ? parts[2] : "";
    if (parts.size() > 3) return error_response(404, "page not found");
    if (action.empty() && m == "DELETE") {
      bool force = query_flag(r, "force"), volumes = query_flag(r, "v");
      return deferred([this, id, force, volumes](int) {
        auto e = open();
        if (!e) return error_response(e.error());
        if (auto c = engine::find_container(*e, id); !c)
          return error_response(no_such(c.error(), "container", id));
        else if (c->running() && !force)
          return error_response(409,
                                fmt::format("You cannot remove a running container {}. Stop the "
                                            "container before attempting removal or force remove",
                                            c->id));
        if (auto done = engine::remove_container(*e, id, force, volumes); !done)
          return error_response(done.error());
        return empty_response(204);
      });
    }
    if (action == "json" && m == "GET") {
      auto e = open();
      if (!e) return error_response(e.error());
      auto c = engine::find_container(*e, id);
      if (!c) return error_response(no_such(c.error(), "container", id));
      ServerResponse resp{200};
      resp.body = engine::inspect_json(*e, *c);
      resp.set("Content-Type", "application/json");
      set_common_headers(resp);
      return resp;
    }
    if (action == "start" && m == "POST")
      return lifecycle(id, [](engine::Engine& e, const engine::ContainerRecord& c) -> Result<int> {
        if (c.running()) return 304;
        BERTH_TRY_VOID(engine::start_container(e, c.id));
        return 204;
      });
    if (action == "stop" && m == "POST") {
      std::optional<int> t;
      if (r.query_value("t")) t = static_cast<int>(query_int(r, "t", 10));
      return lifecycle(id, [t](engine::Engine& e, const engine::ContainerRecord& c) -> Result<int> {
        if (!c.running()) return 304;
        BERTH_TRY_VOID(engine::stop_container(e, c.id, t));
        return 204;
      });
    }
    if (action == "restart" && m == "POST") {
      std::optional<int> t;
      if (r.query_value("t")) t = static_cast<int>(query_int(r, "t", 10));
      return lifecycle(id, [t](engine::Engine& e, const engine::ContainerRecord& c) -> Result<int> {
        BERTH_TRY_VOID(engine::stop_container(e, c.id, t));
        BERTH_TRY_VOID(engine::start_container(e, c.id));
        return 204;
      });
    }
    if (action == "kill" && m == "POST") {
      auto signal = parse_signal(r.query_value("signal").value_or("SIGKILL"));
      if (!signal) return error_response(signal.error());
      int sig = *signal;
      return lifecycle(id,
                       [sig](engine::Engine& e, const engine::ContainerRecord& c) -> Result<int> {
                         if (!c.running())
                           return Error::make(ErrorKind::failed_precondition,
                                              "Container {} is not running", c.id);
                         BERTH_TRY_VOID(engine::kill_container(e, c.id, sig));
                         return 204;
                       });
    }
    if ((action == "pause" || action == "unpause") && m == "POST") {
      bool pause = action == "pause";
      return lifecycle(id,
                       [pause](engine::Engine& e, const engine::ContainerRecord& c) -> Result<int> {
                         BERTH_TRY_VOID(engine::pause_container(e, c.id, pause));
                         return 204;
                       });
    }
    if (action == "rename" && m == "POST") {
      std::string name = r.query_value("name").value_or("");
      return lifecycle(id,
                       [name](engine::Engine& e, const engine::ContainerRecord& c) -> Result<int> {
                         BERTH_TRY_VOID(engine::rename_container(e, c.id, name));
                         return 204;
                       });
    }
    if (action == "wait" && m == "POST")
      return wait_container(id, r.query_value("condition").value_or("not-running"));
    if (action == "logs" && m == "GET") return logs(id, r);
    if (action == "attach" && m == "POST") return attach(id, r);
    return error_response(404, fmt::format("page not found: {} {}", m, r.path));
  }

  static Result<int> parse_signal(const std::string& text) {
    if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit))
      return std::atoi(text.c_str());
    std::string name = text.starts_with("SIG") ? text.substr(3) : text;
    static const std::pair<const char*, int> kSignals[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},    {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2},  {"TERM", SIGTERM}, {"STOP", SIGSTOP},
        {"CONT", SIGCONT}, {"WINCH", SIGWINCH}};
    for (const auto& [n, s] : kSignals)
      if (name == n) return s;
    return Error::make(ErrorKind::invalid_argument, "Invalid signal: {}", text);
  }

  // start/stop/kill/...: on a thread of its own (they wait for the runtime); `act` answers the
  // status (204 done, 304 nothing to do).
  ServerResponse lifecycle(
      const std::string& id,
      std::function<Result<int>(engine::Engine&, const engine::ContainerRecord&)> act) {
    return deferred([this, id, act = std::move(act)](int) {
      auto e = open();
      if (!e) return error_response(e.error());
      auto c = engine::find_container(*e, id);
      if (!c) return error_response(no_such(c.error(), "container", id));
      auto status = act(*e, *c);
      if (!status) return error_response(status.error());
      return empty_response(*status);
    });
  }

  ServerResponse list_containers(const ServerRequest& r) {
    auto filters = parse_filters(r.query_value("filters").value_or(""),
                                 {"label", "name", "status", "id", "ancestor"});
    if (!filters) return error_response(filters.error());
    auto e = open();
    if (!e) return error_response(e.error());
    auto all = engine::list_containers(*e);
    if (!all) return error_response(all.error());
    bool show_all = query_flag(r, "all");
    int64_t limit = query_int(r, "limit", -1);
    auto any_of = [&](const char* key, auto&& pred) {
      auto it = filters->find(key);
      if (it == filters->end() || it->second.empty()) return true;
      return std::any_of(it->second.begin(), it->second.end(), pred);
    };
    json out = json::array();
    for (const auto& c : *all) {
      if (!show_all && !c.running() && !filters->count("status")) continue;
      if (auto it = filters->find("label");
          it != filters->end() && !labels_match(it->second, c.config.labels))
        continue;
      if (!any_of("name",
                  [&](const std::string& n) { return c.name.find(n) != std::string::npos; }))
        continue;
      if (!any_of("status", [&](const std::string& s) { return c.state == s; })) continue;
      if (!any_of("id", [&](const std::string& s) { return c.id.starts_with(s); })) continue;
      if (!any_of("ancestor",
                  [&](const std::string& s) { return c.config.image == s || c.image_ref == s; }))
        continue;
      if (limit >= 0 && static_cast<int64_t>(out.size()) >= limit) break;
      json ports = json::array();
      if (auto published = engine::container_ports(*e, c.id))
        for (const auto& p : *published)
          ports.push_back({{"IP", p.host_ip},
                           {"PrivatePort", p.container_port},
                           {"PublicPort", p.host_port},
                           {"Type", p.protocol}});
      json networks = json::object();
      if (auto endpoints = engine::container_endpoints(*e, c.id))
        for (const auto& ep : *endpoints)
          networks[ep.network] = {{"NetworkID", ep.network_id},
                                  {"IPAddress", ep.ip},
                                  {"Gateway", ep.gateway},
                                  {"IPPrefixLen", ep.prefix},
                                  {"MacAddress", ep.mac()}};
      out.push_back({{"Id", c.id},
                     {"Names", {"/" + c.name}},
                     {"Image", c.config.image},
                     {"ImageID", c.image_id},
                     {"Command", command_text(c)},
                     {"Created", c.created / 1'000'000'000},
                     {"Ports", ports},
                     {"Labels", c.config.labels},
                     {"State", c.state},
                     {"Status", status_text(c)},
                     {"HostConfig", {{"NetworkMode", c.config.network}}},
                     {"NetworkSettings", {{"Networks", networks}}},
                     {"Mounts", json::array()}});
    }
    return json_response(200, out);
  }

  ServerResponse create_container(const ServerRequest& r, const std::string& body) {
    auto config = container_config_from_json(body);
    if (!config) return error_response(config.error());
    std::string name = r.query_value("name").value_or("");
    if (name.starts_with("/")) name.erase(0, 1);
    if (config->auto_remove) {
      config->auto_remove = false;
      config->labels[kAutoRemoveLabel] = "true";
    }
    return deferred([this, config = *config, name](int) {
      auto e = open();
      if (!e) return error_response(e.error());
      if (!name.empty())
        if (auto existing = engine::find_container(*e, name); existing && existing->name == name)
          return error_response(
              409, fmt::format("Conflict. The container name \"/{}\" is already in use by "
                               "container \"{}\". You have to remove (or rename) that "
                               "container to be able to reuse that name.",
                               name, existing->id));
      if (auto image = engine::find_image(*e, config.image); !image)
        return error_response(no_such(image.error(), "image", config.image));
      auto created = engine::create_container(*e, config, name);
      if (!created) return error_response(created.error());
      return json_response(201, {{"Id", created->container.id}, {"Warnings", created->warnings}});
    });
  }

  ServerResponse wait_container(const std::string& id, const std::string& condition) {
    if (condition != "not-running" && condition != "next-exit" && condition != "removed")
      return error_response(400, fmt::format("invalid condition: \"{}\"", condition));
    {
      auto e = open();
      if (!e) return error_response(e.error());
      if (auto c = engine::find_container(*e, id); !c)
        return error_response(no_such(c.error(), "container", id));
    }
    // Docker sends the head at once and the status when the container is done: clients post
    // the wait before the start, and read the answer later.
    ServerResponse r;
    r.takeover = [this, id, condition](UniqueFd socket) {
      int fd = socket.get();
      (void)sys::write_all(
          fd, response_head(200, {{"Content-Type", "application/json"}, {"Connection", "close"}}));
      auto e = open();
      if (!e) return;
      auto found = engine::find_container(*e, id);
      if (!found) return;
      std::string full_id = found->id;
      bool auto_remove = found->config.labels.count(kAutoRemoveLabel) > 0;
      hold(full_id + "/wait", 1);
      struct Release {
        DockerApi& api;
        std::string id;
        ~Release() { api.hold(id + "/wait", -1); }
      } release{*this, full_id};
      json answer = {{"StatusCode", 0}, {"Error", nullptr}};
      // next-exit and removed on a container not started yet: until it has run.
      if (condition != "not-running")
        for (;;) {
          auto c = engine::find_container(*e, id);
          if (!c || c->state != "created" || peer_gone(fd)) break;
          ::usleep(50'000);
        }
      auto code = engine::wait_container(*e, full_id);
      if (code)
        answer["StatusCode"] = *code;
      else if (code.error().kind() != ErrorKind::not_found)
        answer["Error"] = {{"Message", code.error().message()}};
      if (auto_remove) {
        // Let an attached client read the last output first (at most 5 s).
        for (int i = 0; i < 250 && held(full_id + "/attach"); ++i) ::usleep(20'000);
        (void)engine::remove_container(*e, full_id, true, true);
      }
      if (condition == "removed")
        while (engine::find_container(*e, full_id) && !peer_gone(fd)) ::usleep(50'000);
      (void)sys::write_all(fd, answer.dump() + "\n");
    };
    return r;
  }

  // Sends the container's log as `logs` and `attach` do: framed unless it has a terminal.
  struct StreamChoice {
    bool out = true, err = true;
  };
  static engine::LogSink framed_sink(int fd, bool tty, StreamChoice which) {
    return [fd, tty, which](bool is_err, std::string_view text) {
      if (is_err ? !which.err : !which.out) return true;
      std::string bytes = tty ? std::string(text) : frame_stream(is_err ? 2 : 1, text);
      return sys::write_all(fd, bytes).ok();
    };
  }

  ServerResponse logs(const std::string& id, const ServerRequest& r) {
    engine::LogOptions lo;
    lo.follow = query_flag(r, "follow");
    lo.timestamps = query_flag(r, "timestamps");
    if (auto tail = r.query_value("tail"); tail && *tail != "all" && !tail->empty())
      lo.tail = query_int(r, "tail", 0);
    if (int64_t since = query_int(r, "since", 0); since > 0) lo.since = since * 1'000'000'000;
    if (int64_t until = query_int(r, "until", 0); until > 0) lo.until = until * 1'000'000'000;
    StreamChoice which{query_flag(r, "stdout"), query_flag(r, "stderr")};
    if (!which.out && !which.err)
      return error_response(400, "Bad parameters: you must choose at least one stream");
    auto e = open();
    if (!e) return error_response(e.error());
    auto c = engine::find_container(*e, id);
    if (!c) return error_response(no_such(c.error(), "container", id));
    bool tty = c->config.tty;
    ServerResponse resp;
    resp.takeover = [this, id = c->id, lo, which, tty](UniqueFd socket) {
      int fd = socket.get();
      std::string type =
          tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream";
      if (!sys::write_all(fd,
                          response_head(200, {{"Content-Type", type}, {"Connection", "close"}})))
        return;
      auto e = open();
      if (!e) return;
      (void)engine::read_logs(*e, id, lo, framed_sink(fd, tty, which));
    };
    return resp;
  }

  // Output only: the container's output from now on (with logs=1, from the start), framed as
  // docker does, until it stops. stdin is not relayed yet (docs/api.md).
  ServerResponse attach(const std::string& id, const ServerRequest& r) {
    if (query_flag(r, "stdin")) log::debug("attach: stdin is not relayed");
    StreamChoice which{query_flag(r, "stdout"), query_flag(r, "stderr")};
    bool history = query_flag(r, "logs");
    bool upgrade = r.header("Upgrade") != nullptr;
    auto e = open();
    if (!e) return error_response(e.error());
    auto c = engine::find_container(*e, id);
    if (!c) return error_response(no_such(c.error(), "container", id));
    bool tty = c->config.tty;
    int64_t since = clock::now_ns();
    ServerResponse resp;
    resp.takeover = [this, id = c->id, which, history, upgrade, tty, since](UniqueFd socket) {
      int fd = socket.get();
      std::string type =
          tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream";
      std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", type}};
      if (upgrade) {
        headers.emplace_back("Connection", "Upgrade");
        headers.emplace_back("Upgrade", "tcp");
      }
      if (!sys::write_all(fd, response_head(upgrade ? 101 : 200, headers))) return;
      if (!which.out && !which.err) return;
      auto e = open();
      if (!e) return;
      hold(id + "/attach", 1);
      struct Release {
        DockerApi& api;
        std::string id;
        ~Release() { api.hold(id + "/attach", -1); }
      } release{*this, id};
      // The client attaches before it starts the container: follow once it has started.
      for (;;) {
        auto c = engine::find_container(*e, id);
        if (!c) return;
        if (c->state != "created") break;
        if (peer_gone(fd)) return;
        ::usleep(20'000);
      }
      engine::LogOptions lo;
      lo.follow = true;
      if (!history) lo.since = since;
      (void)engine::read_logs(*e, id, lo, framed_sink(fd, tty, which));
      ::shutdown(fd, SHUT_WR);
    };
    return resp;
  }

  // --- build --------------------------------------------------------------------------------

  // The tar context streams to a file (never whole in memory), then the build runs on a thread of
  // its own and answers docker's JSON progress stream: {"stream": ...} lines, {"aux": {"ID":
  // ...}}, and {"error": ..., "errorDetail": ...} on failure.
  class ContextSink final : public http::BodySink {
   public:
    ContextSink(DockerApi& api, ServerRequest request, std::string scratch, UniqueFd file)
        : api_(api),
          request_(std::move(request)),
          scratch_(std::move(scratch)),
          file_(std::move(file)) {}
    ~ContextSink() override {
      if (!handed_over_) (void)sys::remove_all(scratch_);
    }
    Result<void> write(const char* data, size_t size) override {
      return sys::write_all(file_.get(), std::string_view(data, size));
    }
    ServerResponse finish(Result<void> outcome) override {
      if (!outcome) return error_response(outcome.error());
      file_ = UniqueFd();
      handed_over_ = true;
      ServerResponse r;
      r.takeover = [&api = api_, request = request_, scratch = scratch_](UniqueFd socket) {
        api.run_build(socket.get(), request, scratch);
        (void)sys::remove_all(scratch);
      };
      return r;
    }

   private:
    DockerApi& api_;
    ServerRequest request_;
    std::string scratch_;
    UniqueFd file_;
    bool handed_over_ = false;
  };

  http::Dispatch build(const ServerRequest& request) {
    http::Dispatch d;
    // Named as the CLI names a context from stdin, so a build killed half-way has it removed
    // by the next one (build::clean_stale_builds).
    std::string scratch =
        fmt::format("{}/build/context-{}-{}", options_.layout.root, ::getpid(), sys::random_hex(6));
    if (auto made = sys::mkdir_all(scratch + "/context", 0700); !made) {
      d.response = error_response(made.error());
      return d;
    }
    auto file = sys::open(scratch + "/context.tar", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (!file) {
      (void)sys::remove_all(scratch);
      d.response = error_response(file.error());
      return d;
    }
    d.sink = std::make_unique<ContextSink>(*this, request, scratch, std::move(*file));
    return d;
  }

  static std::map<std::string, std::string> string_map_query(const ServerRequest& r,
                                                             std::string_view name) {
    std::map<std::string, std::string> out;
    auto text = r.query_value(name);
    if (!text || text->empty()) return out;
    auto j = json::parse(*text, nullptr, false);
    if (j.is_object())
      for (const auto& [k, v] : j.items())
        if (v.is_string()) out[k] = v.get<std::string>();
    return out;
  }

  void run_build(int fd, const ServerRequest& r, const std::string& scratch) {
    if (!sys::write_all(fd, response_head(200, {{"Content-Type", "application/json"},
                                                {"Connection", "close"}})))
      return;
    auto say = [fd](const json& j) { (void)sys::write_all(fd, j.dump() + "\n"); };
    auto fail = [&](const std::string& message) {
      say({{"errorDetail", {{"message", message}}}, {"error", message}});
    };
    proc::RunOptions x;
    x.path = "/bin/tar";
    x.args = {
        "tar", "-xf", scratch + "/context.tar", "-C", scratch + "/context", "--no-same-owner"};
    auto rc = proc::run(x);
    ::unlink((scratch + "/context.tar").c_str());
    if (!rc || *rc != 0) return fail("the build context is not a readable tar archive");
    build::BuildOptions o;
    o.context_dir = scratch + "/context";
    std::string dockerfile = r.query_value("dockerfile").value_or("Dockerfile");
    if (dockerfile.empty()) dockerfile = "Dockerfile";
    if (dockerfile.find("..") != std::string::npos || dockerfile.starts_with("/"))
      return fail(fmt::format("dockerfile '{}': give a path inside the context", dockerfile));
    auto text = sys::read_file(o.context_dir + "/" + dockerfile);
    if (!text) return fail(fmt::format("Cannot locate specified Dockerfile: {}", dockerfile));
    o.dockerfile_text = *text;
    o.dockerfile_name = dockerfile;
    for (const auto& [k, v] : r.query)
      if (k == "t" && !v.empty()) o.tags.push_back(v);
    o.build_args = string_map_query(r, "buildargs");
    o.labels = string_map_query(r, "labels");
    o.target = r.query_value("target").value_or("");
    o.no_cache = query_flag(r, "nocache");
    std::string network = r.query_value("networkmode").value_or("default");
    o.network = network.empty() ? "default" : network;
    bool quiet = query_flag(r, "q");
    std::mutex said;
    if (!quiet)
      o.progress = [&](const build::StepEvent& ev) {
        std::lock_guard lock(said);
        using Kind = build::StepEvent::Kind;
        switch (ev.kind) {
          case Kind::started:
            say({{"stream", fmt::format("Step {} : {}\n", ev.vertex, ev.name)}});
            break;
          case Kind::output:
            say({{"stream", ev.text + "\n"}});
            break;
          case Kind::cached:
            say({{"stream", " ---> Using cache\n"}});
            break;
          case Kind::failed:
            break;  // the error below says it
          case Kind::note:
            say({{"stream", ev.name + "\n"}});
            break;
          case Kind::done:
            break;
        }
      };
    auto e = open();
    if (!e) return fail(e.error().message());
    auto result = build::build_image(*e, o);
    if (!result) return fail(result.error().message());
    say({{"aux", {{"ID", result->image_id}}}});
    if (!quiet) {
      say({{"stream", fmt::format("Successfully built {}\n", result->image_id.substr(7, 12))}});
      for (const auto& t : o.tags) say({{"stream", fmt::format("Successfully tagged {}\n", t)}});
    }
  }

  // --- images -------------------------------------------------------------------------------

  ServerResponse images(const std::string& m, const std::vector<std::string>& parts,
                        const ServerRequest& r) {
    auto e = open();
    if (!e) return error_response(e.error());
    if (parts.size() == 2 && parts[1] == "json" && m == "GET") {
      auto all = engine::list_images(*e);
      if (!all) return error_response(all.error());
      auto filters =
          parse_filters(r.query_value("filters").value_or(""), {"reference", "dangling", "label"});
      if (!filters) return error_response(filters.error());
      json out = json::array();
      for (const auto& i : *all) {
        if (auto it = filters->find("dangling"); it != filters->end() && !it->second.empty())
          if ((it->second[0] == "true") != i.tags.empty()) continue;
        json digests = json::array();
        for (const auto& t : i.tags) digests.push_back(t.substr(0, t.rfind(':')) + "@" + i.id);
        out.push_back({{"Id", i.config_digest},
                       {"ParentId", ""},
                       {"RepoTags", i.tags.empty() ? json::array({"<none>:<none>"}) : json(i.tags)},
                       {"RepoDigests", digests},
                       {"Created", i.created / 1'000'000'000},
                       {"Size", i.size},
                       {"VirtualSize", i.size},
                       {"SharedSize", -1},
                       {"Labels", json::object()},
                       {"Containers", i.containers}});
      }
      return json_response(200, out);
    }
    // Names hold slashes ("localhost/busybox:latest"): the action is the last part.
    auto joined = [&](size_t end) {
      std::string name;
      for (size_t i = 1; i < end; ++i) name += (name.empty() ? "" : "/") + parts[i];
      return name;
    };
    if (m == "DELETE" && parts.size() >= 2)
      return remove_image(joined(parts.size()), query_flag(r, "force"));
    if (parts.size() < 3) return error_response(404, "page not found");
    std::string action = parts.back();
    std::string name = joined(parts.size() - 1);
    if (m == "GET" && action == "json") {
      auto image = engine::find_image(*e, name);
      if (!image) return error_response(no_such(image.error(), "image", name));
      auto doc = engine::image_inspect_json(*e, *image);
      if (!doc) return error_response(doc.error());
      ServerResponse resp{200};
      resp.body = *doc;
      resp.set("Content-Type", "application/json");
      set_common_headers(resp);
      return resp;
    }
    if (m == "POST" && action == "tag") {
      std::string repo = r.query_value("repo").value_or("");
      std::string tag = r.query_value("tag").value_or("");
      if (repo.empty())
        return error_response(400, "repository name must have at least one component");
      if (auto image = engine::find_image(*e, name); !image)
        return error_response(no_such(image.error(), "image", name));
      if (auto done = engine::tag_image(*e, name, tag.empty() ? repo : repo + ":" + tag); !done)
        return error_response(done.error());
      return empty_response(201);
    }
    return error_response(404, fmt::format("page not found: {} {}", m, r.path));
  }

  ServerResponse remove_image(const std::string& name, bool force) {
    auto e = open();
    if (!e) return error_response(e.error());
    auto removed = engine::remove_image(*e, name, force);
    if (!removed) return error_response(no_such(removed.error(), "image", name));
    json out = json::array();
    for (const auto& u : removed->untagged) out.push_back({{"Untagged", u}});
    for (const auto& d : removed->deleted) out.push_back({{"Deleted", d}});
    return json_response(200, out);
  }

  // --- networks and volumes -----------------------------------------------------------------

  ServerResponse networks(const std::string& m, const std::vector<std::string>& parts,
                          const ServerRequest& r, const std::string& body) {
    auto e = open();
    if (!e) return error_response(e.error());
    if (parts.size() == 1 && m == "GET") {
      auto all = engine::list_networks(*e);
      if (!all) return error_response(all.error());
      json out = json::array();
      for (const auto& n : *all) out.push_back(json::parse(engine::network_inspect_json(*e, n)));
      return json_response(200, out);
    }
    if (parts.size() == 2 && parts[1] == "create" && m == "POST") {
      json j = json::parse(body);
      engine::NetworkOptions o;
      o.name = j.value("Name", "");
      o.driver = j.value("Driver", "bridge");
      if (o.driver.empty()) o.driver = "bridge";
      o.internal = j.value("Internal", false);
      if (auto it = j.find("Labels"); it != j.end() && it->is_object())
        o.labels = it->get<std::map<std::string, std::string>>();
      if (auto it = j.find("Options"); it != j.end() && it->is_object())
        o.options = it->get<std::map<std::string, std::string>>();
      if (auto ipam = j.find("IPAM"); ipam != j.end() && ipam->is_object())
        if (auto cfg = ipam->find("Config");
            cfg != ipam->end() && cfg->is_array() && !cfg->empty()) {
          o.subnet = (*cfg)[0].value("Subnet", "");
          o.gateway = (*cfg)[0].value("Gateway", "");
          o.ip_range = (*cfg)[0].value("IPRange", "");
        }
      if (o.name.empty()) return error_response(400, "network name is required");
      if (engine::find_network(*e, o.name))
        return error_response(409, fmt::format("network with name {} already exists", o.name));
      auto created = engine::create_network(*e, o);
      if (!created) return error_response(created.error());
      return json_response(201, {{"Id", created->id}, {"Warning", ""}});
    }
    if (parts.size() == 2) {
      auto n = engine::find_network(*e, parts[1]);
      if (!n) return error_response(no_such(n.error(), "network", parts[1]));
      if (m == "GET") return json_response(200, json::parse(engine::network_inspect_json(*e, *n)));
      if (m == "DELETE") {
        if (auto done = engine::remove_network(*e, parts[1]); !done)
          return error_response(done.error());
        return empty_response(204);
      }
    }
    return error_response(404, fmt::format("page not found: {} {}", m, r.path));
  }

  static json volume_json(const engine::VolumeRecord& v) {
    return {{"Name", v.name},
            {"Driver", v.driver},
            {"Mountpoint", v.mountpoint},
            {"CreatedAt", clock::rfc3339(v.created)},
            {"Labels", v.labels},
            {"Scope", "local"},
            {"Options", v.options}};
  }

  ServerResponse volumes(const std::string& m, const std::vector<std::string>& parts,
                         const ServerRequest& r, const std::string& body) {
    auto e = open();
    if (!e) return error_response(e.error());
    if (parts.size() == 1 && m == "GET") {
      auto filters = parse_filters(r.query_value("filters").value_or(""),
                                   {"label", "name", "dangling", "driver"});
      if (!filters) return error_response(filters.error());
      auto all = engine::list_volumes(*e);
      if (!all) return error_response(all.error());
      json out = json::array();
      for (const auto& v : *all) {
        if (auto it = filters->find("label");
            it != filters->end() && !labels_match(it->second, v.labels))
          continue;
        out.push_back(volume_json(v));
      }
      return json_response(200, {{"Volumes", out}, {"Warnings", json::array()}});
    }
    if (parts.size() == 2 && parts[1] == "create" && m == "POST") {
      json j = body.empty() ? json::object() : json::parse(body);
      std::map<std::string, std::string> labels, opts;
      if (auto it = j.find("Labels"); it != j.end() && it->is_object())
        labels = it->get<std::map<std::string, std::string>>();
      if (auto it = j.find("DriverOpts"); it != j.end() && it->is_object())
        opts = it->get<std::map<std::string, std::string>>();
      std::string driver = j.value("Driver", "local");
      if (!driver.empty() && driver != "local")
        return error_response(400, fmt::format("Driver '{}' is not supported: only local", driver));
      auto created = engine::create_volume(*e, j.value("Name", ""), labels, opts);
      if (!created) return error_response(created.error());
      return json_response(201, volume_json(*created));
    }
    if (parts.size() == 2) {
      if (m == "GET") {
        auto v = engine::get_volume(*e, parts[1]);
        if (!v) return error_response(no_such(v.error(), "volume", parts[1]));
        return json_response(200, volume_json(*v));
      }
      if (m == "DELETE") {
        if (auto v = engine::get_volume(*e, parts[1]); !v)
          return error_response(no_such(v.error(), "volume", parts[1]));
        if (auto done = engine::remove_volume(*e, parts[1], query_flag(r, "force")); !done)
          return error_response(done.error());
        return empty_response(204);
      }
    }
    return error_response(404, fmt::format("page not found: {} {}", m, r.path));
  }

  const ServeOptions& options_;
  std::mutex held_mutex_;
  std::multiset<std::string> held_;
};

}  // namespace

Result<void> serve(const ServeOptions& options) {
  DockerApi api(options);
  http::ServerOptions so;
  so.unix_socket = options.socket;
  so.idle_exit_ms = options.idle_exit_ms;
  auto dir = options.socket.substr(0, options.socket.rfind('/'));
  if (!dir.empty() && !sys::exists(dir)) BERTH_TRY_VOID(sys::mkdir_all(dir, 0711));
  BERTH_TRY(auto server, http::Server::listen(so, api));
  if (options.on_listening) options.on_listening(server->address());
  bool stop = false;
  std::mutex mutex;
  std::condition_variable wake;
  std::thread reaper([&] { api.reap_until(stop, mutex, wake); });
  auto served = server->run();
  {
    std::lock_guard lock(mutex);
    stop = true;
  }
  wake.notify_all();
  reaper.join();
  return served;
}

}  // namespace berth::api
