// engine/container_inspect_json.cc — docker's `inspect` document for a container, shared by
// `berth inspect` and the Docker Engine API: berth's values in docker's shape, with dockerd's
// defaults for the fields berth does not set (detail/docker_shape.h).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/sys.h"
#include "engine/containers.h"
#include "engine/detail/container_records.h"
#include "engine/detail/docker_shape.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "monitor/protocol.h"
#include "monitor/restart_policy.h"
#include "oci/runtime_spec.h"

namespace berth::engine {

using namespace detail;

namespace {

// --tmpfs as docker's HostConfig.Tmpfs: {"/run": "size=64m"}.
std::map<std::string, std::string> tmpfs_map(const std::vector<std::string>& tmpfs) {
  std::map<std::string, std::string> out;
  for (const auto& t : tmpfs) {
    auto colon = t.find(':');
    out[t.substr(0, colon)] = colon == std::string::npos ? "" : t.substr(colon + 1);
  }
  return out;
}

// Docker shows an empty list it never set as null.
nlohmann::json list_or_null(const std::vector<std::string>& v) {
  return v.empty() ? nlohmann::json(nullptr) : nlohmann::json(v);
}

// Docker's Config.Env: the image's environment with the container's on top (by name).
std::vector<std::string> merged_env(std::vector<std::string> env,
                                    const std::vector<std::string>& over) {
  for (const auto& e : over) {
    std::string name = e.substr(0, e.find('='));
    auto same = std::find_if(env.begin(), env.end(), [&](const std::string& x) {
      return x.substr(0, x.find('=')) == name;
    });
    if (same != env.end())
      *same = e;
    else
      env.push_back(e);
  }
  return env;
}

struct ImageDefaults {
  std::string config_digest;
  oci::ContainerConfig config;
  std::vector<std::string> lower_dirs;  // top first
};

ImageDefaults image_defaults(Engine& engine, const ContainerRecord& r) {
  ImageDefaults d;
  auto image = get_image(engine, r.image_id);
  if (!image) return d;
  d.config_digest = image->config_digest;
  if (auto content = read_image(engine, *image)) {
    d.config = content->config.config;
    for (auto it = content->chain_ids.rbegin(); it != content->chain_ids.rend(); ++it)
      d.lower_dirs.push_back(engine.layout.layer(std::string(it->encoded())));
  }
  return d;
}

nlohmann::json host_config(const ContainerRecord& r, const std::optional<oci::Spec>& spec) {
  const ContainerConfig& c = r.config;
  auto policy = monitor::RestartPolicy::parse(c.restart);
  std::string policy_name = c.restart.substr(0, c.restart.find(':'));
  nlohmann::json binds = nlohmann::json::array();
  for (const auto& v : c.volumes)
    binds.push_back(v.source.empty() ? v.destination
                                     : fmt::format("{}:{}{}", v.source, v.destination,
                                                   v.read_only ? ":ro" : ""));
  nlohmann::json bindings =
      nlohmann::json::object();  // {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
  for (const auto& text : c.publish)
    if (auto p = parse_port(text))
      bindings[fmt::format("{}/{}", p->container_port, p->protocol)].push_back(
          {{"HostIp", p->host_ip}, {"HostPort", p->host_port ? std::to_string(p->host_port) : ""}});
  nlohmann::json h = {
      {"Binds", binds.empty() ? nlohmann::json(nullptr) : binds},
      {"RestartPolicy",
       {{"Name", policy_name}, {"MaximumRetryCount", policy ? policy->max_retries : 0}}},
      {"AutoRemove", c.auto_remove},
      {"NetworkMode", c.network},
      {"PortBindings", bindings},
      {"PublishAllPorts", c.publish_all},
      {"Memory", c.memory.value_or(0)},
      {"NanoCpus", static_cast<int64_t>(c.cpus.value_or(0) * 1e9)},
      {"ReadonlyRootfs", c.read_only},
      {"CapAdd", list_or_null(c.cap_add)},
      {"CapDrop", list_or_null(c.cap_drop)},
      {"Dns", c.dns},
      {"ExtraHosts", list_or_null(c.add_hosts)},
      {"LogConfig", {{"Type", "json-file"}, {"Config", nlohmann::json::object()}}}};
  if (auto limit = effective_pids_limit(c.pids_limit)) h["PidsLimit"] = *limit;
  h["CpuShares"] = c.cpu_shares.value_or(0);
  h["CpusetCpus"] = c.cpuset_cpus;
  h["CpusetMems"] = c.cpuset_mems;
  h["MemorySwap"] = c.memory_swap.value_or(0);
  h["BlkioWeight"] = c.blkio_weight.value_or(0);
  if (c.init) h["Init"] = true;
  if (!c.tmpfs.empty()) h["Tmpfs"] = tmpfs_map(c.tmpfs);
  std::vector<std::string> security;
  if (c.no_new_privileges) security.push_back("no-new-privileges");
  if (!c.seccomp.empty()) security.push_back("seccomp=" + c.seccomp);
  h["SecurityOpt"] = list_or_null(security);
  if (spec) {
    h["MaskedPaths"] = spec->linux.masked_paths;
    h["ReadonlyPaths"] = spec->linux.readonly_paths;
  }
  if (spec && spec->process && !spec->process->rlimits.empty()) {
    nlohmann::json ulimits = nlohmann::json::array();
    for (const auto& l : spec->process->rlimits) {
      std::string name = l.type.starts_with("RLIMIT_") ? l.type.substr(7) : l.type;
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      ulimits.push_back({{"Name", name}, {"Hard", l.hard}, {"Soft", l.soft}});
    }
    h["Ulimits"] = ulimits;
  }
  return h;
}

nlohmann::json config_of(const ContainerRecord& r, const std::optional<oci::Spec>& spec,
                         const ImageDefaults& image) {
  const ContainerConfig& c = r.config;
  const oci::ContainerConfig& ic = image.config;
  // As dockerd records them: the user's entrypoint and command, else the image's (a new
  // entrypoint drops the image's command; [""] clears the entrypoint).
  nlohmann::json entrypoint = nullptr, cmd = nullptr;
  if (c.entrypoint) {
    if (!c.entrypoint->empty() && !(c.entrypoint->size() == 1 && c.entrypoint->front().empty()))
      entrypoint = *c.entrypoint;
  } else if (ic.entrypoint && !ic.entrypoint->empty()) {
    entrypoint = *ic.entrypoint;
  }
  if (!c.command.empty())
    cmd = c.command;
  else if (!c.entrypoint && ic.cmd && !ic.cmd->empty())
    cmd = *ic.cmd;
  auto env = merged_env(ic.env, c.env);
  nlohmann::json j = {{"Hostname", spec ? spec->hostname : ""},
                      {"User", c.user},
                      {"Env", env.empty() ? nlohmann::json(nullptr) : nlohmann::json(env)},
                      {"Cmd", cmd},
                      {"Entrypoint", entrypoint},
                      {"Image", r.image_ref},
                      {"WorkingDir", c.workdir.empty() ? ic.working_dir : c.workdir},
                      {"Labels", c.labels},
                      {"Tty", c.tty},
                      {"OpenStdin", c.interactive},
                      {"StdinOnce", c.stdin_once}};
  if (!ic.volumes.empty()) {
    j["Volumes"] = nlohmann::json::object();
    for (const auto& v : ic.volumes) j["Volumes"][v] = nlohmann::json::object();
  }
  if (!ic.exposed_ports.empty()) {
    j["ExposedPorts"] = nlohmann::json::object();
    for (const auto& p : ic.exposed_ports) j["ExposedPorts"][p] = nlohmann::json::object();
  }
  std::string stop_signal = c.stop_signal.empty() ? ic.stop_signal : c.stop_signal;
  if (!stop_signal.empty()) j["StopSignal"] = stop_signal;
  if (c.stop_timeout) j["StopTimeout"] = *c.stop_timeout;
  if (!c.health_command.empty())
    j["Healthcheck"] = {{"Test", c.health_command},
                        {"Interval", c.health_interval_ms * 1'000'000},
                        {"Timeout", c.health_timeout_ms * 1'000'000},
                        {"StartPeriod", c.health_start_period_ms * 1'000'000},
                        {"Retries", c.health_retries}};
  return j;
}

// Docker's NetworkSettings: the address on each network (a "none" or "host" container is on
// that network) and the published ports.
nlohmann::json network_settings(Engine& engine, const ContainerRecord& r) {
  nlohmann::json networks = nlohmann::json::object();
  if (auto endpoints = container_endpoints(engine, r.id))
    for (const auto& e : *endpoints)
      networks[e.network] = {{"NetworkID", e.network_id}, {"IPAddress", e.ip},
                             {"IPPrefixLen", e.prefix},   {"Gateway", e.gateway},
                             {"MacAddress", e.mac()},     {"Aliases", list_or_null(e.aliases)}};
  if (r.config.network == "none" || r.config.network == "host")
    networks[r.config.network] = nlohmann::json::object();
  for (auto& [name, endpoint] : networks.items()) add_missing(endpoint, endpoint_defaults());
  nlohmann::json ports = nlohmann::json::object();
  if (auto published = container_ports(engine, r.id))
    for (const auto& p : *published)
      ports[std::to_string(p.container_port) + "/" + p.protocol].push_back(
          {{"HostIp", p.host_ip}, {"HostPort", std::to_string(p.host_port)}});
  nlohmann::json settings = {{"Networks", networks}, {"Ports", ports}};
  if (auto first = networks.begin(); first != networks.end()) {
    for (const char* key : {"IPAddress", "Gateway", "IPPrefixLen", "MacAddress"})
      settings[key] = (*first)[key];
  }
  return settings;
}

}  // namespace

std::string inspect_json(Engine& engine, const ContainerRecord& r) {
  auto time = [](std::optional<int64_t> ns) {
    return ns ? clock::rfc3339(*ns) : "0001-01-01T00:00:00Z";
  };
  std::optional<oci::Spec> spec;
  if (auto loaded = oci::load_spec(r.dir + "/config.json")) spec = std::move(*loaded);
  auto image = image_defaults(engine, r);
  std::vector<std::string> args;
  if (spec && spec->process) args = spec->process->args;
  nlohmann::json mounts = nlohmann::json::array();
  for (const auto& v : r.config.volumes)
    mounts.push_back({{"Type", v.is_bind() ? "bind" : "volume"},
                      {"Source", v.is_bind() ? v.source : engine.layout.volume_data(v.source)},
                      {"Destination", v.destination},
                      {"RW", !v.read_only},
                      {"Name", v.is_bind() ? "" : v.source}});
  nlohmann::json j = {
      {"Id", r.id},
      {"Created", clock::rfc3339(r.created)},
      {"Path", args.empty() ? "" : args.front()},
      {"Args", args.size() > 1 ? std::vector<std::string>(args.begin() + 1, args.end())
                               : std::vector<std::string>{}},
      {"State",
       {{"Status", r.state},
        {"Running", r.state == "running" || r.state == "paused"},
        {"Paused", r.state == "paused"},
        {"Restarting", r.state == "restarting"},
        {"OOMKilled", r.oom_killed},
        {"Dead", r.state == "dead"},
        {"Pid", r.pid.value_or(0)},
        {"ExitCode", r.exit_code.value_or(0)},
        {"Error", r.error},
        {"StartedAt", time(r.started)},
        {"FinishedAt", time(r.finished)}}},
      {"Image", image.config_digest.empty() ? r.image_id : image.config_digest},
      {"Name", "/" + r.name},
      {"RestartCount", r.restart_count},
      {"Mounts", mounts},
      {"HostConfig", host_config(r, spec)},
      {"Config", config_of(r, spec, image)},
      {"NetworkSettings", network_settings(engine, r)},
      {"LogPath", r.dir + "/" + monitor::kLogFile},
  };
  if (spec) {
    for (const auto& m : spec->mounts) {
      if (m.destination == "/etc/resolv.conf") j["ResolvConfPath"] = m.source;
      if (m.destination == "/etc/hostname") j["HostnamePath"] = m.source;
      if (m.destination == "/etc/hosts") j["HostsPath"] = m.source;
    }
    if (spec->process) j["AppArmorProfile"] = spec->process->apparmor_profile;
  }
  std::string lower;
  for (const auto& dir : image.lower_dirs) lower += (lower.empty() ? "" : ":") + dir;
  j["GraphDriver"] = {{"Name", "overlay2"},
                      {"Data",
                       {{"LowerDir", lower},
                        {"MergedDir", rootfs_of(r)},
                        {"UpperDir", r.layer_dir + "/upper"},
                        {"WorkDir", r.layer_dir + "/work"}}}};
  if (!r.health.empty())
    if (auto health = sys::read_file(r.dir + "/" + monitor::kHealthFile))
      j["State"]["Health"] = nlohmann::json::parse(*health, nullptr, false);
  add_missing(j, container_inspect_defaults());
  return j.dump(4);
}

}  // namespace berth::engine
