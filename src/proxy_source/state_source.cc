// proxy_source/state_source.cc — berth's containers into routing tables, followed with inotify.
#include "proxy_source/state_source.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <charconv>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/log.h"
#include "base/sys.h"
#include "base/unique_fd.h"
#include "engine/containers.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "monitor/protocol.h"

namespace berth::proxy_source {
namespace {

constexpr const char* kLabelProject = "com.docker.compose.project";
constexpr const char* kLabelService = "com.docker.compose.service";

// Exposed tcp ports by image id: read once per image a source sees.
class ImagePorts {
 public:
  std::vector<int> of(engine::Engine& engine, const std::string& image_id) {
    auto found = cache_.find(image_id);
    if (found != cache_.end()) return found->second;
    std::vector<int> ports;
    if (auto image = engine::get_image(engine, image_id))
      if (auto content = engine::read_image(engine, *image))
        for (const auto& exposed : content->config.config.exposed_ports) {
          // "80/tcp", "53/udp", "8080"
          auto slash = exposed.find('/');
          if (slash != std::string::npos && exposed.substr(slash + 1) != "tcp") continue;
          int port = 0;
          auto text = std::string_view(exposed).substr(0, slash);
          auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
          if (ec == std::errc() && end == text.data() + text.size() && port > 0 && port < 65536) ports.push_back(port);
        }
    cache_[image_id] = ports;
    return ports;
  }

 private:
  std::map<std::string, std::vector<int>> cache_;
};

// `running_dirs`, when given, gets each running container's directory (its monitor's files).
Result<std::vector<proxy::ContainerView>> views(engine::Engine& engine, const std::string& project,
                                                ImagePorts& images, std::set<std::string>* running_dirs = nullptr) {
  BERTH_TRY(auto records, engine::list_containers(engine));
  std::vector<proxy::ContainerView> out;
  for (const auto& r : records) {
    if (r.state == "removed" || r.state == "removing") continue;
    const auto& labels = r.config.labels;
    auto label = [&](const char* key) {
      auto it = labels.find(key);
      return it == labels.end() ? std::string() : it->second;
    };
    if (!project.empty() && label(kLabelProject) != project) continue;
    proxy::ContainerView v;
    v.id = r.id;
    v.name = r.name;
    v.project = label(kLabelProject);
    v.service = label(kLabelService);
    v.labels = labels;
    v.env = r.config.env;
    v.has_health_check = !r.config.health_command.empty();
    v.health = r.health;
    // A paused container answers nothing; a restarting one has no process yet.
    v.running = r.state == "running";
    v.stopping = v.running && sys::exists(r.dir + "/" + monitor::kStopRequestFile);
    if (v.running && running_dirs) running_dirs->insert(r.dir);
    if (v.running) {
      BERTH_TRY(auto endpoints, engine::container_endpoints(engine, r.id));
      std::sort(endpoints.begin(), endpoints.end(),
                [](const auto& a, const auto& b) { return a.position < b.position; });
      for (const auto& e : endpoints)
        if (!e.ip.empty()) v.addresses.push_back({e.network, e.ip});
    }
    bool routed = false;
    for (const auto& [k, _] : labels) routed |= k.starts_with("berth.proxy.");
    for (const auto& e : v.env) routed |= e.starts_with("VIRTUAL_HOST=");
    if (routed) v.exposed_ports = images.of(engine, r.image_id);
    out.push_back(std::move(v));
  }
  return out;
}

std::string problems_fingerprint(const proxy::LabelRoutes& routes) {
  std::string out;
  for (const auto& p : routes.problems) out += p.text() + "\n";
  for (const auto& c : routes.conflicts) out += c.text() + "\n";
  return out;
}

// Wakes poll() when a stop is requested.
class StopEvent {
 public:
  explicit StopEvent(std::stop_token stop)
      : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), callback_(std::move(stop), [this] {
          uint64_t one = 1;
          (void)!::write(fd_.get(), &one, sizeof one);
        }) {}
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::stop_callback<std::function<void()>> callback_;
};

// The watches: the root directory (berth.db and its WAL) and each running container's directory.
class Watcher {
 public:
  static Result<Watcher> open(const std::string& root) {
    Watcher w;
    w.fd_ = UniqueFd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!w.fd_) return Error::from_errno("inotify_init1");
    w.root_wd_ = ::inotify_add_watch(w.fd_.get(), root.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO);
    if (w.root_wd_ < 0) return Error::from_errno("watch '{}'", root);
    return w;
  }
  int fd() const { return fd_.get(); }

  // Watches exactly these container directories.
  void follow(const std::set<std::string>& dirs) {
    for (auto it = dirs_.begin(); it != dirs_.end();) {
      if (!dirs.contains(it->first)) {
        (void)::inotify_rm_watch(fd_.get(), it->second);
        it = dirs_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& dir : dirs) {
      if (dirs_.contains(dir)) continue;
      int wd = ::inotify_add_watch(fd_.get(), dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE);
      if (wd >= 0) dirs_[dir] = wd;
    }
  }

  // Reads what is queued; true when any of it can change the table.
  bool drain() {
    alignas(inotify_event) char buffer[8192];
    bool relevant = false;
    for (;;) {
      ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
      if (n <= 0) break;
      for (char* p = buffer; p < buffer + n;) {
        auto* e = reinterpret_cast<inotify_event*>(p);
        std::string_view name = e->len ? std::string_view(e->name) : std::string_view();
        if (e->mask & IN_Q_OVERFLOW) relevant = true;
        else if (e->wd == root_wd_) relevant |= name == "berth.db-wal" || name == "berth.db";
        else relevant |= name == monitor::kHealthFile || name == monitor::kStopRequestFile;
        p += sizeof(inotify_event) + e->len;
      }
    }
    return relevant;
  }

 private:
  UniqueFd fd_;
  int root_wd_ = -1;
  std::map<std::string, int> dirs_;
};

}  // namespace

Result<std::vector<proxy::ContainerView>> container_views(engine::Engine& engine, const std::string& project) {
  ImagePorts images;
  return views(engine, project, images);
}

Result<proxy::LabelRoutes> routes_from_state(engine::Engine& engine, const std::string& project) {
  BERTH_TRY(auto containers, container_views(engine, project));
  return proxy::routes_from_containers(containers);
}

std::string table_fingerprint(const proxy::RouteTable& table) {
  std::string out;
  for (const auto& r : table.routes) {
    std::vector<std::string> headers;
    for (const auto& [k, v] : r.match.headers) headers.push_back(k + ":" + v);
    out += fmt::format("route {}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}\n", r.service, r.entrypoint,
                       static_cast<int>(r.mode), fmt::join(r.match.hosts, ","), r.match.path_prefix,
                       r.match.path_glob, fmt::join(r.match.methods, ","), fmt::join(headers, ","), r.priority,
                       r.tls, r.redirect_https, static_cast<int>(r.balance), r.sticky_cookie,
                       static_cast<int>(r.check.kind), r.check.path, r.check.interval_ms, r.check.timeout_ms,
                       r.check.rise, r.check.fall);
    for (const auto& b : r.backends)
      out += fmt::format("  {}|{}|{}|{}|{}|{}\n", b.id, b.name, b.address, b.weight, b.healthy, b.draining);
  }
  return out;
}

Result<void> StateSource::run(const std::function<void(proxy::RouteTable)>& publish, std::stop_token stop) {
  BERTH_TRY(auto engine, engine::Engine::open(options_.layout, options_.programs));
  BERTH_TRY(auto watcher, Watcher::open(options_.layout.root));
  StopEvent stop_event(stop);
  ImagePorts images;
  uint64_t generation = 0;
  std::string last_table, last_problems;
  bool published = false;

  auto rebuild = [&]() {
    std::set<std::string> dirs;
    auto containers = views(engine, options_.project, images, &dirs);
    if (!containers) {
      log::warn(fmt::format("proxy: read berth's containers: {}", containers.error().message()));
      return;
    }
    watcher.follow(dirs);
    auto routes = proxy::routes_from_containers(*containers);
    std::string problems = problems_fingerprint(routes);
    if (problems != last_problems) {
      last_problems = problems;
      if (options_.on_problems) options_.on_problems(routes);
    }
    std::string fingerprint = table_fingerprint(routes.table);
    if (published && fingerprint == last_table) return;
    last_table = std::move(fingerprint);
    published = true;
    routes.table.generation = ++generation;
    publish(std::move(routes.table));
  };

  rebuild();
  while (!stop.stop_requested()) {
    pollfd fds[2] = {{watcher.fd(), POLLIN, 0}, {stop_event.fd(), POLLIN, 0}};
    int n = ::poll(fds, 2, options_.poll_ms);
    if (n < 0 && errno != EINTR) return Error::from_errno("poll");
    if (stop.stop_requested()) break;
    if (n > 0 && (fds[0].revents & POLLIN)) {
      if (!watcher.drain()) continue;
      // A start or a stop is several writes in a row: take them in one rebuild.
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.coalesce_ms));
      (void)watcher.drain();
    }
    rebuild();
  }
  return {};
}

}  // namespace berth::proxy_source
