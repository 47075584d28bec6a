// `compose change` kept apart from the files: applied again until the files change the field.
#include "project/changes.h"

#include <algorithm>

#include "project/detail/json.h"
#include "project/normalise.h"

namespace berth::project {
namespace {

using nlohmann::json;

std::optional<std::string> env_of(const Service& s, const std::string& name) {
  auto it = s.environment.find(name);
  if (it == s.environment.end()) return std::nullopt;
  return it->second;
}

std::string shown(const std::optional<std::string>& value) {
  return value ? fmt::format("\"{}\"", *value) : std::string("nothing");
}

json to_json(const ServiceChange& c) {
  json j = json::object();
  if (c.image) j["image"] = *c.image, j["file_image"] = c.file_image;
  if (!c.env.empty()) {
    j["env"] = c.env;
    json files = json::object();
    for (const auto& [k, v] : c.file_env) files[k] = v ? json(*v) : json(nullptr);
    j["file_env"] = files;
  }
  if (!c.vars.empty()) j["vars"] = c.vars, j["file_service"] = c.file_service;
  return j;
}

ServiceChange from_json(const json& j) {
  ServiceChange c;
  if (!j.is_object()) return c;
  if (j.contains("image") && j["image"].is_string()) {
    c.image = j["image"].get<std::string>();
    c.file_image = j.value("file_image", "");
  }
  if (j.contains("env") && j["env"].is_object())
    for (auto& [k, v] : j["env"].items())
      if (v.is_string()) c.env[k] = v.get<std::string>();
  if (j.contains("file_env") && j["file_env"].is_object())
    for (auto& [k, v] : j["file_env"].items())
      c.file_env[k] = v.is_string() ? std::optional(v.get<std::string>()) : std::nullopt;
  if (j.contains("vars") && j["vars"].is_object())
    for (auto& [k, v] : j["vars"].items())
      if (v.is_string()) c.vars[k] = v.get<std::string>();
  c.file_service = j.value("file_service", "");
  return c;
}

}  // namespace

void note_change(Changes& changes, const Project& files, const Service& files_service,
                 const std::optional<std::string>& image,
                 const std::map<std::string, std::string>& env,
                 const std::map<std::string, std::string>& vars) {
  ServiceChange& c = changes[files_service.name];
  if (image) {
    c.image = image;
    c.file_image = files_service.image;
  }
  for (const auto& [k, v] : env) {
    c.env[k] = v;
    c.file_env[k] = env_of(files_service, k);
  }
  if (!vars.empty()) {
    for (const auto& [k, v] : vars) c.vars[k] = v;
    c.file_service = service_json(files, files_service);
  }
}

Result<void> apply_changes(Project& project, Changes& changes, const LoadWithVars& load,
                           std::vector<std::string>& notes) {
  for (auto it = changes.begin(); it != changes.end();) {
    const std::string& name = it->first;
    ServiceChange& c = it->second;
    Service* s = project.service(name);
    const auto& disabled = project.disabled_services;
    if (!s && std::find(disabled.begin(), disabled.end(), name) != disabled.end()) {
      ++it;  // in the files, not in an active profile: kept for when it is
      continue;
    }
    if (!s) {
      notes.push_back(
          fmt::format("service {}: no longer in the files; its change is dropped", name));
      it = changes.erase(it);
      continue;
    }
    const Service files = *s;
    std::string source = "from `berth compose change`";
    if (!c.vars.empty()) {
      std::string vars;
      for (const auto& [k, v] : c.vars)
        vars += fmt::format("{}{}={}", vars.empty() ? "" : " ", k, v);
      if (service_json(project, files) != c.file_service) {
        notes.push_back(fmt::format(
            "service {}: the files changed it since `berth compose change --var {}`: the files' "
            "version replaces the change",
            name, vars));
        c.vars.clear();
        c.file_service.clear();
      } else {
        BERTH_TRY(auto with, load(c.vars).context(fmt::format("service {}: --var {}", name, vars)));
        const Service* changed = with.service(name);
        if (!changed)
          return Error::make(ErrorKind::invalid_argument, "service {}: gone with --var {}", name,
                             vars);
        int replicas = s->replicas;
        *s = *changed;
        s->replicas = replicas;
        notes.push_back(fmt::format("service {}: keeps --var {} {}", name, vars, source));
      }
    }
    if (c.image) {
      if (files.image != c.file_image) {
        notes.push_back(
            fmt::format("service {}: the files changed its image ({} to {}): it replaces {} {}",
                        name, c.file_image, files.image, *c.image, source));
        c.image.reset();
        c.file_image.clear();
      } else {
        s->image = *c.image;
        notes.push_back(fmt::format("service {}: keeps image {} {} (the files say {})", name,
                                    *c.image, source, files.image));
      }
    }
    for (auto e = c.env.begin(); e != c.env.end();) {
      auto now = env_of(files, e->first);
      if (now != c.file_env[e->first]) {
        notes.push_back(fmt::format(
            "service {}: the files changed environment {} ({} to {}): it replaces \"{}\" {}", name,
            e->first, shown(c.file_env[e->first]), shown(now), e->second, source));
        c.file_env.erase(e->first);
        e = c.env.erase(e);
        continue;
      }
      s->environment[e->first] = e->second;
      notes.push_back(fmt::format("service {}: keeps {}={} {} (the files say {})", name, e->first,
                                  e->second, source, shown(now)));
      ++e;
    }
    if (c.empty())
      it = changes.erase(it);
    else
      ++it;
  }
  return {};
}

Result<Changes> stored_changes(engine::Engine& engine, const std::string& project) {
  Changes out;
  BERTH_TRY(auto q, engine.db.prepare("SELECT changes FROM projects WHERE name = ?1"));
  q.bind(1, project);
  BERTH_TRY(bool row, q.step());
  if (!row) return out;
  auto j = json::parse(q.column_text(0), nullptr, false);
  if (!j.is_object()) return out;
  for (auto& [name, c] : j.items()) {
    ServiceChange change = from_json(c);
    if (!change.empty()) out[name] = std::move(change);
  }
  return out;
}

Result<void> store_changes(engine::Engine& engine, const std::string& project,
                           const Changes& changes) {
  json j = json::object();
  for (const auto& [name, c] : changes)
    if (!c.empty()) j[name] = to_json(c);
  BERTH_TRY(auto q, engine.db.prepare("UPDATE projects SET changes = ?2 WHERE name = ?1"));
  q.bind_all(project, j.dump());
  return q.run();
}

}  // namespace berth::project
