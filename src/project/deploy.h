// project/deploy.h — a project's containers through the engine: up (converge on the model),
// down, scale, start/stop/restart, and the view of desired against actual (`show`).
//
// Instances are containers named PROJECT-SERVICE-N on the project's networks (PROJECT_NETWORK),
// labelled as docker compose labels them, reachable by DNS as SERVICE and SERVICE.PROJECT. The
// model `up` was given is stored in berth.db (table projects) before anything changes, so an
// interrupted `up` is finished by the next one: each service's instances are planned from what
// exists (plan_service) and only what differs is touched.
//
// Concurrency: every call that changes a project holds its lock (state/lock.h, "project-NAME")
// for its whole length; readers (show, ps) take none.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "project/model.h"

namespace berth::project {

// A service with build: asks for an image; the answer is the reference to run.
struct BuildRequest {
  std::string project, service;
  Build build;
  std::string tag;  // what to tag the result as: the service's image, or PROJECT-SERVICE
};
using BuildFunction = std::function<Result<std::string>(const BuildRequest&)>;
// An image that is not in the store: fetched from its registry (the CLI's `berth pull`).
using PullFunction = std::function<Result<void>(const std::string& image)>;
// Progress lines for people ("Container shop-web-1  Started").
using Progress = std::function<void(std::string_view line)>;

struct UpOptions {
  std::vector<std::string>
      services;                      // only these (and their dependencies unless no_deps); {} = all
  std::map<std::string, int> scale;  // --scale S=N
  bool no_deps = false;
  bool build = false;  // --build: build even when the image exists
  bool wait = false;   // --wait: until every instance runs (and is healthy, with a check)
  int64_t wait_timeout_ms = 120'000;
  bool remove_orphans = false;
  BuildFunction build_image;
  PullFunction pull_image;  // empty: a missing image is an error
  Progress progress;
};
Result<void> up(engine::Engine& engine, const Project& project, const UpOptions& options);

struct DownOptions {
  bool volumes = false;         // -v: the project's named volumes and anonymous ones too
  bool remove_orphans = false;  // containers of services not in the model
  std::optional<int> timeout;
  Progress progress;
};
// `project` may be null (no files): then every container labelled with the name goes.
Result<void> down(engine::Engine& engine, const std::string& name, const Project* project,
                  const DownOptions& options);

// Containers of the project (all services, or `services`), by service then number.
Result<std::vector<engine::ContainerRecord>> project_containers(
    engine::Engine& engine, const std::string& name, const std::vector<std::string>& services = {});

Result<void> scale(engine::Engine& engine, const Project& project,
                   const std::map<std::string, int>& replicas, const Progress& progress);
// start/stop/restart existing instances (start and restart in dependency order, stop reversed).
Result<void> start(engine::Engine& engine, const Project& project,
                   const std::vector<std::string>& services, const Progress& progress);
Result<void> stop(engine::Engine& engine, const Project& project,
                  const std::vector<std::string>& services, std::optional<int> timeout,
                  const Progress& progress);

// `run`: a one-off container of a service (labelled oneoff, named PROJECT-SERVICE-run-HEX) on
// the project's networks, created but not started; its dependencies are brought up first
// unless `no_deps`. `command` empty: the service's.
struct RunOptions {
  std::vector<std::string> command, env;
  std::string user, workdir, entrypoint;
  bool has_entrypoint = false, no_deps = false, tty = false, interactive = false;
  BuildFunction build_image;
  PullFunction pull_image;
  Progress progress;
};
Result<engine::ContainerRecord> create_oneoff(engine::Engine& engine, const Project& project,
                                              const std::string& service,
                                              const RunOptions& options);

// `show`: desired against actual.
struct InstanceView {
  int number = 0;
  std::string name, id, state, health;
  std::string addresses, ports;
  int64_t memory = 0, memory_limit = 0;
  std::string reason;                  // why it is not running ("exited 127: sh: foo: not found")
  std::vector<std::string> last_logs;  // when not running
};
struct ServiceView {
  std::string name, image;
  int desired = 0, running = 0, healthy = 0;
  bool has_health = false;
  std::string error;  // the last up's failure for this service
  std::vector<std::string> changes;  // held by `compose change`: "image busybox:2", "MODE=fast"
  std::vector<InstanceView> instances;
};
struct ProjectView {
  std::string name, working_dir, format;
  std::vector<std::string> config_files;
  std::vector<ServiceView> services;
};
// `project` null: the desired state stored by the last up.
Result<ProjectView> show(engine::Engine& engine, const std::string& name, const Project* project);

// The stored desired state (`berth compose ls`).
struct StoredProject {
  std::string name, format, working_dir;
  std::vector<std::string> config_files;
  int64_t updated = 0;
  int running = 0, total = 0;  // containers
};
Result<std::vector<StoredProject>> list_projects(engine::Engine& engine);

}  // namespace berth::project
