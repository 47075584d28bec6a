// api/container_routes.cc — /containers/...: lifecycle, list, create, wait, logs.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/utsname.h>
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
#include "engine/container_watch.h"
#include "engine/images.h"
#include "engine/networks.h"

namespace berth::api::detail {

// --- containers ---------------------------------------------------------------------------

ServerResponse DockerApi::containers(const std::string& m, const std::vector<std::string>& parts,
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
    return lifecycle(id, [this](engine::Engine& e, const engine::ContainerRecord& c) -> Result<int> {
      if (c.running()) return 304;
      auto started = engine::start_container(e, c.id);
      if (started) {
        if (started->monitor_pid) adopt_monitor(static_cast<pid_t>(*started->monitor_pid));
        return 204;
      }
      if (c.config.labels.count(kAutoRemoveLabel)) remove_failed_start(e, c.id);
      return std::move(started).error();
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
    return lifecycle(id,
                     [this, t](engine::Engine& e, const engine::ContainerRecord& c) -> Result<int> {
                       BERTH_TRY_VOID(engine::stop_container(e, c.id, t));
                       BERTH_TRY(auto started, engine::start_container(e, c.id));
                       if (started.monitor_pid)
                         adopt_monitor(static_cast<pid_t>(*started.monitor_pid));
                       return 204;
                     });
  }
  if (action == "kill" && m == "POST") {
    auto signal = parse_signal(r.query_value("signal").value_or("SIGKILL"));
    if (!signal) return error_response(signal.error());
    int sig = *signal;
    return lifecycle(id, [sig, id](engine::Engine& e, const engine::ContainerRecord& c) -> Result<int> {
      if (!c.running())
        return Error::make(ErrorKind::failed_precondition,
                           "Cannot kill container: {}: Container {} is not running", id, c.id);
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
  if (action == "wait" && m == "POST") {
    // docker attach asks with an empty condition: docker's default.
    std::string condition = r.query_value("condition").value_or("");
    return wait_container(id, condition.empty() ? "not-running" : condition);
  }
  if (action == "logs" && m == "GET") return logs(id, r);
  if (action == "attach" && m == "POST") return attach(id, r);
  if (action == "resize" && m == "POST") return resize(id, r);
  if (action == "update" && m == "POST") return update(id, body);
  if (action == "exec" && m == "POST") return exec_create(id, body);
  if (action == "top" && m == "GET") return top(id, r);
  if (action == "stats" && m == "GET") return stats(id, r);
  if (action == "changes" && m == "GET") return changes(id);
  if (action == "export" && m == "GET") return export_container(id);
  return error_response(404, fmt::format("page not found: {} {}", m, r.path));
}

Result<int> DockerApi::parse_signal(const std::string& text) {
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
ServerResponse DockerApi::lifecycle(
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

ServerResponse DockerApi::list_containers(const ServerRequest& r) {
  auto filters = parse_filters(r.query_value("filters").value_or(""),
                               {"label", "name", "status", "id", "ancestor"});
  if (!filters) return error_response(filters.error());
  auto e = open();
  if (!e) return error_response(e.error());
  auto all = engine::list_containers(*e);
  if (!all) return error_response(all.error());
  bool show_all = query_flag(r, "all"), with_size = query_flag(r, "size");
  // Docker's ImageID is the image's config digest; berth records the manifest's. Sizes for -s.
  std::map<std::string, std::pair<std::string, int64_t>> image_ids;
  if (auto images = engine::list_images(*e))
    for (const auto& i : *images) image_ids[i.id] = {i.config_digest, i.size};
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
    if (!any_of("name", [&](const std::string& n) { return c.name.find(n) != std::string::npos; }))
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
    // As dockerd: a container without a network of its own is on "none" (or "host").
    if (c.config.network == "none" || c.config.network == "host")
      networks[c.config.network] = {{"NetworkID", ""}, {"IPAddress", ""}, {"Gateway", ""},
                                    {"IPPrefixLen", 0}, {"MacAddress", ""}};
    json mounts = json::array();
    for (const auto& v : c.config.volumes)
      mounts.push_back({{"Type", v.is_bind() ? "bind" : "volume"},
                        {"Name", v.is_bind() ? "" : v.source},
                        {"Source", v.is_bind() ? v.source : e->layout.volume_data(v.source)},
                        {"Destination", v.destination},
                        {"RW", !v.read_only}});
    auto image = image_ids.find(c.image_id);
    out.push_back({{"Id", c.id},
                   {"Names", {"/" + c.name}},
                   {"Image", c.config.image},
                   {"ImageID", image == image_ids.end() ? c.image_id : image->second.first},
                   {"Command", command_text(c)},
                   {"Created", c.created / 1'000'000'000},
                   {"Ports", ports},
                   {"Labels", c.config.labels},
                   {"State", c.state},
                   {"Status", status_text(c)},
                   {"HostConfig", {{"NetworkMode", c.config.network}}},
                   {"NetworkSettings", {{"Networks", networks}}},
                   {"Mounts", mounts}});
    if (with_size) {
      int64_t rw = engine::file_bytes(c.layer_dir + "/upper");
      out.back()["SizeRw"] = rw;
      out.back()["SizeRootFs"] = rw + (image == image_ids.end() ? 0 : image->second.second);
    }
  }
  return json_response(200, out);
}

ServerResponse DockerApi::create_container(const ServerRequest& r, const std::string& body) {
  auto config = container_config_from_json(body);
  if (!config) return error_response(config.error());
  std::string name = r.query_value("name").value_or("");
  if (name.starts_with("/")) name.erase(0, 1);
  if (config->auto_remove) {
    config->auto_remove = false;
    config->ephemeral = true;
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

void DockerApi::remove_failed_start(engine::Engine& e, const std::string& id) {
  (void)engine::remove_container(e, id, true, true);
  // dockerd answers the client's wait (posted before the start) first: docker run --rm then
  // reports the start's error alone, not also "error waiting for container: context canceled".
  (void)wait_released(id + "/wait", 2'000);
}

ServerResponse DockerApi::wait_container(const std::string& id, const std::string& condition) {
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
    engine::ExitWaiter waiter(*found);  // this thread records the exit (and removes an AutoRemove)
    struct Release {
      DockerApi& api;
      std::string id;
      ~Release() { api.hold(id + "/wait", -1); }
    } release{*this, full_id};
    json answer = {{"StatusCode", 0}, {"Error", nullptr}};
    // Woken by the container's changes (its start, its monitor's end), not by a polling clock:
    // docker run --rm waits here between its start and its exit.
    engine::ContainerWatch watch(e->layout, *found, false);
    const int timeout_ms = watch.watching() ? 1000 : 50;
    // next-exit and removed on a container not started yet: until it has run.
    if (condition != "not-running")
      for (;;) {
        auto c = engine::find_container(*e, full_id);
        if (!c || c->state != "created") break;
        if (watch.wait(timeout_ms, fd) == engine::ContainerWatch::Wake::reader_gone) return;
      }
    // A client that leaves ends its wait (the engine's wait blocks until the exit, holding the
    // container's lock file and the engine open); an auto-remove container is then the reaper's.
    for (;;) {
      auto c = engine::find_container(*e, full_id);
      if (!c || !c->running()) break;
      if (watch.wait(timeout_ms, fd) == engine::ContainerWatch::Wake::reader_gone) return;
    }
    auto code = engine::wait_container(*e, full_id);
    if (code)
      answer["StatusCode"] = *code;
    else if (code.error().kind() != ErrorKind::not_found)
      answer["Error"] = {{"Message", code.error().message()}};
    if (auto_remove) {
      // Let an attached client read the last output first (at most 5 s).
      (void)wait_released(full_id + "/attach", 5'000);
      (void)engine::remove_container(*e, full_id, true, true);
    }
    if (condition == "removed")
      while (engine::find_container(*e, full_id))
        if (watch.wait(timeout_ms, fd) == engine::ContainerWatch::Wake::reader_gone) break;
    (void)sys::write_all(fd, answer.dump() + "\n");
  };
  return r;
}

// Sends the container's log as `logs` and `attach` do: framed unless it has a terminal.
engine::LogSink DockerApi::framed_sink(int fd, bool tty, StreamChoice which) {
  return [fd, tty, which](bool is_err, std::string_view text) {
    if (is_err ? !which.err : !which.out) return true;
    std::string bytes = tty ? std::string(text) : frame_stream(is_err ? 2 : 1, text);
    return sys::write_all(fd, bytes).ok();
  };
}

ServerResponse DockerApi::logs(const std::string& id, const ServerRequest& r) {
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
    if (!sys::write_all(fd, response_head(200, {{"Content-Type", type}, {"Connection", "close"}})))
      return;
    auto e = open();
    if (!e) return;
    engine::LogOptions following = lo;
    following.reader_fd = fd;
    (void)engine::read_logs(*e, id, following, framed_sink(fd, tty, which));
  };
  return resp;
}

}  // namespace berth::api::detail
