// project/model.h — one model for a project of services, whichever file described it: a Compose
// file (project/load.h reads the Compose Specification) or a JSON project file (services of
// apps, Marathon style). Everything here is already interpolated, validated and normalised:
// durations in ms, sizes in bytes, relative host paths made absolute, defaults filled in.
//
// Plain values, no I/O. to_json/from_json (project/normalise.h) give the stored and printed form.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth::project {

// One published port range: [host_ip:][host[-host_end]:]container[-container_end][/proto].
// host_port 0: an ephemeral port. Ranges have equal lengths (or a single host port 0).
struct PortMapping {
  std::string host_ip;  // "" every address
  int host_port = 0, host_port_end = 0;
  int container_port = 0, container_port_end = 0;
  std::string protocol = "tcp";
  int count() const { return container_port_end - container_port + 1; }
};

struct Mount {
  std::string type = "volume";  // volume, bind, tmpfs
  std::string
      source;  // project volume name (volume), absolute host path (bind), "" (tmpfs, anonymous)
  std::string target;  // absolute path in the container
  bool read_only = false;
  std::optional<int64_t> tmpfs_size;  // bytes
};

struct HealthCheck {
  std::vector<std::string> test;  // argv run in the container; {} with disable
  bool disable = false;
  int64_t interval_ms = 30'000, timeout_ms = 30'000, start_period_ms = 0;
  int retries = 3;
};

struct Dependency {
  std::string service;
  std::string condition = "service_started";  // service_healthy, service_completed_successfully
  bool restart = false;
  bool required = true;
};

// deploy.update_config / rollback_config.
struct UpdatePolicy {
  int parallelism = 1;
  int64_t delay_ms = 0;
  std::string order;  // start-first, stop-first; "" = start-first when no fixed host port
  std::string failure_action = "rollback";  // rollback, pause, continue
};

struct Build {
  std::string context;     // absolute
  std::string dockerfile;  // relative to the context ("Dockerfile")
  std::map<std::string, std::string> args;
  std::string target;
};

struct ServiceNetwork {
  std::vector<std::string> aliases;
  std::string ipv4_address;
};

struct Domain {
  std::string type;  // HTTP
  std::string uri;
};

struct Service {
  std::string name;  // Compose: the key; JSON projects: "APP.SERVICE"
  std::string image;
  std::optional<Build> build;
  std::optional<std::vector<std::string>> command, entrypoint;
  std::map<std::string, std::string> environment;
  std::vector<PortMapping> ports;
  std::vector<std::string> expose;
  std::vector<Mount> volumes;
  std::map<std::string, ServiceNetwork> networks;  // by the project's network name
  std::vector<std::string> links;                  // "service" or "service:alias"
  std::vector<Dependency> depends_on;
  std::optional<HealthCheck> healthcheck;
  std::string restart = "no";
  int replicas = 1;
  std::optional<int64_t> memory;  // bytes
  std::optional<double> cpus;
  std::optional<int64_t> pids_limit;
  UpdatePolicy update_config, rollback_config;
  std::map<std::string, std::string> labels;
  std::string hostname, container_name, user, working_dir;
  std::vector<std::string> cap_add, cap_drop, tmpfs, profiles;
  bool read_only = false, init = false, tty = false, stdin_open = false;
  std::string stop_signal;
  std::optional<int64_t> stop_grace_period_ms;
  std::optional<Domain> domain;  // JSON projects
};

struct Network {
  std::string name;           // as the file names it ("default" included)
  std::string external_name;  // "" unless external: the existing network's name
  bool external = false, internal = false;
  std::string driver = "bridge", subnet, gateway;
  std::map<std::string, std::string> labels;
};

struct Volume {
  std::string name;  // as the file names it
  bool external = false;
  std::string external_name;
  std::map<std::string, std::string> labels;
};

struct FileObject {        // configs and secrets: file-based only
  std::string name, file;  // file absolute
};

// x-berth-proxy (Compose, top level): the project's load balancer, `berth proxy serve --name
// PROJECT --project PROJECT` started by `up` and stopped by `down` (docs/compose.md).
struct ProxySpec {
  std::vector<std::string> listen;  // [NAME=]ADDR[,tls], at least one
  std::string stats;                // ADDR of the stats page; "" none
};

struct Project {
  std::string name;         // [a-z0-9][a-z0-9_-]*
  std::string working_dir;  // absolute: relative paths in the files are against it
  std::vector<std::string> config_files;
  std::string format = "compose";  // compose, json
  std::vector<Service> services;   // sorted by name
  std::vector<Network> networks;   // sorted by name; "default" when a service uses it
  std::vector<Volume> volumes;
  std::vector<FileObject> configs, secrets;
  std::vector<std::string> disabled_services;  // present in the file, not in an active profile
  std::optional<ProxySpec> proxy;              // x-berth-proxy

  const Service* service(std::string_view name) const;
  Service* service(std::string_view name);
  const Network* network(std::string_view name) const;
  const Volume* volume(std::string_view name) const;
};

}  // namespace berth::project
