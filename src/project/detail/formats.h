// project/detail/formats.h — the two readers behind load_project.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "project/detail/reader.h"
#include "project/model.h"

namespace berth::project::detail {

using ReadFile = std::function<Result<std::string>(const std::string& path)>;

// Interpolates every string value (keys stay as written) of a Compose tree.
Result<void> interpolate_tree(nlohmann::json& tree, const std::map<std::string, std::string>& vars,
                              const std::string& file, const std::string& path = "");

// List forms that have a map form (environment, labels, depends_on, networks, build.args) become
// maps, so that files merge key by key.
void normalise_for_merge(nlohmann::json& tree);
// Merges `over` into `base` as docker compose merges -f files: mappings key by key, command,
// entrypoint and healthcheck.test replaced, other lists appended without duplicates.
void merge_compose(nlohmann::json& base, const nlohmann::json& over);

struct ComposeInput {
  const nlohmann::json* tree = nullptr;
  std::map<std::string, std::string> service_file;  // where each service was last defined
  std::map<std::string, std::string> vars;          // for env_file entries without a value
  ReadFile read_file;
  bool partial = false;  // one of several files: cross-references are checked after merging
};
// services, networks, volumes, configs and secrets into `project` (name and working_dir set).
Result<void> read_compose(const Ctx& ctx, const ComposeInput& in, Project& project);

// A JSON project file (services of apps). `vars` are --var's.
Result<void> read_json_project(const Ctx& ctx, const nlohmann::json& tree,
                               const std::map<std::string, std::string>& vars, Project& project);

// A JSON project app's `domain` (Compose files: a service's `x-domain`, as `config` prints it).
Result<Domain> read_domain(const Ctx& ctx, std::string_view path, const nlohmann::json& v);

// True when a parsed JSON document is a JSON project file rather than a Compose file in JSON.
bool is_json_project(const nlohmann::json& tree);

// Shared checks after reading: dependencies exist and have no cycle, networks and volumes used
// are declared, fixed host ports are unique, container_name only with one replica.
Result<void> check_project(const Project& project,
                           const std::map<std::string, std::string>& service_file);

}  // namespace berth::project::detail
