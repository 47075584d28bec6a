#include "engine/container_config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "base/sys.h"

namespace berth::engine {

std::string to_json(const ContainerConfig& c) {
  nlohmann::json volumes = nlohmann::json::array();
  for (const auto& v : c.volumes)
    volumes.push_back({{"source", v.source}, {"destination", v.destination}, {"readOnly", v.read_only}});
  nlohmann::json j = {{"image", c.image}, {"command", c.command}, {"env", c.env}, {"workdir", c.workdir},
                      {"user", c.user}, {"hostname", c.hostname}, {"volumes", volumes}, {"tmpfs", c.tmpfs},
                      {"readOnly", c.read_only}, {"init", c.init}, {"tty", c.tty},
                      {"interactive", c.interactive}, {"stdinOnce", c.stdin_once}, {"autoRemove", c.auto_remove}, {"ephemeral", c.ephemeral}, {"restart", c.restart},
                      {"labels", c.labels}, {"capAdd", c.cap_add}, {"capDrop", c.cap_drop},
                      {"noNewPrivileges", c.no_new_privileges}, {"seccomp", c.seccomp},
                      {"stopSignal", c.stop_signal}, {"network", c.network},
                      {"networkAliases", c.network_aliases}, {"ip", c.ip}, {"dns", c.dns},
                      {"addHosts", c.add_hosts}, {"publish", c.publish}, {"publishAll", c.publish_all},
                      {"healthCommand", c.health_command}, {"healthIntervalMs", c.health_interval_ms},
                      {"healthTimeoutMs", c.health_timeout_ms}, {"healthStartPeriodMs", c.health_start_period_ms},
                      {"healthRetries", c.health_retries}};
  if (c.entrypoint) j["entrypoint"] = *c.entrypoint;
  if (c.memory) j["memory"] = *c.memory;
  if (c.cpus) j["cpus"] = *c.cpus;
  if (c.pids_limit) j["pidsLimit"] = *c.pids_limit;
  if (c.cpu_shares) j["cpuShares"] = *c.cpu_shares;
  if (!c.cpuset_cpus.empty()) j["cpusetCpus"] = c.cpuset_cpus;
  if (!c.cpuset_mems.empty()) j["cpusetMems"] = c.cpuset_mems;
  if (c.memory_swap) j["memorySwap"] = *c.memory_swap;
  if (c.blkio_weight) j["blkioWeight"] = *c.blkio_weight;
  if (c.stop_timeout) j["stopTimeout"] = *c.stop_timeout;
  return j.dump();
}

Result<ContainerConfig> parse_container_config(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return Error(ErrorKind::corrupt, "a container's stored configuration is not a JSON object");
  ContainerConfig c;
  try {
    c.image = j.value("image", "");
    if (j.contains("entrypoint")) c.entrypoint = j["entrypoint"].get<std::vector<std::string>>();
    c.command = j.value("command", std::vector<std::string>{});
    c.env = j.value("env", std::vector<std::string>{});
    c.workdir = j.value("workdir", "");
    c.user = j.value("user", "");
    c.hostname = j.value("hostname", "");
    for (const auto& v : j.value("volumes", nlohmann::json::array()))
      c.volumes.push_back({v.value("source", ""), v.value("destination", ""), v.value("readOnly", false)});
    c.tmpfs = j.value("tmpfs", std::vector<std::string>{});
    if (j.contains("memory")) c.memory = j["memory"].get<int64_t>();
    if (j.contains("cpus")) c.cpus = j["cpus"].get<double>();
    if (j.contains("pidsLimit")) c.pids_limit = j["pidsLimit"].get<int64_t>();
    if (j.contains("cpuShares")) c.cpu_shares = j["cpuShares"].get<int64_t>();
    c.cpuset_cpus = j.value("cpusetCpus", "");
    c.cpuset_mems = j.value("cpusetMems", "");
    if (j.contains("memorySwap")) c.memory_swap = j["memorySwap"].get<int64_t>();
    if (j.contains("blkioWeight")) c.blkio_weight = j["blkioWeight"].get<int64_t>();
    if (j.contains("stopTimeout")) c.stop_timeout = j["stopTimeout"].get<int>();
    c.read_only = j.value("readOnly", false);
    c.init = j.value("init", false);
    c.tty = j.value("tty", false);
    c.interactive = j.value("interactive", false);
    c.stdin_once = j.value("stdinOnce", false);
    c.auto_remove = j.value("autoRemove", false);
    c.ephemeral = j.value("ephemeral", false);
    c.restart = j.value("restart", "no");
    c.labels = j.value("labels", std::map<std::string, std::string>{});
    c.cap_add = j.value("capAdd", std::vector<std::string>{});
    c.cap_drop = j.value("capDrop", std::vector<std::string>{});
    c.no_new_privileges = j.value("noNewPrivileges", false);
    c.seccomp = j.value("seccomp", "");
    c.stop_signal = j.value("stopSignal", "");
    c.network = j.value("network", "none");
    c.network_aliases = j.value("networkAliases", std::vector<std::string>{});
    c.ip = j.value("ip", "");
    c.dns = j.value("dns", std::vector<std::string>{});
    c.add_hosts = j.value("addHosts", std::vector<std::string>{});
    c.publish = j.value("publish", std::vector<std::string>{});
    c.publish_all = j.value("publishAll", false);
    c.health_command = j.value("healthCommand", std::vector<std::string>{});
    c.health_interval_ms = j.value("healthIntervalMs", int64_t{30'000});
    c.health_timeout_ms = j.value("healthTimeoutMs", int64_t{30'000});
    c.health_start_period_ms = j.value("healthStartPeriodMs", int64_t{0});
    c.health_retries = j.value("healthRetries", 3);
  } catch (const nlohmann::json::exception& e) {
    return Error::make(ErrorKind::corrupt, "a container's stored configuration: {}", e.what());
  }
  return c;
}

Result<PortSpec> parse_port(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Error::make(ErrorKind::invalid_argument, "port '{}': {}", text, why)
        .with_hint("use -p [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp], e.g. -p 8080:80 or -p 127.0.0.1:8080:80/tcp");
  };
  PortSpec p;
  std::string_view rest = text;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    p.protocol = std::string(rest.substr(slash + 1));
    rest = rest.substr(0, slash);
    if (p.protocol != "tcp" && p.protocol != "udp") return bad("the protocol must be tcp or udp");
  }
  auto number = [](std::string_view s) -> int {
    if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), ::isdigit)) return -1;
    int v = std::atoi(std::string(s).c_str());
    return v >= 1 && v <= 65535 ? v : -1;
  };
  std::vector<std::string> parts;  // empty fields count: "IP::PORT"
  for (size_t start = 0;;) {
    size_t colon = rest.find(':', start);
    parts.emplace_back(rest.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() > 3) return bad("too many ':'");
  p.container_port = number(parts.back());
  if (p.container_port < 0) return bad(fmt::format("container port '{}' is not a number in 1..65535", parts.back()));
  if (parts.size() >= 2 && !parts[parts.size() - 2].empty()) {
    p.host_port = number(parts[parts.size() - 2]);
    if (p.host_port < 0) return bad(fmt::format("host port '{}' is not a number in 1..65535", parts[parts.size() - 2]));
  }
  if (parts.size() == 3) {
    p.host_ip = parts[0];
    if (p.host_ip == "0.0.0.0") p.host_ip.clear();
    in_addr addr{};
    if (!p.host_ip.empty() && ::inet_pton(AF_INET, p.host_ip.c_str(), &addr) != 1)
      return bad(fmt::format("'{}' is not an IPv4 address", p.host_ip));
  }
  return p;
}

Result<VolumeMount> parse_volume(std::string_view text) {
  auto parts = sys::split(text, ':');
  VolumeMount v;
  auto bad = [&](std::string_view why) {
    return Error::make(ErrorKind::invalid_argument, "volume '{}': {}", text, why)
        .with_hint("use -v /host/path:/container/path[:ro], -v NAME:/container/path[:ro] or -v /container/path");
  };
  if (parts.empty() || parts.size() > 3) return bad("expected SOURCE:DESTINATION[:ro|rw]");
  if (parts.size() == 1) {
    v.destination = parts[0];
  } else {
    v.source = parts[0];
    v.destination = parts[1];
    if (parts.size() == 3) {
      for (const auto& option : sys::split(parts[2], ',')) {
        if (option == "ro") v.read_only = true;
        else if (option == "rw") v.read_only = false;
        else if (option != "z" && option != "Z") return bad(fmt::format("unknown option '{}' (use ro or rw)", option));
      }
    }
    if (v.source.empty()) return bad("the source is empty");
    if (!v.is_bind()) {
      for (char ch : v.source)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.' && ch != '-')
          return bad(fmt::format("'{}' is neither an absolute host path nor a volume name", v.source));
    }
  }
  if (v.destination.empty() || v.destination[0] != '/') return bad("the destination must be an absolute path");
  if (v.destination == "/") return bad("the destination cannot be '/'");
  return v;
}

Result<int64_t> parse_size(std::string_view text) {
  std::string s(text);
  char* end = nullptr;
  double value = std::strtod(s.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  for (auto& ch : unit) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!unit.empty() && unit.back() == 'b' && unit.size() == 2) unit.pop_back();
  int64_t scale = unit.empty() || unit == "b" ? 1 : unit == "k" ? 1 << 10 : unit == "m" ? 1 << 20 : unit == "g" ? 1 << 30 : 0;
  if (end == s.c_str() || scale == 0 || value < 0)
    return Error::make(ErrorKind::invalid_argument, "size '{}': use a number with an optional unit b, k, m or g (e.g. 512m)", text);
  return static_cast<int64_t>(value * static_cast<double>(scale));
}

Result<std::vector<std::string>> read_env_file(const std::string& path) {
  BERTH_TRY(auto text, sys::read_file(path));
  std::vector<std::string> env;
  int line_no = 0;
  for (auto line : sys::split(text, '\n')) {
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    line = line.substr(start);
    auto eq = line.find('=');
    std::string name = line.substr(0, eq);
    if (name.empty() || name.find_first_of(" \t") != std::string::npos)
      return Error::make(ErrorKind::invalid_argument, "{}:{}: '{}' is not NAME=value", path, line_no, line);
    if (eq == std::string::npos) {
      if (const char* value = std::getenv(name.c_str())) env.push_back(name + "=" + value);
    } else {
      env.push_back(line);
    }
  }
  return env;
}

}  // namespace berth::engine
