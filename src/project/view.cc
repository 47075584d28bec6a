// project/view.cc — `compose ps`/`show` (a project's services and instances) and `compose ls`.
#include "project/deploy.h"

#include "engine/networks.h"
#include "project/changes.h"
#include "project/detail/deploy_state.h"
#include "project/plan.h"

namespace berth::project {

using nlohmann::json;
using namespace detail;

Result<ProjectView> show(engine::Engine& engine, const std::string& name, const Project* project) {
  ProjectView view;
  view.name = name;
  BERTH_TRY(auto stored, stored_row(engine, name));
  json model = stored ? (*stored)["model"] : json::object();
  json errors = stored ? (*stored)["errors"] : json::object();
  if (project) {
    view.working_dir = project->working_dir;
    view.format = project->format;
    view.config_files = project->config_files;
  } else if (stored) {
    view.working_dir = (*stored)["working_dir"].get<std::string>();
    view.format = (*stored)["format"].get<std::string>();
    for (const auto& f : (*stored)["config_files"])
      view.config_files.push_back(f.get<std::string>());
  }
  BERTH_TRY(auto containers, project_containers(engine, name));
  if (!project && !stored && containers.empty())
    return Error::make(ErrorKind::not_found, "project {} not found", name)
        .with_hint("see berth compose ls");
  // Desired counts: the stored model (what up last did, scale included), else the file's.
  std::map<std::string, ServiceView> services;
  if (model.contains("services"))
    for (auto& [sname, s] : model["services"].items()) {
      auto& v = services[sname];
      v.name = sname;
      v.image = s.value("image", "");
      v.desired = s.contains("deploy") ? s["deploy"].value("replicas", 1) : 1;
      v.has_health = s.contains("healthcheck") && !s["healthcheck"].value("disable", false);
    }
  if (project)
    for (const auto& s : project->services) {
      auto& v = services[s.name];
      if (!v.name.empty()) continue;  // what the last up deployed wins over the files
      v.name = s.name;
      v.desired = s.replicas;
      v.image = s.image;
      v.has_health = s.healthcheck && !s.healthcheck->disable;
    }
  for (auto& [sname, err] : errors.items())
    if (services.count(sname)) services[sname].error = err.get<std::string>();
  BERTH_TRY(auto changes, stored_changes(engine, name));
  for (const auto& [sname, c] : changes) {
    if (!services.count(sname)) continue;
    auto& out = services[sname].changes;
    if (c.image) out.push_back("image " + *c.image);
    for (const auto& [k, v] : c.env) out.push_back(k + "=" + v);
    for (const auto& [k, v] : c.vars) out.push_back("--var " + k + "=" + v);
  }
  for (const auto& c : containers) {
    if (label_of(c, kLabelOneoff) == "True") continue;  // `run` containers are no instances
    std::string sname = label_of(c, kLabelService);
    auto& v = services[sname];
    v.name = sname;
    InstanceView i;
    i.number = number_of(c);
    i.name = c.name;
    i.id = c.id.substr(0, 12);
    i.state = c.state;
    i.health = c.health;
    if (c.running()) {
      ++v.running;
      if (c.health == "healthy") ++v.healthy;
      if (auto eps = engine::container_endpoints(engine, c.id))
        for (const auto& e : *eps) i.addresses += (i.addresses.empty() ? "" : ", ") + e.ip;
    }
    if (auto ports = engine::container_ports(engine, c.id)) i.ports = engine::format_ports(*ports);
    i.memory_limit = c.config.memory.value_or(0);
    if (!c.running() || c.health == "unhealthy") {
      i.reason = describe_failure(engine, c);
      i.last_logs = last_log_lines(engine, c.id, 5);
    }
    v.instances.push_back(std::move(i));
  }
  for (auto& [sname, v] : services) view.services.push_back(std::move(v));
  return view;
}

Result<std::vector<StoredProject>> list_projects(engine::Engine& engine) {
  std::map<std::string, StoredProject> out;
  BERTH_TRY(auto q, engine.db.prepare(
                        "SELECT name, format, working_dir, config_files, updated FROM projects"));
  for (;;) {
    BERTH_TRY(bool row, q.step());
    if (!row) break;
    StoredProject p;
    p.name = q.column_text(0);
    p.format = q.column_text(1);
    p.working_dir = q.column_text(2);
    auto files = json::parse(q.column_text(3), nullptr, false);
    if (files.is_array())
      for (const auto& f : files) p.config_files.push_back(f.get<std::string>());
    p.updated = q.column_int64(4);
    out[p.name] = p;
  }
  BERTH_TRY(auto all, engine::list_containers(engine));
  for (const auto& c : all) {
    std::string name = label_of(c, kLabelProject);
    if (name.empty()) continue;
    auto& p = out[name];
    p.name = name;
    ++p.total;
    if (c.running()) ++p.running;
  }
  std::vector<StoredProject> list;
  for (auto& [n, p] : out) list.push_back(std::move(p));
  return list;
}

}  // namespace berth::project
