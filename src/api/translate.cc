// api/translate.cc — see translate.h. nlohmann's exceptions stay in this file.
#include "api/translate.h"

#include "base/json.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <utility>

namespace berth::api {
namespace {

using nlohmann::json;

// "1.41" → {1, 41}; {-1, -1} when not a version.
std::pair<int, int> version_numbers(std::string_view text) {
  auto dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == text.size()) return {-1, -1};
  auto number = [](std::string_view digits) {
    int n = 0;
    for (char c : digits) {
      if (c < '0' || c > '9' || n > 1000) return -1;
      n = n * 10 + (c - '0');
    }
    return n;
  };
  return {number(text.substr(0, dot)), number(text.substr(dot + 1))};
}

std::vector<std::string> strings_of(const json& j, std::string_view field) {
  std::vector<std::string> out;
  if (j.is_null()) return out;
  if (j.is_string()) return {j.get<std::string>()};
  if (!j.is_array())
    throw std::invalid_argument(fmt::format("{}: expected a list of strings", field));
  for (const auto& item : j) {
    if (!item.is_string())
      throw std::invalid_argument(fmt::format("{}: expected a list of strings", field));
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string string_of(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) throw std::invalid_argument(fmt::format("{}: expected a string", key));
  return it->get<std::string>();
}

int64_t int_of(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return 0;
  // As Go's decoder into an int64: a fraction, or a number out of range, is an error (nlohmann's
  // get<int64_t> of 1e300 is undefined behaviour).
  if (!it->is_number_integer() ||
      (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t{INT64_MAX}))
    throw std::invalid_argument(fmt::format("{}: expected an integer, got {}", key, it->dump()));
  return it->get<int64_t>();
}

int int32_of(const json& obj, const char* key) {
  int64_t v = int_of(obj, key);
  if (v < INT32_MIN || v > INT32_MAX)
    throw std::invalid_argument(fmt::format("{}: {} is out of range", key, v));
  return static_cast<int>(v);
}

bool bool_of(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean())
    throw std::invalid_argument(fmt::format("{}: expected true or false", key));
  return it->get<bool>();
}

// A field whose non-default value berth cannot honour: refused by name, never ignored.
void refuse_if_set(const json& obj, const char* key, std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;
  bool set = (it->is_boolean() && it->get<bool>()) || (it->is_number() && it->get<double>() != 0) ||
             (it->is_string() && !it->get<std::string>().empty()) ||
             ((it->is_array() || it->is_object()) && !it->empty());
  if (set) throw std::domain_error(fmt::format("{}.{} is not supported by berth", where, key));
}

// A RestartPolicy object as berth spells the policy ("on-failure:3"); "" without a Name.
std::string restart_policy_of(const json& policy, std::string_view where) {
  std::string name = string_of(policy, "Name");
  int64_t retries = int_of(policy, "MaximumRetryCount");
  if (name.empty()) return name;
  if (name != "no" && name != "always" && name != "unless-stopped" && name != "on-failure")
    throw std::invalid_argument(fmt::format("{}.RestartPolicy.Name: invalid '{}'", where, name));
  return name == "on-failure" && retries > 0 ? fmt::format("on-failure:{}", retries) : name;
}

void apply_host_config(const json& h, engine::ContainerConfig& c) {
  for (const char* key :
       {"Privileged",        "Devices",      "DeviceRequests", "DeviceCgroupRules",
        "IpcMode",           "PidMode",      "UTSMode",        "UsernsMode",
        "CgroupParent",      "VolumesFrom",  "Links",          "Sysctls",
        "Runtime",           "Isolation",    "CpuQuota",       "CpuPeriod",
        "MemoryReservation", "KernelMemory", "OomKillDisable"})
    refuse_if_set(h, key, "HostConfig");
  if (int64_t shares = int_of(h, "CpuShares"); shares != 0) c.cpu_shares = shares;
  c.cpuset_cpus = string_of(h, "CpusetCpus");
  c.cpuset_mems = string_of(h, "CpusetMems");
  if (int64_t swap = int_of(h, "MemorySwap"); swap != 0) c.memory_swap = swap;
  if (int64_t weight = int_of(h, "BlkioWeight"); weight != 0) c.blkio_weight = weight;
  for (const auto& bind : strings_of(h.value("Binds", json()), "HostConfig.Binds")) {
    auto mount = engine::parse_volume(bind);
    if (!mount) throw std::invalid_argument("HostConfig.Binds: " + mount.error().message());
    c.volumes.push_back(*mount);
  }
  if (auto it = h.find("Mounts"); it != h.end() && it->is_array()) {
    for (const auto& m : *it) {
      std::string type = m.value("Type", "volume");
      std::string target = m.value("Target", "");
      if (type == "tmpfs") {
        c.tmpfs.push_back(target);
        continue;
      }
      if (type != "bind" && type != "volume")
        throw std::domain_error(fmt::format("HostConfig.Mounts: type '{}' is not supported", type));
      c.volumes.push_back({m.value("Source", ""), target, m.value("ReadOnly", false)});
    }
  }
  if (auto it = h.find("PortBindings"); it != h.end() && it->is_object()) {
    for (const auto& [port, bindings] : it->items()) {
      if (!bindings.is_array() || bindings.empty()) {
        c.publish.push_back(port);
        continue;
      }
      for (const auto& b : bindings) {
        std::string ip = b.is_object() ? string_of(b, "HostIp") : "";
        std::string host_port = b.is_object() ? string_of(b, "HostPort") : "";
        std::string spec = ip.empty() ? (host_port.empty() ? port : host_port + ":" + port)
                                      : ip + ":" + host_port + ":" + port;
        if (auto p = engine::parse_port(spec); !p)
          throw std::invalid_argument("HostConfig.PortBindings: " + p.error().message());
        c.publish.push_back(spec);
      }
    }
  }
  c.publish_all = bool_of(h, "PublishAllPorts");
  std::string mode = string_of(h, "NetworkMode");
  if (!mode.empty() && mode != "default") c.network = mode;
  c.auto_remove = bool_of(h, "AutoRemove");
  if (auto it = h.find("RestartPolicy"); it != h.end() && it->is_object()) {
    std::string policy = restart_policy_of(*it, "HostConfig");
    c.restart = policy.empty() ? "no" : policy;
  }
  if (int64_t memory = int_of(h, "Memory"); memory > 0) c.memory = memory;
  if (int64_t nano = int_of(h, "NanoCpus"); nano > 0) c.cpus = static_cast<double>(nano) / 1e9;
  // As docker: absent or null keeps the default limit (2048), 0 or -1 means none.
  if (auto it = h.find("PidsLimit"); it != h.end() && !it->is_null())
    c.pids_limit = std::max<int64_t>(int_of(h, "PidsLimit"), 0);
  c.cap_add = strings_of(h.value("CapAdd", json()), "HostConfig.CapAdd");
  c.cap_drop = strings_of(h.value("CapDrop", json()), "HostConfig.CapDrop");
  c.init = bool_of(h, "Init");
  c.read_only = bool_of(h, "ReadonlyRootfs");
  if (auto it = h.find("Tmpfs"); it != h.end() && it->is_object())
    for (const auto& [path, opts] : it->items())
      c.tmpfs.push_back(opts.is_string() && !opts.get<std::string>().empty()
                            ? path + ":" + opts.get<std::string>()
                            : path);
  c.dns = strings_of(h.value("Dns", json()), "HostConfig.Dns");
  c.add_hosts = strings_of(h.value("ExtraHosts", json()), "HostConfig.ExtraHosts");
  for (const auto& opt : strings_of(h.value("SecurityOpt", json()), "HostConfig.SecurityOpt")) {
    if (opt == "no-new-privileges" || opt == "no-new-privileges:true" ||
        opt == "no-new-privileges=true")
      c.no_new_privileges = true;
    else if (opt.starts_with("seccomp=") || opt.starts_with("seccomp:"))
      c.seccomp = opt.substr(8);
    else
      throw std::domain_error(fmt::format("HostConfig.SecurityOpt '{}' is not supported", opt));
  }
}

engine::ContainerConfig parse_create(std::string_view body) {
  json j = parse_json(body);
  if (!j.is_object()) throw std::invalid_argument("expected a JSON object");
  engine::ContainerConfig c;
  c.image = string_of(j, "Image");
  if (c.image.empty()) throw std::invalid_argument("Image: an image is required");
  c.command = strings_of(j.value("Cmd", json()), "Cmd");
  if (auto it = j.find("Entrypoint"); it != j.end() && !it->is_null()) {
    auto words = strings_of(*it, "Entrypoint");
    // [] and [""] clear the image's entrypoint, as `--entrypoint ""` does.
    if (words.size() == 1 && words[0].empty()) words.clear();
    c.entrypoint = words;
  }
  c.env = strings_of(j.value("Env", json()), "Env");
  // `docker run -e NAME` sends NAME alone when the client has no such variable: dockerd drops it.
  std::erase_if(c.env, [](const std::string& e) { return e.find('=') == std::string::npos; });
  c.workdir = string_of(j, "WorkingDir");
  c.user = string_of(j, "User");
  c.hostname = string_of(j, "Hostname");
  c.tty = bool_of(j, "Tty");
  c.interactive = bool_of(j, "OpenStdin");
  c.stdin_once = bool_of(j, "StdinOnce");
  c.stop_signal = string_of(j, "StopSignal");
  if (auto it = j.find("StopTimeout"); it != j.end() && !it->is_null())
    c.stop_timeout = int32_of(j, "StopTimeout");
  if (auto it = j.find("Labels"); it != j.end() && it->is_object())
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string())
        throw std::invalid_argument(fmt::format("Labels.{}: expected a string", k));
      c.labels[k] = v.get<std::string>();
    }
  if (auto it = j.find("Healthcheck"); it != j.end() && it->is_object()) {
    c.health_command = strings_of(it->value("Test", json()), "Healthcheck.Test");
    if (int64_t v = int_of(*it, "Interval"); v > 0) c.health_interval_ms = v / 1'000'000;
    if (int64_t v = int_of(*it, "Timeout"); v > 0) c.health_timeout_ms = v / 1'000'000;
    if (int64_t v = int_of(*it, "StartPeriod"); v > 0) c.health_start_period_ms = v / 1'000'000;
    if (int v = int32_of(*it, "Retries"); v > 0) c.health_retries = v;
  }
  if (auto it = j.find("HostConfig"); it != j.end() && it->is_object()) apply_host_config(*it, c);
  if (auto it = j.find("NetworkingConfig"); it != j.end() && it->is_object()) {
    if (auto eps = it->find("EndpointsConfig"); eps != it->end() && eps->is_object()) {
      for (const auto& [net, ep] : eps->items()) {
        if (!ep.is_object()) continue;
        if (net != c.network && net != "default")
          throw std::domain_error(fmt::format(
              "NetworkingConfig.EndpointsConfig.{}: only the container's NetworkMode network",
              net));
        c.network_aliases = strings_of(ep.value("Aliases", json()), "Aliases");
        if (auto ipam = ep.find("IPAMConfig"); ipam != ep.end() && ipam->is_object())
          c.ip = string_of(*ipam, "IPv4Address");
      }
    }
  }
  return c;
}

}  // namespace

Result<VersionedPath> split_version(std::string_view path) {
  if (!path.starts_with("/v") || path.size() < 3 || path[2] < '0' || path[2] > '9')
    return VersionedPath{"", std::string(path)};
  auto slash = path.find('/', 1);
  std::string_view version =
      path.substr(2, slash == std::string_view::npos ? std::string_view::npos : slash - 2);
  auto v = version_numbers(version);
  if (v.first < 0 || v.second < 0)
    return Error::make(ErrorKind::invalid_argument, "invalid API version '{}'", version);
  if (v < version_numbers(kMinApiVersion))
    return Error::make(ErrorKind::invalid_argument,
                       "client version {} is too old. Minimum supported API version is {}, please "
                       "upgrade your client to a newer version",
                       version, kMinApiVersion);
  if (v > version_numbers(kMaxApiVersion))
    return Error::make(ErrorKind::invalid_argument,
                       "client version {} is too new. Maximum supported API version is {}", version,
                       kMaxApiVersion);
  return VersionedPath{std::string(version),
                       slash == std::string_view::npos ? "/" : std::string(path.substr(slash))};
}

namespace {

// Runs a parser, its exceptions (nlohmann's, and the field errors it throws) made errors.
template <class Parse>
auto without_exceptions(Parse parse) -> Result<decltype(parse())> {
  try {
    return parse();
  } catch (const json::exception& e) {
    return Error::make(ErrorKind::invalid_argument, "malformed JSON: {}", e.what());
  } catch (const std::domain_error& e) {
    return Error(ErrorKind::invalid_argument, e.what());
  } catch (const std::invalid_argument& e) {
    return Error(ErrorKind::invalid_argument, e.what());
  }
}

}  // namespace

Result<engine::ContainerConfig> container_config_from_json(std::string_view body) {
  return without_exceptions([&] { return parse_create(body); });
}

namespace {

engine::ContainerUpdate parse_update(std::string_view body) {
  json j = parse_json(body);
  if (!j.is_object()) throw std::invalid_argument("expected a JSON object");
  engine::ContainerUpdate u;
  // docker update sends every field of UpdateConfig, zero when not asked for: 0 keeps.
  for (const auto& [key, value] : j.items()) {
    if (key == "Memory" || key == "NanoCpus" || key == "PidsLimit" || key == "RestartPolicy" ||
        key == "CpuShares" || key == "CpusetCpus" || key == "CpusetMems" || key == "MemorySwap" ||
        key == "BlkioWeight")
      continue;
    refuse_if_set(j, key.c_str(), "UpdateConfig");
  }
  if (int64_t shares = int_of(j, "CpuShares"); shares != 0) u.cpu_shares = shares;
  if (std::string cpus = string_of(j, "CpusetCpus"); !cpus.empty()) u.cpuset_cpus = cpus;
  if (std::string mems = string_of(j, "CpusetMems"); !mems.empty()) u.cpuset_mems = mems;
  if (int64_t swap = int_of(j, "MemorySwap"); swap != 0) u.memory_swap = swap;
  if (int64_t weight = int_of(j, "BlkioWeight"); weight != 0) u.blkio_weight = weight;
  if (int64_t memory = int_of(j, "Memory"); memory != 0) u.memory = memory;
  if (int64_t nano = int_of(j, "NanoCpus"); nano != 0) u.cpus = static_cast<double>(nano) / 1e9;
  if (auto it = j.find("PidsLimit"); it != j.end() && !it->is_null()) u.pids_limit = int_of(j, "PidsLimit");
  if (auto it = j.find("RestartPolicy"); it != j.end() && it->is_object())
    if (std::string policy = restart_policy_of(*it, "UpdateConfig"); !policy.empty()) u.restart = policy;
  return u;
}

// docker commit's Config body (a container Config) as the new image's settings.
oci::ContainerConfig parse_commit_config(std::string_view body) {
  oci::ContainerConfig c;
  json j = parse_json(body.empty() ? std::string_view("null") : body);
  if (j.is_null()) return c;
  if (!j.is_object()) throw std::invalid_argument("commit Config: expected a JSON object");
  // A container's runtime settings, which an image config has no place for.
  for (const char* key : {"Hostname", "Domainname", "AttachStdin", "AttachStdout", "AttachStderr", "Tty",
                          "OpenStdin", "StdinOnce", "Image", "NetworkDisabled", "MacAddress"})
    refuse_if_set(j, key, "Config");
  c.user = string_of(j, "User");
  c.env = strings_of(j.value("Env", json()), "Config.Env");
  if (auto it = j.find("Cmd"); it != j.end() && !it->is_null()) c.cmd = strings_of(*it, "Config.Cmd");
  if (auto it = j.find("Entrypoint"); it != j.end() && !it->is_null())
    c.entrypoint = strings_of(*it, "Config.Entrypoint");
  c.working_dir = string_of(j, "WorkingDir");
  c.stop_signal = string_of(j, "StopSignal");
  c.on_build = strings_of(j.value("OnBuild", json()), "Config.OnBuild");
  c.shell = strings_of(j.value("Shell", json()), "Config.Shell");
  for (const char* key : {"ExposedPorts", "Volumes", "Labels"}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_object()) throw std::invalid_argument(fmt::format("Config.{}: expected an object", key));
    for (const auto& [k, v] : it->items()) {
      if (std::string_view(key) == "Labels") {
        if (!v.is_string()) throw std::invalid_argument(fmt::format("Config.Labels.{}: expected a string", k));
        c.labels[k] = v.get<std::string>();
      } else if (std::string_view(key) == "ExposedPorts") {
        c.exposed_ports.insert(k.find('/') == std::string::npos ? k + "/tcp" : k);
      } else {
        c.volumes.insert(k);
      }
    }
  }
  if (auto it = j.find("Healthcheck"); it != j.end() && it->is_object()) {
    oci::HealthConfig h;
    h.test = strings_of(it->value("Test", json()), "Config.Healthcheck.Test");
    h.interval = int_of(*it, "Interval");
    h.timeout = int_of(*it, "Timeout");
    h.start_period = int_of(*it, "StartPeriod");
    h.retries = static_cast<int>(int_of(*it, "Retries"));
    c.healthcheck = h;
  }
  return c;
}

}  // namespace

Result<oci::ContainerConfig> commit_config_from_json(std::string_view body) {
  return without_exceptions([&] { return parse_commit_config(body); });
}

Result<engine::ContainerUpdate> container_update_from_json(std::string_view body) {
  return without_exceptions([&] { return parse_update(body); });
}

Result<Filters> parse_filters(std::string_view text, const std::vector<std::string_view>& known) {
  Filters out;
  if (text.empty()) return out;
  json j = parse_json(text, false);
  if (!j.is_object())
    return Error::make(ErrorKind::invalid_argument, "invalid filters '{}': expected a JSON object",
                       text);
  for (const auto& [key, value] : j.items()) {
    bool ok = false;
    for (auto k : known) ok = ok || k == key;
    if (!ok) return Error::make(ErrorKind::invalid_argument, "invalid filter '{}'", key);
    auto& values = out[key];
    if (value.is_array()) {
      for (const auto& v : value)
        if (v.is_string()) values.push_back(v.get<std::string>());
    } else if (value.is_object()) {
      for (const auto& [v, on] : value.items())
        if (on.is_boolean() && on.get<bool>()) values.push_back(v);
    } else {
      return Error::make(ErrorKind::invalid_argument, "invalid filter '{}': expected a list", key);
    }
  }
  return out;
}

bool labels_match(const std::vector<std::string>& wanted,
                  const std::map<std::string, std::string>& labels) {
  for (const auto& w : wanted) {
    auto eq = w.find('=');
    auto it = labels.find(w.substr(0, eq));
    if (it == labels.end()) return false;
    if (eq != std::string::npos && it->second != w.substr(eq + 1)) return false;
  }
  return true;
}

std::string frame_stream(int stream, std::string_view data) {
  std::string out(8, '\0');
  out[0] = static_cast<char>(stream);
  auto size = static_cast<uint32_t>(data.size());
  out[4] = static_cast<char>((size >> 24) & 0xff);
  out[5] = static_cast<char>((size >> 16) & 0xff);
  out[6] = static_cast<char>((size >> 8) & 0xff);
  out[7] = static_cast<char>(size & 0xff);
  out.append(data);
  return out;
}

bool query_true(std::string_view value) {
  return value == "1" || value == "true" || value == "True" || value == "TRUE";
}

int http_status_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument:
      return 400;
    case ErrorKind::unauthenticated:
      return 401;
    case ErrorKind::permission_denied:
      return 403;
    case ErrorKind::not_found:
      return 404;
    case ErrorKind::already_exists:
    case ErrorKind::failed_precondition:
      return 409;
    case ErrorKind::unsupported:
      return 501;
    case ErrorKind::unavailable:
      return 503;
    default:
      return 500;
  }
}

}  // namespace berth::api
