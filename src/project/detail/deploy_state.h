// project/detail/deploy_state.h — what up, down, scale and show share: an instance's labels, why
// it is not running (in words), and the project's stored desired state (the `projects` table).
// Private to project/.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "project/model.h"

namespace berth::project::detail {

std::string label_of(const engine::ContainerRecord& c, const char* key);
// The instance number (berth.compose.container-number), 0 if missing or not a number.
int number_of(const engine::ContainerRecord& c);

// Why an instance is not running, in words ("exited 1", "OOM killed at 64 MiB", ...).
std::string reason_of(const engine::ContainerRecord& c);
// The last `n` lines of its log, each cut at 200 bytes.
std::vector<std::string> last_log_lines(engine::Engine& engine, const std::string& id, int n);
// The health check's last output: "exit 1: message".
std::string last_health_output(const engine::ContainerRecord& c);
// reason_of with the evidence: the failing check's output or the last log line.
std::string describe_failure(engine::Engine& engine, const engine::ContainerRecord& c);

// The model `up` deployed, saved in the projects table.
Result<void> save_model(engine::Engine& engine, const Project& project);
// The project's row: format, working_dir, config_files, model, errors, updated.
Result<std::optional<nlohmann::json>> stored_row(engine::Engine& engine, const std::string& name);
// A service's last deploy error ("" clears it), shown by `compose ps`.
Result<void> set_error(engine::Engine& engine, const std::string& project, const std::string& service,
                       const std::string& error);
// Each service's desired instances as the last up stored them (none stored: 0).
Result<std::map<std::string, int>> stored_replicas(engine::Engine& engine, const std::string& name);

}  // namespace berth::project::detail
