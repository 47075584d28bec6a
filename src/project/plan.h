// project/plan.h — pure decisions over the model: start order, port clashes, names, labels,
// what each service's configuration hashes to, and what `up` must do to turn the instances that
// exist into the ones the model asks for. No I/O: unit-tested without the engine.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "project/model.h"

namespace berth::project {

// docker compose's labels, so that tools that read them see berth's containers as theirs.
inline constexpr const char* kLabelProject = "com.docker.compose.project";
inline constexpr const char* kLabelService = "com.docker.compose.service";
inline constexpr const char* kLabelNumber = "com.docker.compose.container-number";
inline constexpr const char* kLabelOneoff = "com.docker.compose.oneoff";
inline constexpr const char* kLabelConfigHash = "com.docker.compose.config-hash";
inline constexpr const char* kLabelWorkingDir = "com.docker.compose.project.working_dir";
inline constexpr const char* kLabelConfigFiles = "com.docker.compose.project.config_files";
inline constexpr const char* kLabelDependsOn = "com.docker.compose.depends_on";
inline constexpr const char* kLabelNetwork = "com.docker.compose.network";
inline constexpr const char* kLabelVolume = "com.docker.compose.volume";

// Services in an order where each comes after everything it depends on (ties by name). A cycle
// is an error naming it: "dependency cycle: api -> db -> api".
Result<std::vector<std::string>> start_order(const Project& project);
// The services `names` need, themselves included, in start order.
Result<std::vector<std::string>> with_dependencies(const Project& project,
                                                   const std::vector<std::string>& names);

// Two services (or two mappings) publishing the same host address, port and protocol.
Result<void> check_port_clashes(const Project& project);

// "shop-web-1", or the service's container_name.
std::string instance_name(const Project& project, const Service& service, int number);
// The image a service runs: its `image`, or PROJECT-SERVICE for a `build:` without one (what
// the build is named).
std::string image_name(const Project& project, const Service& service);
// The engine's names: "shop_default" for the project's network "default", "shop_data" for volume
// "data"; external ones keep their own names.
std::string network_name(const Project& project, const std::string& network);
std::string volume_name(const Project& project, const std::string& volume);

// A hash of everything that shapes a service's containers (not replicas, not update policy):
// instances whose label differs are recreated by `up`. `image_id` is the resolved image.
std::string config_hash(const Project& project, const Service& service,
                        const std::string& image_id);

// An instance of a service as it exists.
struct Instance {
  std::string id, name;
  int number = 0;
  std::string hash;
  std::string state;  // created, running, exited, ...
  bool running = false;
};

struct Step {
  enum class Kind { keep, start, create, recreate, remove };
  Kind kind = Kind::keep;
  int number = 0;
  std::string id;  // the existing instance (start, recreate, remove)
  std::string
      reason;  // why: "configuration changed", "scaled down", "stray from an interrupted up"
};

// What turns `actual` into `replicas` instances with `hash`: numbers 1..replicas, each under its
// canonical name; instances above replicas go (the newest first); duplicates and renamed
// leftovers of an interrupted update go.
std::vector<Step> plan_service(const Project& project, const Service& service,
                               const std::string& hash, int replicas,
                               const std::vector<Instance>& actual);

// The update order for a service: start-first unless it publishes a fixed host port (two
// instances cannot hold it) or the file says stop-first.
bool start_first(const Service& service);

}  // namespace berth::project
