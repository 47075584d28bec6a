// project/deploy_state.cc — an instance's labels and state in words, the stored desired state.
#include "project/detail/deploy_state.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/sys.h"
#include "base/unique_fd.h"
#include "project/normalise.h"
#include "project/plan.h"
#include "state/transaction.h"

namespace berth::project::detail {

using nlohmann::json;

std::string label_of(const engine::ContainerRecord& c, const char* key) {
  auto it = c.config.labels.find(key);
  return it == c.config.labels.end() ? "" : it->second;
}

int number_of(const engine::ContainerRecord& c) {
  std::string n = label_of(c, kLabelNumber);
  return n.empty() || n.find_first_not_of("0123456789") != std::string::npos || n.size() > 6
             ? 0
             : std::stoi(n);
}

std::string reason_of(const engine::ContainerRecord& c) {
  if (c.state == "running" && c.health == "unhealthy") return "health check failing";
  if (c.running()) return "";
  if (!c.error.empty()) return c.error;
  if (c.oom_killed)
    return c.config.memory ? fmt::format("OOM killed at {} MiB", *c.config.memory / (1024 * 1024))
                           : "OOM killed";
  if (c.state == "created") return "created, never started";
  if (c.exit_code) return fmt::format("exited {}", *c.exit_code);
  return c.state;
}

std::vector<std::string> last_log_lines(engine::Engine& engine, const std::string& id, int n) {
  std::vector<std::string> out;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return out;
  UniqueFd reader(fds[0]), writer(fds[1]);
  engine::LogOptions options;
  options.tail = n;
  // The tail of a log fits in the pipe's buffer (64 KiB) unless lines are huge: cap them.
  ::fcntl(writer.get(), F_SETFL, O_NONBLOCK);
  (void)engine::read_logs(engine, id, options, writer.get(), writer.get());
  writer.reset();
  auto text = sys::read_fd(reader.get());
  if (!text) return out;
  for (auto& line : sys::split(*text, '\n'))
    if (!line.empty()) out.push_back(line.size() > 200 ? line.substr(0, 200) + "..." : line);
  if (out.size() > static_cast<size_t>(n)) out.erase(out.begin(), out.end() - n);
  return out;
}

// The health check's last output, for "health check failing: ...". The file is the monitor's
// (monitor/protocol.h kHealthFile).
std::string last_health_output(const engine::ContainerRecord& c) {
  auto text = sys::read_file(c.dir + "/health.json");
  if (!text) return "";
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.contains("Log") || !j["Log"].is_array() || j["Log"].empty()) return "";
  const json& last = j["Log"].back();
  std::string out = last.value("Output", "");
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return fmt::format("exit {}{}{}", last.value("ExitCode", 0), out.empty() ? "" : ": ", out);
}

std::string describe_failure(engine::Engine& engine, const engine::ContainerRecord& c) {
  std::string reason = reason_of(c);
  if (c.state == "running" && c.health == "unhealthy") {
    std::string out = last_health_output(c);
    if (!out.empty()) reason += ": " + out;
  } else if (!c.running() && c.exit_code && c.error.empty()) {
    auto lines = last_log_lines(engine, c.id, 1);
    if (!lines.empty()) reason += ": " + lines.back();
  }
  return reason;
}

Result<void> save_model(engine::Engine& engine, const Project& project) {
  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  BERTH_TRY(
      auto q,
      engine.db.prepare(
          "INSERT INTO projects(name, format, working_dir, config_files, model, errors, created, "
          "updated) "
          "VALUES (?1, ?2, ?3, ?4, ?5, '{}', ?6, ?6) ON CONFLICT(name) DO UPDATE SET format = ?2, "
          "working_dir = ?3, config_files = ?4, model = ?5, updated = ?6"));
  q.bind_all(project.name, project.format, project.working_dir, json(project.config_files).dump(),
             to_json(project, false), clock::now_ns());
  BERTH_TRY_VOID(q.run());
  return tx.commit();
}

Result<std::optional<json>> stored_row(engine::Engine& engine, const std::string& name) {
  BERTH_TRY(auto q, engine.db.prepare("SELECT format, working_dir, config_files, model, errors, "
                                      "updated FROM projects WHERE name = ?1"));
  q.bind(1, name);
  BERTH_TRY(bool row, q.step());
  if (!row) return std::optional<json>();
  json out = {{"format", q.column_text(0)},
              {"working_dir", q.column_text(1)},
              {"updated", q.column_int64(5)}};
  auto parse = [](const std::string& text) {
    auto j = json::parse(text, nullptr, false);
    return j.is_discarded() ? json::object() : j;
  };
  out["config_files"] = parse(q.column_text(2));
  out["model"] = parse(q.column_text(3));
  out["errors"] = parse(q.column_text(4));
  return std::optional(out);
}

Result<void> set_error(engine::Engine& engine, const std::string& project,
                       const std::string& service, const std::string& error) {
  BERTH_TRY(auto row, stored_row(engine, project));
  if (!row) return {};
  json errors = (*row)["errors"];
  if (error.empty())
    errors.erase(service);
  else
    errors[service] = error;
  BERTH_TRY(auto q, engine.db.prepare("UPDATE projects SET errors = ?2 WHERE name = ?1"));
  q.bind_all(project, errors.dump());
  return q.run();
}

Result<std::map<std::string, int>> stored_replicas(engine::Engine& engine,
                                                   const std::string& name) {
  std::map<std::string, int> out;
  BERTH_TRY(auto row, stored_row(engine, name));
  if (!row || !(*row)["model"].contains("services")) return out;
  for (auto& [sname, s] : (*row)["model"]["services"].items())
    out[sname] = s.contains("deploy") ? s["deploy"].value("replicas", 1) : 1;
  return out;
}

}  // namespace berth::project::detail
