// up, down, scale, start/stop over the engine (show and ls: view.cc).
#include "project/deploy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <latch>
#include <mutex>
#include <set>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "base/sys.h"
#include "base/unique_fd.h"
#include "engine/events.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "engine/proxy_drain.h"
#include "engine/volumes.h"
#include "project/changes.h"
#include "project/detail/crash_point.h"
#include "project/detail/deploy_state.h"
#include "project/detail/json.h"
#include "project/normalise.h"
#include "project/plan.h"
#include "project/proxy.h"
#include "state/lock.h"
#include "state/transaction.h"

namespace berth::project {
namespace {

using nlohmann::json;
using namespace detail;

void say(const Progress& progress, std::string_view line) {
  if (progress) progress(line);
}

Result<state::ObjectLock> lock_project(engine::Engine& engine, const std::string& name) {
  return state::ObjectLock::acquire(engine.layout.locks(), "project", name,
                                    state::ObjectLock::Mode::exclusive);
}

// --- the stored desired state -------------------------------------------------------------------

// A service's new instance count, once its instances are there: an event of type "service",
// action "scale", labelled as the instances are, so that `compose events` and
// `events --filter project=P` show it to dependents that react to membership.
Result<void> record_scale(engine::Engine& engine, const Project& project, const Service& s,
                          int from, int to) {
  std::map<std::string, std::string> attributes = {{"name", s.name},
                                                   {kLabelProject, project.name},
                                                   {kLabelService, s.name},
                                                   {"replicas", std::to_string(to)},
                                                   {"previous", std::to_string(from)}};
  return engine::record_event(engine.db, "service", "scale",
                              fmt::format("{}-{}", project.name, s.name), attributes);
}

// --- containers ---------------------------------------------------------------------------------

std::string format_publish(const PortMapping& p, int k) {
  std::string out;
  if (!p.host_ip.empty()) out += p.host_ip + ":";
  if (p.host_port)
    out += std::to_string(p.host_port == p.host_port_end ? p.host_port : p.host_port + k) + ":";
  else if (!p.host_ip.empty())
    out += ":";
  out += std::to_string(p.container_port + k) + "/" + p.protocol;
  return out;
}

// Names other services' links give this one ("db:database" gives db the name "database").
std::vector<std::string> link_aliases(const Project& project, const Service& service) {
  std::vector<std::string> out;
  for (const auto& s : project.services)
    for (const auto& link : s.links) {
      auto colon = link.find(':');
      if (colon != std::string::npos && link.substr(0, colon) == service.name)
        out.push_back(link.substr(colon + 1));
    }
  return out;
}

// The ordered networks of a service: "default" first, then by name.
std::vector<std::string> networks_of(const Service& service) {
  std::vector<std::string> out;
  if (service.networks.count("default")) out.push_back("default");
  for (const auto& [name, cfg] : service.networks)
    if (name != "default") out.push_back(name);
  return out;
}

engine::ContainerConfig container_config(const Project& project, const Service& s,
                                         const std::string& image, int number,
                                         const std::string& hash) {
  engine::ContainerConfig c;
  c.image = image;
  c.entrypoint = s.entrypoint;
  if (s.command) c.command = *s.command;
  for (const auto& [k, v] : s.environment) c.env.push_back(k + "=" + v);
  c.workdir = s.working_dir;
  c.user = s.user;
  c.hostname = s.hostname;
  for (const auto& m : s.volumes) {
    if (m.type == "tmpfs") {
      c.tmpfs.push_back(m.tmpfs_size ? fmt::format("{}:size={}", m.target, *m.tmpfs_size)
                                     : m.target);
      continue;
    }
    engine::VolumeMount v;
    v.destination = m.target;
    v.read_only = m.read_only;
    v.source = m.type == "bind" ? m.source : m.source.empty() ? "" : volume_name(project, m.source);
    c.volumes.push_back(v);
  }
  for (const auto& t : s.tmpfs) c.tmpfs.push_back(t);
  c.memory = s.memory;
  c.cpus = s.cpus;
  c.pids_limit = s.pids_limit;
  c.read_only = s.read_only;
  c.init = s.init;
  c.tty = s.tty;
  c.interactive = s.stdin_open;
  c.restart = s.restart;
  c.labels = s.labels;
  c.labels[kLabelProject] = project.name;
  c.labels[kLabelService] = s.name;
  c.labels[kLabelNumber] = std::to_string(number);
  c.labels[kLabelOneoff] = "False";
  c.labels[kLabelConfigHash] = hash;
  c.labels[kLabelWorkingDir] = project.working_dir;
  std::string files;
  for (const auto& f : project.config_files) files += (files.empty() ? "" : ",") + f;
  c.labels[kLabelConfigFiles] = files;
  std::string deps;
  for (const auto& d : s.depends_on)
    deps += (deps.empty() ? "" : ",") + d.service + ":" + d.condition + ":" +
            (d.restart ? "true" : "false");
  c.labels[kLabelDependsOn] = deps;
  c.cap_add = s.cap_add;
  c.cap_drop = s.cap_drop;
  c.stop_signal = s.stop_signal;
  if (s.stop_grace_period_ms)
    c.stop_timeout = static_cast<int>((*s.stop_grace_period_ms + 999) / 1000);
  auto nets = networks_of(s);
  if (!nets.empty()) {
    c.network = network_name(project, nets[0]);
    const auto& cfg = s.networks.at(nets[0]);
    c.network_aliases = {s.name, s.name + "." + project.name};
    for (const auto& a : cfg.aliases) c.network_aliases.push_back(a);
    for (const auto& a : link_aliases(project, s)) c.network_aliases.push_back(a);
    c.ip = cfg.ipv4_address;
  }
  for (const auto& p : s.ports)
    for (int k = 0; k < p.count(); ++k) c.publish.push_back(format_publish(p, k));
  if (s.healthcheck && !s.healthcheck->disable) {
    c.health_command = s.healthcheck->test;
    c.health_interval_ms = s.healthcheck->interval_ms;
    c.health_timeout_ms = s.healthcheck->timeout_ms;
    c.health_start_period_ms = s.healthcheck->start_period_ms;
    c.health_retries = s.healthcheck->retries;
  }
  return c;
}

// Polls the instance every 100 ms until `done` gives an answer (an empty optional: keep waiting)
// or `timeout_ms` passes (then `what` says what it was not).
Result<void> wait_for(
    engine::Engine& engine, const std::string& id, int64_t timeout_ms, std::string_view what,
    const std::function<std::optional<Result<void>>(const engine::ContainerRecord&)>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    BERTH_TRY(auto c, engine::find_container(engine, id));
    if (auto answer = done(c)) return std::move(*answer);
    if (std::chrono::steady_clock::now() > deadline)
      return Error::make(ErrorKind::unavailable, "{} is not {} after {} s", c.name, what,
                         timeout_ms / 1000);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Until the instance runs (and, with a health check, is healthy); an exit or a failing check is
// an error with the reason.
Result<void> wait_ready(engine::Engine& engine, const std::string& id, bool healthy,
                        int64_t timeout_ms) {
  return wait_for(engine, id, timeout_ms, "healthy",
                  [&](const engine::ContainerRecord& c) -> std::optional<Result<void>> {
                    if (!c.running() || c.health == "unhealthy")
                      return Result<void>(Error::make(ErrorKind::failed_precondition, "{} {}",
                                                      c.name, describe_failure(engine, c)));
                    if (!healthy || c.config.health_command.empty() || c.health == "healthy")
                      return Result<void>();
                    return std::nullopt;
                  });
}

Result<void> wait_completed(engine::Engine& engine, const std::string& id, int64_t timeout_ms) {
  return wait_for(engine, id, timeout_ms, "completed",
                  [&](const engine::ContainerRecord& c) -> std::optional<Result<void>> {
                    if (c.running() || c.state == "created") return std::nullopt;
                    if (c.exit_code.value_or(1) == 0) return Result<void>();
                    return Result<void>(Error::make(ErrorKind::failed_precondition, "{} {}", c.name,
                                                    describe_failure(engine, c)));
                  });
}

Result<void> remove_instance(engine::Engine& engine, const engine::ContainerRecord& c,
                             std::optional<int> timeout, bool volumes, const Progress& progress) {
  if (c.running()) {
    say(progress, fmt::format("Container {}  Stopping", c.name));
    BERTH_TRY_VOID(
        engine::stop_container(engine, c.id, timeout).context(fmt::format("stop {}", c.name)));
  }
  BERTH_TRY_VOID(engine::remove_container(engine, c.id, true, volumes)
                     .context(fmt::format("remove {}", c.name)));
  say(progress, fmt::format("Container {}  Removed", c.name));
  return {};
}

std::optional<int> stop_timeout_of(const Service& s) {
  if (!s.stop_grace_period_ms) return std::nullopt;
  return static_cast<int>((*s.stop_grace_period_ms + 999) / 1000);
}

// Creates (networks beyond the first connected) and starts one instance.
Result<engine::ContainerRecord> create_instance(engine::Engine& engine, const Project& project,
                                                const Service& s, const std::string& image,
                                                int number, const std::string& hash,
                                                const Progress& progress) {
  std::string name = instance_name(project, s, number);
  auto config = container_config(project, s, image, number, hash);
  say(progress, fmt::format("Container {}  Creating", name));
  BERTH_TRY(auto created,
            engine::create_container(engine, config, name).context(fmt::format("create {}", name)));
  for (const auto& w : created.warnings) log::warn(w);
  const std::string id = created.container.id;
  auto nets = networks_of(s);
  for (size_t i = 1; i < nets.size(); ++i) {
    const auto& cfg = s.networks.at(nets[i]);
    std::vector<std::string> aliases = {s.name, s.name + "." + project.name};
    for (const auto& a : cfg.aliases) aliases.push_back(a);
    auto connected = engine::connect_container(engine, id, network_name(project, nets[i]), aliases,
                                               cfg.ipv4_address);
    if (!connected) {
      (void)engine::remove_container(engine, id, true, true);
      return std::move(connected).error().context(
          fmt::format("create {}: network {}", name, nets[i]));
    }
  }
  return created.container;
}

Result<engine::ContainerRecord> start_instance(engine::Engine& engine, const std::string& id,
                                               const std::string& name, const Progress& progress) {
  say(progress, fmt::format("Container {}  Starting", name));
  BERTH_TRY(auto started,
            engine::start_container(engine, id).context(fmt::format("start {}", name)));
  say(progress, fmt::format("Container {}  Started", name));
  return started;
}

// One changed instance replaced; on failure the old one is back as it was. Start-first renames
// the old instance aside and removes it once the new one is ready; stop-first (a fixed host
// port, which even a stopped container keeps reserved) removes it first and, to roll back,
// creates it again from its recorded configuration.
Result<void> replace_instance(engine::Engine& engine, const Project& project, const Service& s,
                              const std::string& image, const engine::ContainerRecord& old,
                              int number, const std::string& hash, const Progress& progress) {
  bool first = start_first(s);
  for (const auto& [n, cfg] : s.networks) first &= cfg.ipv4_address.empty();
  std::string aside = fmt::format("{}-old-{}", old.name, old.id.substr(0, 12));
  bool was_running = old.running();
  say(progress,
      fmt::format("Container {}  Recreating ({})", old.name, first ? "start-first" : "stop-first"));
  if (first) {
    BERTH_TRY_VOID(engine::rename_container(engine, old.id, aside));
  } else {
    BERTH_TRY_VOID(remove_instance(engine, old, stop_timeout_of(s), false, {}));
  }
  detail::crash_point("compose-up:after-old-aside");
  auto restore = [&](const std::string& new_id, const Error& why) -> Error {
    if (!new_id.empty()) (void)engine::remove_container(engine, new_id, true, true);
    Result<void> back;
    if (first) {
      back = engine::rename_container(engine, old.id, old.name);
    } else {
      auto again = engine::create_container(engine, old.config, old.name);
      if (!again)
        back = std::move(again).error();
      else if (was_running)
        if (auto started = engine::start_container(engine, again->container.id); !started)
          back = std::move(started).error();
    }
    if (!back)
      return Error::make(why.kind(),
                         "update of {} failed: {}; restoring the old instance failed too: {}",
                         old.name, why.message(), back.error().message());
    return Error::make(why.kind(), "update of {} failed, rolled back: {}", old.name, why.message());
  };
  auto created = create_instance(engine, project, s, image, number, hash, progress);
  if (!created) return restore("", created.error());
  auto started = start_instance(engine, created->id, created->name, progress);
  if (!started) return restore(created->id, started.error());
  detail::crash_point("compose-up:after-replacement-start");
  if (auto ready = wait_ready(engine, created->id, true, 120'000); !ready)
    return restore(created->id, ready.error());
  if (first) {
    // The old instance serves until every proxy that routes it has the new one up: a single
    // instance would otherwise leave a proxy with nothing to send to (503) for a moment.
    if (was_running) engine::wait_up_in_proxies(engine.layout, old.id, created->id, 30'000);
    if (was_running)
      if (auto stopped = engine::stop_container(engine, old.id, stop_timeout_of(s)); !stopped)
        log::warn(stopped.error().message());
    BERTH_TRY_VOID(engine::remove_container(engine, old.id, true, false)
                       .context(fmt::format("remove {}", aside)));
  }
  say(progress, fmt::format("Container {}  Recreated", old.name));
  return {};
}

// Fixed host ports the project wants that someone else holds: a container outside the project,
// or a host process. Found before anything changes.
//
// The project's own instances release their ports when `up` replaces them: those of the service
// itself, and those of the other services it updates. Instances that stay (another service not in
// this `up`, an orphan kept without --remove-orphans, a `run` container) hold theirs.
Result<void> check_host_ports(engine::Engine& engine, const Project& project,
                              const std::vector<engine::ContainerRecord>& all,
                              const std::vector<std::string>& services, bool remove_orphans) {
  // (proto, ip, port) → what holds it
  std::map<std::tuple<std::string, std::string, int>, std::string> held;
  std::set<std::tuple<std::string, std::string, int>> ours;
  for (const auto& c : all) {
    auto ports = engine::container_ports(engine, c.id);
    if (!ports) continue;
    std::string holder = c.name;
    bool released = false;
    if (label_of(c, kLabelProject) == project.name) {
      std::string service = label_of(c, kLabelService);
      bool oneoff = label_of(c, kLabelOneoff) == "True";
      bool updated = std::find(services.begin(), services.end(), service) != services.end();
      if (!project.service(service) && !oneoff) {
        released = remove_orphans;
        holder =
            fmt::format("{} (service {} is no longer in the files: --remove-orphans removes it)",
                        c.name, service);
      } else {
        released = updated && !oneoff;
      }
    }
    for (const auto& p : *ports) {
      auto key = std::make_tuple(p.protocol, p.host_ip, p.host_port);
      if (released)
        ours.insert(key);
      else
        held[key] = holder;
    }
  }
  for (const auto& name : services) {
    const Service* s = project.service(name);
    for (const auto& p : s->ports) {
      if (!p.host_port) continue;
      for (int port = p.host_port; port <= p.host_port_end; ++port) {
        std::string ip = p.host_ip.empty() ? "0.0.0.0" : p.host_ip;
        for (const auto& [key, holder] : held) {
          auto& [proto, hip, hport] = key;
          if (proto == p.protocol && hport == port &&
              (hip == ip || hip == "0.0.0.0" || ip == "0.0.0.0"))
            return Error::make(ErrorKind::already_exists, "services.{}.ports: {}:{} is held by {}",
                               s->name, ip, port, holder);
        }
        if (ours.count({p.protocol, ip, port}) || ours.count({p.protocol, "0.0.0.0", port}))
          continue;
        // A host process: try to bind it.
        UniqueFd fd(
            ::socket(AF_INET, (p.protocol == "udp" ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
        if (!fd) continue;
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
        if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
            errno == EADDRINUSE)
          return Error::make(ErrorKind::already_exists,
                             "services.{}.ports: {}:{}/{} is held by a process on the host",
                             s->name, ip, port, p.protocol);
      }
    }
  }
  return {};
}

Result<void> ensure_networks(engine::Engine& engine, const Project& project,
                             const std::set<std::string>& used, const Progress& progress) {
  for (const auto& n : project.networks) {
    if (!used.count(n.name)) continue;
    std::string name = network_name(project, n.name);
    auto found = engine::find_network(engine, name);
    if (found) continue;
    if (n.external)
      return Error::make(ErrorKind::not_found, "network {} is external but does not exist", name)
          .with_hint(fmt::format("create it: berth network create {}", name));
    engine::NetworkOptions o;
    o.name = name;
    o.subnet = n.subnet;
    o.gateway = n.gateway;
    o.internal = n.internal;
    o.labels = n.labels;
    o.labels[kLabelProject] = project.name;
    o.labels[kLabelNetwork] = n.name;
    BERTH_TRY_VOID(
        engine::create_network(engine, o).context(fmt::format("create network {}", name)));
    say(progress, fmt::format("Network {}  Created", name));
  }
  return {};
}

Result<void> ensure_volumes(engine::Engine& engine, const Project& project,
                            const std::vector<std::string>& services, const Progress& progress) {
  std::set<std::string> done;
  for (const auto& sname : services) {
    for (const auto& m : project.service(sname)->volumes) {
      if (m.type == "bind") {
        if (!sys::exists(m.source)) BERTH_TRY_VOID(sys::mkdir_all(m.source, 0755));
        continue;
      }
      if (m.type != "volume" || m.source.empty() || !done.insert(m.source).second) continue;
      std::string name = volume_name(project, m.source);
      const Volume* v = project.volume(m.source);
      if (engine::get_volume(engine, name)) continue;
      if (v && v->external)
        return Error::make(ErrorKind::not_found, "volume {} is external but does not exist", name);
      std::map<std::string, std::string> labels =
          v ? v->labels : std::map<std::string, std::string>{};
      labels[kLabelProject] = project.name;
      labels[kLabelVolume] = m.source;
      BERTH_TRY_VOID(engine::create_volume(engine, name, labels)
                         .context(fmt::format("create volume {}", name)));
      say(progress, fmt::format("Volume {}  Created", name));
    }
  }
  return {};
}

// The image a service runs, built first when needed. not_found names the image.
Result<std::string> resolve_image(engine::Engine& engine, const Project& project, const Service& s,
                                  const UpOptions& options, std::string& image_id) {
  std::string image = image_name(project, s);
  auto found = engine::find_image(engine, image);
  if (s.build && (options.build || !found)) {
    if (!options.build_image) return Error(ErrorKind::unsupported, "no builder");
    BuildRequest request{project.name, s.name, *s.build, image};
    BERTH_TRY(image,
              options.build_image(request).context(fmt::format("service {}: build", s.name)));
    found = engine::find_image(engine, image);
  }
  if (!found && !s.build && options.pull_image) {
    auto pulled = options.pull_image(image);
    if (!pulled && pulled.error().kind() != ErrorKind::not_found)
      return std::move(pulled).error().context(fmt::format("service {}: pull {}", s.name, image));
    found = engine::find_image(engine, image);
  }
  if (!found)
    return Error::make(ErrorKind::not_found, "service {}: image {} not found", s.name, image)
        .with_hint(fmt::format("pull it first: berth pull {}", image));
  image_id = found->id;
  return image;
}

}  // namespace

Result<std::vector<engine::ContainerRecord>> project_containers(
    engine::Engine& engine, const std::string& name, const std::vector<std::string>& services) {
  BERTH_TRY(auto all, engine::list_containers(engine));
  std::vector<engine::ContainerRecord> out;
  for (auto& c : all) {
    if (label_of(c, kLabelProject) != name) continue;
    if (!services.empty() &&
        std::find(services.begin(), services.end(), label_of(c, kLabelService)) == services.end())
      continue;
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    auto sa = label_of(a, kLabelService), sb = label_of(b, kLabelService);
    return sa != sb                       ? sa < sb
           : number_of(a) != number_of(b) ? number_of(a) < number_of(b)
                                          : a.name < b.name;
  });
  return out;
}

namespace {

// Waits for the conditions of a service's depends_on (service_healthy, _completed_successfully)
// on the dependencies' instances; service_started needs nothing more than their start.
Result<void> wait_dependencies(engine::Engine& engine, const Project& project, const Service& s,
                               const Progress& progress, int64_t timeout_ms) {
  for (const auto& d : s.depends_on) {
    if (!project.service(d.service)) continue;
    BERTH_TRY(auto deps, project_containers(engine, project.name, {d.service}));
    for (const auto& dc : deps) {
      Result<void> ok;
      if (d.condition == "service_healthy") {
        say(progress, fmt::format("Container {}  Waiting", dc.name));
        ok = wait_ready(engine, dc.id, true, timeout_ms);
      } else if (d.condition == "service_completed_successfully") {
        say(progress, fmt::format("Container {}  Waiting", dc.name));
        ok = wait_completed(engine, dc.id, timeout_ms);
      }
      if (!ok)
        return Error::make(ok.error().kind(), "service {} waits for {} ({}): {}", s.name, d.service,
                           d.condition, ok.error().message());
    }
  }
  return {};
}

// The services `up` deploys, in start order: all, the ones named, or those and their dependencies.
Result<std::vector<std::string>> up_targets(const Project& project, const UpOptions& options) {
  std::vector<std::string> targets;
  if (options.services.empty() || options.no_deps) {
    if (options.services.empty()) {
      BERTH_TRY(targets, start_order(project));
    } else {
      BERTH_TRY(auto order, start_order(project));
      for (const auto& n : order)
        if (std::find(options.services.begin(), options.services.end(), n) !=
            options.services.end())
          targets.push_back(n);
      for (const auto& n : options.services)
        if (!project.service(n))
          return Error::make(ErrorKind::invalid_argument, "no such service: {}", n);
    }
  } else {
    BERTH_TRY(targets, with_dependencies(project, options.services));
  }
  return targets;
}

// Each service's instance count: the files', or --scale's (checked: a fixed host port or a
// container_name allows one instance only).
Result<std::map<std::string, int>> up_replicas(const Project& project, const UpOptions& options) {
  std::map<std::string, int> replicas;
  for (const auto& s : project.services) replicas[s.name] = s.replicas;
  for (const auto& [name, n] : options.scale) {
    const Service* s = project.service(name);
    if (!s)
      return Error::make(ErrorKind::invalid_argument, "--scale {}={}: no such service", name, n);
    if (n > 1 &&
        (!s->container_name.empty() ||
         std::any_of(s->ports.begin(), s->ports.end(), [](auto& p) { return p.host_port != 0; })))
      return Error::make(
          ErrorKind::invalid_argument,
          "--scale {}={}: the service {} so only one instance can run; drop the fixed host port "
          "(\"80\" instead of \"8080:80\") to scale it",
          name, n,
          s->container_name.empty() ? "publishes a fixed host port" : "has a container_name");
    replicas[name] = n;
  }

  return replicas;
}

// Changed instances, `parallelism` at a time (0: all at once), each batch on its own threads
// with a database connection each; `delay` between batches. The first failure ends it unless
// update_config's failure_action is "continue".
Result<void> replace_in_batches(engine::Engine& engine, const Project& project, const Service& s,
                                const std::string& image, const std::string& hash,
                                const std::vector<const Step*>& changed,
                                const std::function<const engine::ContainerRecord*(const std::string&)>& record_of,
                                const UpOptions& options) {
  size_t batch = s.update_config.parallelism <= 0
                     ? changed.size()
                     : static_cast<size_t>(s.update_config.parallelism);
  for (size_t first = 0; first < changed.size(); first += batch) {
    size_t last = std::min(changed.size(), first + batch);
    std::vector<Result<void>> results(last - first);
    auto replace = [&](engine::Engine& e, size_t k) {
      const Step& step = *changed[first + k];
      results[k] = replace_instance(e, project, s, image, *record_of(step.id), step.number,
                                    hash, options.progress);
    };
    if (last - first == 1) {
      replace(engine, 0);
    } else {
      std::vector<std::thread> threads;
      for (size_t k = 0; k < last - first; ++k)
        threads.emplace_back([&, k] {
          auto e = engine::Engine::open(engine.layout, engine.programs);
          if (!e)
            results[k] = std::move(e).error();
          else
            replace(*e, k);
        });
      for (auto& t : threads) t.join();
    }
    for (auto& replaced : results) {
      if (replaced) continue;
      if (s.update_config.failure_action != "continue") return std::move(replaced).error();
      log::warn(replaced.error().message());
    }
    if (s.update_config.delay_ms && last < changed.size())
      std::this_thread::sleep_for(std::chrono::milliseconds(s.update_config.delay_ms));
  }
  return {};
}

// One service brought to what the files say: its dependencies waited for, then its plan (keep,
// start, create, remove, replace) carried out; its error recorded for `show` on failure.
Result<void> deploy_service(engine::Engine& engine, const Project& project, const Service& s,
                            const std::string& image, const std::string& image_id, int replicas,
                            int before, const UpOptions& options) {
  const std::string& name = s.name;
  auto fail = [&](Error e) -> Error {
    (void)set_error(engine, project.name, name, e.message());
    return e;
  };
  if (auto met = wait_dependencies(engine, project, s, options.progress, options.wait_timeout_ms); !met)
    return fail(std::move(met).error());
  std::string hash = config_hash(project, s, image_id);
  BERTH_TRY(auto existing, project_containers(engine, project.name, {name}));
  std::erase_if(existing, [](const auto& c) { return label_of(c, kLabelOneoff) == "True"; });
  std::vector<Instance> actual;
  for (const auto& c : existing)
    actual.push_back(
        {c.id, c.name, number_of(c), label_of(c, kLabelConfigHash), c.state, c.running()});
  auto steps = plan_service(project, s, hash, replicas, actual);
  auto record_of = [&](const std::string& id) -> const engine::ContainerRecord* {
    for (const auto& c : existing)
      if (c.id == id) return &c;
    return nullptr;
  };
  for (const auto& step : steps) {
    switch (step.kind) {
      case Step::Kind::keep:
        say(options.progress,
            fmt::format("Container {}  Running", instance_name(project, s, step.number)));
        break;
      case Step::Kind::remove: {
        auto removed = remove_instance(engine, *record_of(step.id), stop_timeout_of(s), false,
                                       options.progress);
        if (!removed) return fail(std::move(removed).error());
        break;
      }
      case Step::Kind::start: {
        auto started =
            start_instance(engine, step.id, record_of(step.id)->name, options.progress);
        if (!started) return fail(std::move(started).error());
        break;
      }
      case Step::Kind::create: {
        auto created = create_instance(engine, project, s, image, step.number, hash,
                                       options.progress);
        if (!created) return fail(std::move(created).error());
        detail::crash_point("compose-up:after-create");
        auto started = start_instance(engine, created->id, created->name, options.progress);
        if (!started) return fail(std::move(started).error());
        break;
      }
      case Step::Kind::recreate:
        break;  // below, in batches
    }
  }
  std::vector<const Step*> changed;
  for (const auto& step : steps)
    if (step.kind == Step::Kind::recreate) changed.push_back(&step);
  if (auto replaced = replace_in_batches(engine, project, s, image, hash, changed, record_of, options); !replaced)
    return fail(std::move(replaced).error());
  (void)set_error(engine, project.name, name, "");
  if (before != replicas)
    BERTH_TRY_VOID(record_scale(engine, project, s, before, replicas));
  return {};
}

}  // namespace

Result<void> up(engine::Engine& engine, const Project& project, const UpOptions& options) {
  BERTH_TRY(auto lock, lock_project(engine, project.name));
  BERTH_TRY(auto targets, up_targets(project, options));
  BERTH_TRY(auto replicas, up_replicas(project, options));
  // Intent first: the model (so that `show` can tell what was asked and why it failed), then
  // everything that can fail without changing a container (images, ports), then networks and
  // volumes, then instances in dependency order.
  Project desired = project;
  for (auto& s : desired.services) s.replicas = replicas[s.name];
  BERTH_TRY(auto before, stored_replicas(engine, project.name));
  BERTH_TRY_VOID(save_model(engine, desired));
  detail::crash_point("compose-up:after-model");
  // Ports before images: a build or a pull is no use when the instances cannot start.
  BERTH_TRY(auto all, engine::list_containers(engine));
  BERTH_TRY_VOID(check_host_ports(engine, project, all, targets, options.remove_orphans));
  std::map<std::string, std::string> images, image_ids;
  std::optional<Error> first_error;
  for (const auto& name : targets) {
    const Service& s = *project.service(name);
    std::string id;
    auto image = resolve_image(engine, project, s, options, id);
    if (!image) {
      (void)set_error(engine, project.name, name, image.error().message());
      if (!first_error) first_error = std::move(image).error();
      continue;
    }
    images[name] = *image;
    image_ids[name] = id;
  }
  if (first_error) return std::move(*first_error);
  // Orphans go first: what they hold (a port, a name) may be what the files now give another.
  if (options.remove_orphans)
    for (const auto& c : all)
      if (label_of(c, kLabelProject) == project.name && label_of(c, kLabelOneoff) != "True" &&
          !project.service(label_of(c, kLabelService)))
        BERTH_TRY_VOID(remove_instance(engine, c, std::nullopt, false, options.progress));
  // The project's load balancer first: it follows the instances as they come up.
  BERTH_TRY_VOID(ensure_project_proxy(engine, project, options.progress));
  std::set<std::string> used_networks;
  for (const auto& name : targets)
    for (const auto& [n, cfg] : project.service(name)->networks) used_networks.insert(n);
  BERTH_TRY_VOID(ensure_networks(engine, project, used_networks, options.progress));
  BERTH_TRY_VOID(ensure_volumes(engine, project, targets, options.progress));

  for (const auto& name : targets)
    BERTH_TRY_VOID(deploy_service(engine, project, *project.service(name), images[name], image_ids[name],
                                  replicas[name], before[name], options));

  if (options.wait) {
    for (const auto& name : targets) {
      BERTH_TRY(auto instances, project_containers(engine, project.name, {name}));
      for (const auto& c : instances) {
        say(options.progress, fmt::format("Container {}  Waiting", c.name));
        BERTH_TRY_VOID(wait_ready(engine, c.id, true, options.wait_timeout_ms));
        say(options.progress, fmt::format("Container {}  {}", c.name,
                                          c.config.health_command.empty() ? "Running" : "Healthy"));
      }
    }
  }
  return {};
}

Result<void> down(engine::Engine& engine, const std::string& name, const Project* project,
                  const DownOptions& options) {
  BERTH_TRY(auto lock, lock_project(engine, name));
  BERTH_TRY_VOID(stop_project_proxy(engine, name, options.progress));
  BERTH_TRY(auto containers, project_containers(engine, name));
  // Stop dependents first: a service's level is 0 when nothing depends on it, else one more than
  // its dependents' highest; levels go in turn (unknown services, without files: level 0).
  std::map<std::string, int> level;
  if (project) {
    BERTH_TRY(auto order, start_order(*project));
    std::reverse(order.begin(), order.end());  // dependents before what they depend on
    for (const auto& sname : order) {
      int l = 0;
      for (const auto& other : project->services)
        for (const auto& d : other.depends_on)
          if (d.service == sname && level.count(other.name)) l = std::max(l, level[other.name] + 1);
      level[sname] = l;
    }
  }
  auto rank = [&](const engine::ContainerRecord& c) {
    auto it = level.find(label_of(c, kLabelService));
    return it == level.end() ? 0 : it->second;
  };
  std::stable_sort(containers.begin(), containers.end(),
                   [&](auto& a, auto& b) { return rank(a) < rank(b); });
  // The instances of one level stop together, each on its own thread with its own database
  // connection; the next level waits only for those stops, not for the removals that follow.
  std::vector<std::string> errors;
  std::mutex errors_lock;
  std::vector<std::thread> threads;
  for (size_t first = 0; first < containers.size();) {
    size_t last = first;
    while (last < containers.size() && rank(containers[last]) == rank(containers[first])) ++last;
    std::vector<std::pair<size_t, std::optional<int>>> level_items;
    for (size_t k = first; k < last; ++k) {
      const auto& c = containers[k];
      bool orphan = project && !project->service(label_of(c, kLabelService));
      bool disabled =
          project && std::find(project->disabled_services.begin(), project->disabled_services.end(),
                               label_of(c, kLabelService)) != project->disabled_services.end();
      if (orphan && !disabled && !options.remove_orphans) continue;
      std::optional<int> timeout = options.timeout;
      if (!timeout && project)
        if (const Service* s = project->service(label_of(c, kLabelService)))
          timeout = stop_timeout_of(*s);
      level_items.emplace_back(k, timeout);
    }
    auto stopped = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(level_items.size()));
    for (const auto& [k, timeout] : level_items) {
      threads.emplace_back([&, k = k, timeout = timeout, stopped] {
        const engine::ContainerRecord& c = containers[k];
        auto e = engine::Engine::open(engine.layout, engine.programs);
        Result<void> done;
        if (!e) {
          done = std::move(e).error();
        } else if (c.running()) {
          say(options.progress, fmt::format("Container {}  Stopping", c.name));
          auto stopped_one = engine::stop_container(*e, c.id, timeout);
          if (!stopped_one)
            done = std::move(stopped_one).error().context(fmt::format("stop {}", c.name));
        }
        stopped->count_down();
        if (done && e) {
          done = engine::remove_container(*e, c.id, true, true)
                     .context(fmt::format("remove {}", c.name));
          if (done) say(options.progress, fmt::format("Container {}  Removed", c.name));
        }
        if (!done) {
          std::lock_guard guard(errors_lock);
          errors.push_back(done.error().message());
        }
      });
    }
    stopped->wait();
    first = last;
  }
  for (auto& t : threads) t.join();
  if (!errors.empty()) return Error(ErrorKind::failed_precondition, errors.front());
  detail::crash_point("compose-down:after-containers");
  BERTH_TRY(auto networks, engine::list_networks(engine));
  for (const auto& n : networks) {
    auto it = n.labels.find(kLabelProject);
    if (it == n.labels.end() || it->second != name) continue;
    if (auto removed = engine::remove_network(engine, n.name); !removed) {
      log::warn(removed.error().message());
      continue;
    }
    say(options.progress, fmt::format("Network {}  Removed", n.name));
  }
  if (options.volumes) {
    BERTH_TRY(auto volumes, engine::list_volumes(engine));
    for (const auto& v : volumes) {
      auto it = v.labels.find(kLabelProject);
      if (it == v.labels.end() || it->second != name) continue;
      BERTH_TRY_VOID(engine::remove_volume(engine, v.name));
      say(options.progress, fmt::format("Volume {}  Removed", v.name));
    }
  }
  BERTH_TRY(auto q, engine.db.prepare("DELETE FROM projects WHERE name = ?1"));
  q.bind(1, name);
  return q.run();
}

Result<void> scale(engine::Engine& engine, const Project& project,
                   const std::map<std::string, int>& replicas, const Progress& progress) {
  UpOptions options;
  options.scale = replicas;
  options.no_deps = true;
  options.progress = progress;
  for (const auto& [name, n] : replicas) options.services.push_back(name);
  options.build_image = [](const BuildRequest&) -> Result<std::string> {
    return Error(ErrorKind::unsupported, "scale does not build");
  };
  // The stored model keeps the new counts: a later `up` without --scale goes back to the file's.
  return up(engine, project, options);
}

Result<void> start(engine::Engine& engine, const Project& project,
                   const std::vector<std::string>& services, const Progress& progress) {
  BERTH_TRY(auto lock, lock_project(engine, project.name));
  BERTH_TRY(auto order,
            services.empty() ? start_order(project) : with_dependencies(project, services));
  for (const auto& name : order) {
    BERTH_TRY(auto instances, project_containers(engine, project.name, {name}));
    for (const auto& c : instances)
      if (!c.running()) BERTH_TRY_VOID(start_instance(engine, c.id, c.name, progress));
  }
  return {};
}

Result<void> stop(engine::Engine& engine, const Project& project,
                  const std::vector<std::string>& services, std::optional<int> timeout,
                  const Progress& progress) {
  BERTH_TRY(auto lock, lock_project(engine, project.name));
  BERTH_TRY(auto order, start_order(project));
  std::reverse(order.begin(), order.end());
  for (const auto& name : order) {
    if (!services.empty() && std::find(services.begin(), services.end(), name) == services.end())
      continue;
    BERTH_TRY(auto instances, project_containers(engine, project.name, {name}));
    for (const auto& c : instances) {
      if (!c.running()) continue;
      say(progress, fmt::format("Container {}  Stopping", c.name));
      BERTH_TRY_VOID(engine::stop_container(
          engine, c.id, timeout ? timeout : stop_timeout_of(*project.service(name))));
      say(progress, fmt::format("Container {}  Stopped", c.name));
    }
  }
  return {};
}

Result<engine::ContainerRecord> create_oneoff(engine::Engine& engine, const Project& project,
                                              const std::string& service,
                                              const RunOptions& options) {
  const Service* s = project.service(service);
  if (!s) return Error::make(ErrorKind::invalid_argument, "no such service: {}", service);
  std::vector<std::string> deps;
  for (const auto& d : s->depends_on)
    if (project.service(d.service)) deps.push_back(d.service);
  if (!deps.empty() && !options.no_deps) {
    UpOptions up_options;
    up_options.services = deps;
    up_options.build_image = options.build_image;
    up_options.pull_image = options.pull_image;
    up_options.progress = options.progress;
    BERTH_TRY_VOID(up(engine, project, up_options));
    // As docker compose run: the one-off starts once its dependencies' conditions hold.
    BERTH_TRY_VOID(wait_dependencies(engine, project, *s, options.progress, up_options.wait_timeout_ms));
  }
  BERTH_TRY(auto lock, lock_project(engine, project.name));
  UpOptions resolve;
  resolve.build_image = options.build_image;
  resolve.pull_image = options.pull_image;
  std::string image_id;
  BERTH_TRY(auto image, resolve_image(engine, project, *s, resolve, image_id));
  std::set<std::string> nets;
  for (const auto& [n, cfg] : s->networks) nets.insert(n);
  BERTH_TRY_VOID(ensure_networks(engine, project, nets, options.progress));
  BERTH_TRY_VOID(ensure_volumes(engine, project, {service}, options.progress));
  Service oneoff = *s;
  oneoff.ports.clear();  // as docker compose run: no published ports unless asked
  oneoff.container_name.clear();
  oneoff.restart = "no";
  if (!options.command.empty()) oneoff.command = options.command;
  if (options.has_entrypoint)
    oneoff.entrypoint = options.entrypoint.empty() ? std::vector<std::string>{}
                                                   : std::vector<std::string>{options.entrypoint};
  if (!options.user.empty()) oneoff.user = options.user;
  if (!options.workdir.empty()) oneoff.working_dir = options.workdir;
  for (const auto& kv : options.env) {
    auto eq = kv.find('=');
    oneoff.environment[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  oneoff.tty = options.tty;
  oneoff.stdin_open = options.interactive;
  auto config = container_config(project, oneoff, image, 0, config_hash(project, oneoff, image_id));
  config.labels[kLabelOneoff] = "True";
  config.labels.erase(kLabelNumber);
  std::string name = fmt::format("{}-{}-run-{}", project.name, service, sys::random_hex(6));
  BERTH_TRY(auto created,
            engine::create_container(engine, config, name).context(fmt::format("create {}", name)));
  return created.container;
}

}  // namespace berth::project
