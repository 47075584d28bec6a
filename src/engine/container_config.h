// engine/container_config.h — what `berth create`/`run` were asked for: the options a user typed,
// kept in berth.db (containers.config, JSON) so that `start`, `inspect` and restarts see them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

namespace berth::engine {

// One -v / --mount: a bind (source is an absolute host path) or a named volume.
struct VolumeMount {
  std::string source;       // host path, volume name, or empty for an anonymous volume
  std::string destination;  // absolute path in the container
  bool read_only = false;
  bool is_bind() const { return !source.empty() && source[0] == '/'; }
};

// The pids limit of a container started without --pids-limit (podman's default): enough for
// any real service, and a fork bomb stops there instead of exhausting the host's pid space.
inline constexpr int64_t kDefaultPidsLimit = 2048;

// The limit a container runs with: --pids-limit, else the default; nullopt when unlimited.
inline std::optional<int64_t> effective_pids_limit(std::optional<int64_t> requested) {
  int64_t limit = requested.value_or(kDefaultPidsLimit);
  if (limit <= 0) return std::nullopt;
  return limit;
}

struct ContainerConfig {
  std::string image;  // as the user typed it
  std::optional<std::vector<std::string>> entrypoint;  // --entrypoint ("" clears the image's)
  std::vector<std::string> command;                    // after the image name
  std::vector<std::string> env;                        // NAME=value, -e and --env-file merged
  std::string workdir, user, hostname;
  std::vector<VolumeMount> volumes;
  std::vector<std::string> tmpfs;  // "/run" or "/run:size=64m,mode=1777"
  std::optional<int64_t> memory;   // bytes
  std::optional<double> cpus;
  std::optional<int64_t> pids_limit;  // unset: kDefaultPidsLimit; 0 or less: no limit
  // docker update's (and HostConfig's) finer knobs; unset: the kernel's defaults.
  std::optional<int64_t> cpu_shares;    // relative CPU weight, 2..262144 (v2: cpu.weight)
  std::string cpuset_cpus, cpuset_mems;  // "0-1,3": where it may run and take memory from
  std::optional<int64_t> memory_swap;   // memory + swap in bytes (docker's MemorySwap); -1: no limit
  std::optional<int64_t> blkio_weight;  // relative block I/O weight, 10..1000
  bool read_only = false, init = false, tty = false, interactive = false, auto_remove = false;
  // Removed when it ends, by the engine (auto_remove implies it) or by whoever created it (the
  // API's AutoRemove, removed once its waiter and attached clients are done): its bundle lives
  // on the run root's tmpfs and its writable layer is a volatile overlay, as a --rm container's.
  bool ephemeral = false;
  bool short_lived() const { return auto_remove || ephemeral; }
  // The end of an attached client's input closes the container's stdin (docker run -i's
  // StdinOnce; through the API only).
  bool stdin_once = false;
  std::string restart = "no";
  std::map<std::string, std::string> labels;
  std::vector<std::string> cap_add, cap_drop;
  bool no_new_privileges = false;
  std::string seccomp;  // "" default profile, "unconfined", or a profile file's path
  std::string stop_signal;  // "" → the image's or SIGTERM
  std::optional<int> stop_timeout;  // seconds; default 10
  // A network's name ("bridge" is the default network), none, host, or container:NAME.
  std::string network = "bridge";
  std::vector<std::string> network_aliases;  // --network-alias: more names on that network
  std::string ip;                            // --ip: a fixed address on it
  std::vector<std::string> dns;              // --dns: nameservers instead of the network's
  std::vector<std::string> add_hosts;        // --add-host NAME:IP, into /etc/hosts
  std::vector<std::string> publish;          // -p as typed
  bool publish_all = false;                  // -P: every port the image exposes
  bool on_bridge() const { return network != "none" && network != "host" && !network.starts_with("container:"); }
  // The health check: argv run in the container ({} = none). Resolved at create from
  // --health-cmd or the image's HEALTHCHECK; --no-healthcheck clears it.
  std::vector<std::string> health_command;
  int64_t health_interval_ms = 30'000, health_timeout_ms = 30'000, health_start_period_ms = 0;
  int health_retries = 3;
};

std::string to_json(const ContainerConfig& config);
Result<ContainerConfig> parse_container_config(std::string_view json);

// "-v" syntax: SOURCE:DEST[:ro|rw], or DEST alone (an anonymous volume). Errors name the value.
Result<VolumeMount> parse_volume(std::string_view text);

// One -p: [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp]. host_port 0: an ephemeral port.
struct PortSpec {
  std::string host_ip;  // "" = every address
  int host_port = 0;
  int container_port = 0;
  std::string protocol = "tcp";
};
Result<PortSpec> parse_port(std::string_view text);
// "512m", "1g", "1024" (bytes), as Docker's --memory takes them.
Result<int64_t> parse_size(std::string_view text);
// Docker's --env-file: NAME=value lines, # comments, a bare NAME takes the caller's value.
Result<std::vector<std::string>> read_env_file(const std::string& path);

}  // namespace berth::engine
