// api/system_routes.cc — _ping, version, info, events, system/df.
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
#include "engine/events.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "engine/volumes.h"

namespace berth::api::detail {

// --- system -------------------------------------------------------------------------------

ServerResponse DockerApi::ping() {
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

std::string DockerApi::kernel() {
  struct utsname u {};
  ::uname(&u);
  return u.release;
}

ServerResponse DockerApi::version() {
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

ServerResponse DockerApi::info() {
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
       // v2 when /sys/fs/cgroup is cgroup2 (a hybrid host's controllers are on v1), as the
       // runtime decides; swap is limited where the kernel accounts it.
       {"SwapLimit", sys::exists("/sys/fs/cgroup/cgroup.controllers")
                         ? true
                         : sys::exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")},
       {"CgroupDriver", "cgroupfs"},
       {"CgroupVersion", sys::exists("/sys/fs/cgroup/cgroup.controllers") ? "2" : "1"},
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

namespace {

// Docker's since/until: unix seconds, with an optional fraction ("1700000000.5"); ns.
std::optional<int64_t> unix_time_ns(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  char* end = nullptr;
  double seconds = std::strtod(text->c_str(), &end);
  if (*end || seconds < 0) return std::nullopt;
  return static_cast<int64_t>(seconds * 1e9);
}

}  // namespace

// The event log as docker streams it: one JSON line per event, oldest first; from `since` (or
// from now), until `until` (or for ever), filtered by type, container, image, event, label,
// volume.
ServerResponse DockerApi::events(const ServerRequest& r) {
  auto filters = parse_filters(r.query_value("filters").value_or(""),
                               {"type", "event", "container", "image", "volume", "label"});
  if (!filters) return error_response(filters.error());
  std::vector<std::string> flat;
  for (const auto& [key, values] : *filters)
    for (const auto& v : values) flat.push_back(key + "=" + v);
  auto filter = engine::EventFilter::parse(flat);
  if (!filter) return error_response(filter.error());
  for (const char* name : {"since", "until"})
    if (auto text = r.query_value(name); text && !text->empty() && !unix_time_ns(text))
      return error_response(
          400, fmt::format("{} '{}': give a unix time in seconds (1700000000.5)", name, *text));
  filter->since = unix_time_ns(r.query_value("since"));
  filter->until = unix_time_ns(r.query_value("until"));
  ServerResponse resp;
  resp.takeover = [this, filter = *filter](UniqueFd socket) {
    int fd = socket.get();
    if (!sys::write_all(fd, response_head(200, {{"Content-Type", "application/json"},
                                                {"Connection", "close"}})))
      return;
    auto e = open();
    if (!e) return;
    // Without since, docker streams only what happens from now on.
    int64_t after = 0;
    if (!filter.since) {
      auto last = e->db.query_int64("SELECT max(seq) FROM events");
      if (!last) return;
      after = last->value_or(0);
    }
    // Woken by commits to berth.db (an event is recorded with its change), not by a polling
    // clock; once a second without any, a look at the containers records what only their
    // directories show (a monitor that died: no daemon tells anyone).
    engine::ContainerWatch watch(e->layout);
    for (;;) {
      auto events = engine::read_events(e->db, after, filter);
      if (!events) return;
      for (const auto& ev : *events) {
        after = std::max(after, ev.seq);
        if (!sys::write_all(fd, engine::event_json(ev) + "\n")) return;
      }
      int64_t now = clock::now_ns();
      if (filter.until && now > *filter.until) return;
      int timeout_ms = watch.watching() ? 1000 : 100;
      if (filter.until) timeout_ms = static_cast<int>(std::clamp<int64_t>((*filter.until - now) / 1'000'000 + 1, 1, timeout_ms));
      auto woke = watch.wait(timeout_ms, fd);
      if (woke == engine::ContainerWatch::Wake::reader_gone) return;
      if (woke == engine::ContainerWatch::Wake::timeout) (void)engine::list_containers(*e);
    }
  };
  return resp;
}

// docker system df: images, containers and volumes with their sizes (build cache: none kept
// apart, berth's is in its layers).
ServerResponse DockerApi::system_df() {
  auto e = open();
  if (!e) return error_response(e.error());
  auto images = engine::list_images(*e);
  if (!images) return error_response(images.error());
  auto containers = engine::list_containers(*e);
  if (!containers) return error_response(containers.error());
  auto volumes = engine::list_volumes(*e);
  if (!volumes) return error_response(volumes.error());
  int64_t layers = 0;
  json image_rows = json::array(), container_rows = json::array(), volume_rows = json::array();
  for (const auto& i : *images) {
    layers += i.size;
    image_rows.push_back(
        {{"Id", i.config_digest},
         {"ParentId", ""},
         {"RepoTags", i.tags.empty() ? json::array({"<none>:<none>"}) : familiar(i.tags)},
         {"RepoDigests", json::array()},
         {"Created", i.created / 1'000'000'000},
         {"Size", i.size},
         {"SharedSize", 0},
         {"VirtualSize", i.size},
         {"Labels", json::object()},
         {"Containers", i.containers}});
  }
  std::map<std::string, std::string> config_digests;  // docker's ImageID of each manifest
  for (const auto& i : *images) config_digests[i.id] = i.config_digest;
  for (const auto& c : *containers) {
    int64_t rw = engine::file_bytes(c.layer_dir + "/upper");
    container_rows.push_back({{"Id", c.id},
                              {"Names", {"/" + c.name}},
                              {"Image", c.config.image},
                              {"ImageID", config_digests.count(c.image_id) ? config_digests[c.image_id] : c.image_id},
                              {"Command", command_text(c)},
                              {"Created", c.created / 1'000'000'000},
                              {"SizeRw", rw},
                              {"SizeRootFs", rw},
                              {"Labels", c.config.labels},
                              {"State", c.state},
                              {"Status", status_text(c)},
                              {"Mounts", json::array()}});
  }
  for (const auto& v : *volumes)
    volume_rows.push_back(
        {{"Name", v.name},
         {"Driver", v.driver},
         {"Mountpoint", v.mountpoint},
         {"CreatedAt", clock::rfc3339(v.created)},
         {"Labels", v.labels},
         {"Scope", "local"},
         {"Options", v.options},
         {"UsageData",
          {{"Size", engine::disk_usage(v.mountpoint)}, {"RefCount", v.containers.size()}}}});
  return json_response(200, {{"LayersSize", layers},
                             {"Images", image_rows},
                             {"Containers", container_rows},
                             {"Volumes", volume_rows},
                             {"BuildCache", json::array()}});
}

}  // namespace berth::api::detail
