// load_project: files → interpolated, merged, validated model.
#include "project/load.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "base/sys.h"
#include "project/detail/formats.h"
#include "project/normalise.h"
#include "project/plan.h"

namespace berth::project {

const Service* Project::service(std::string_view n) const {
  for (const auto& s : services)
    if (s.name == n) return &s;
  return nullptr;
}
Service* Project::service(std::string_view n) {
  for (auto& s : services)
    if (s.name == n) return &s;
  return nullptr;
}
const Network* Project::network(std::string_view n) const {
  for (const auto& x : networks)
    if (x.name == n) return &x;
  return nullptr;
}
const Volume* Project::volume(std::string_view n) const {
  for (const auto& x : volumes)
    if (x.name == n) return &x;
  return nullptr;
}

namespace detail {

Result<void> check_project(const Project& project,
                           const std::map<std::string, std::string>& service_file) {
  auto file_of = [&](const std::string& service) {
    auto it = service_file.find(service);
    return it != service_file.end()       ? it->second
           : project.config_files.empty() ? std::string("project")
                                          : project.config_files.back();
  };
  for (const auto& s : project.services) {
    Ctx ctx{file_of(s.name)};
    std::string path = join("services", s.name);
    for (size_t i = 0; i < s.depends_on.size(); ++i) {
      const auto& d = s.depends_on[i];
      if (!project.service(d.service)) {
        bool disabled =
            std::find(project.disabled_services.begin(), project.disabled_services.end(),
                      d.service) != project.disabled_services.end();
        if (!d.required) continue;
        return invalid(ctx, join(path, "depends_on"), d.service,
                       disabled ? "is a service whose profile is not enabled (use --profile)"
                                : "is not a service of this project");
      }
      if (d.condition == "service_healthy") {
        const Service* dep = project.service(d.service);
        if (!dep->healthcheck || dep->healthcheck->disable)
          return invalid(ctx, join(join(path, "depends_on"), d.service), "service_healthy",
                         fmt::format("waits for a health check, but {} has none", d.service));
      }
    }
    for (const auto& [name, cfg] : s.networks)
      if (name != "default" && !project.network(name))
        return invalid(ctx, join(path, "networks"), name,
                       "is not declared under the top-level networks");
    for (size_t i = 0; i < s.volumes.size(); ++i) {
      const auto& m = s.volumes[i];
      if (m.type == "volume" && !m.source.empty() && !project.volume(m.source) &&
          project.format == "compose")
        return invalid(
            ctx, index(join(path, "volumes"), i), m.source + ":" + m.target,
            fmt::format("uses volume \"{}\", which is not declared under the top-level volumes",
                        m.source));
    }
    int fixed = 0;
    for (const auto& p : s.ports) fixed += p.host_port != 0;
    if (fixed && s.replicas > 1)
      return invalid_at(
          ctx, path,
          fmt::format(
              "publishes a fixed host port ({}) and has {} replicas: only one instance can hold it",
              s.ports[0].host_port, s.replicas));
  }
  BERTH_TRY(auto order, start_order(project));
  (void)order;
  BERTH_TRY_VOID(check_port_clashes(project));
  return {};
}

}  // namespace detail

namespace {

std::string dir_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool looks_like_json(const SourceFile& f) {
  if (f.path.ends_with(".json")) return true;
  size_t i = f.text.find_first_not_of(" \t\r\n");
  return i != std::string::npos && f.text[i] == '{';
}

Result<std::string> read_host_file(const std::string& path) { return sys::read_file(path); }

}  // namespace

Result<Loaded> load_project(const LoadOptions& options) {
  using nlohmann::json;
  if (options.files.empty()) return Error(ErrorKind::invalid_argument, "no project file given");
  Loaded out;
  Project& project = out.project;
  project.working_dir =
      options.working_dir.empty() ? dir_of(options.files[0].path) : options.working_dir;
  for (const auto& f : options.files) project.config_files.push_back(f.path);
  auto read_file = options.read_file ? options.read_file : detail::ReadFile(read_host_file);

  std::map<std::string, std::string> vars = options.env_file;
  for (const auto& [k, v] : options.environment) vars[k] = v;
  for (const auto& [k, v] : options.vars) vars[k] = v;

  std::map<std::string, std::string> service_file;
  std::string file_name;  // `name:` from the files
  bool json_format = looks_like_json(options.files[0]);
  json merged = json::object();
  for (const auto& f : options.files) {
    std::string label = base_name(f.path);
    json tree;
    if (looks_like_json(f)) {
      BERTH_TRY(tree, detail::parse_json(f.text, label));
    } else {
      BERTH_TRY(tree, detail::yaml_to_json(f.text, label));
    }
    if (looks_like_json(f) && detail::is_json_project(tree)) {
      if (options.files.size() > 1)
        return Error::make(ErrorKind::invalid_argument,
                           "{}: a JSON project file cannot be merged with other files", label);
      detail::Ctx ctx{label, &out.warnings, true};
      BERTH_TRY_VOID(detail::read_json_project(ctx, tree, options.vars, project));
      for (const auto& s : project.services) service_file[s.name] = label;
      file_name = project.name;
      json_format = true;
      break;
    }
    json_format = false;
    if (tree.is_null()) tree = json::object();
    if (!tree.is_object())
      return Error::make(ErrorKind::invalid_argument, "{}: the top level is not a mapping", label);
    BERTH_TRY_VOID(detail::interpolate_tree(tree, vars, label));
    // Each file on its own first: its errors name it.
    detail::Ctx ctx{label, &out.warnings, false};
    Project scratch;
    scratch.working_dir = project.working_dir;
    detail::ComposeInput in{&tree, {}, vars, read_file, true};
    BERTH_TRY_VOID(detail::read_compose(ctx, in, scratch));
    if (tree.contains("name") && tree["name"].is_string())
      file_name = tree["name"].get<std::string>();
    if (tree.contains("services") && tree["services"].is_object()) {
      for (auto& [name, svc] : tree["services"].items()) {
        service_file[name] = label;
        detail::normalise_for_merge(svc);
      }
    }
    detail::merge_compose(merged, tree);
  }

  if (!json_format) {
    detail::Ctx ctx{base_name(options.files.back().path), &out.warnings, false};
    detail::ComposeInput in{&merged, service_file, vars, read_file, false};
    // Warnings were given per file already.
    std::vector<std::string> ignored;
    ctx.warnings = &ignored;
    BERTH_TRY_VOID(detail::read_compose(ctx, in, project));
  }

  // The name: -p, COMPOSE_PROJECT_NAME, the file's name, the directory.
  std::string name = options.project_name;
  if (name.empty())
    if (auto it = options.environment.find("COMPOSE_PROJECT_NAME"); it != options.environment.end())
      name = it->second;
  if (name.empty())
    if (auto it = options.env_file.find("COMPOSE_PROJECT_NAME"); it != options.env_file.end())
      name = it->second;
  if (name.empty()) name = file_name;
  if (name.empty()) name = base_name(project.working_dir);
  project.name = normalise_project_name(name);
  if (project.name.empty())
    return Error::make(ErrorKind::invalid_argument, "project name \"{}\" has no letters or digits",
                       name)
        .with_hint("give one with -p NAME");

  // Profiles: a service with profiles runs only when one of them is enabled or it is named.
  std::vector<std::string> profiles = options.profiles;
  if (auto it = vars.find("COMPOSE_PROFILES"); it != vars.end() && profiles.empty())
    for (auto& p : sys::split(it->second, ','))
      if (!p.empty()) profiles.push_back(p);
  bool all_profiles = std::find(profiles.begin(), profiles.end(), "*") != profiles.end();
  std::vector<Service> active;
  for (auto& s : project.services) {
    bool on = s.profiles.empty() || all_profiles ||
              std::find(options.services.begin(), options.services.end(), s.name) !=
                  options.services.end();
    for (const auto& p : s.profiles)
      on |= std::find(profiles.begin(), profiles.end(), p) != profiles.end();
    if (on)
      active.push_back(std::move(s));
    else
      project.disabled_services.push_back(s.name);
  }
  project.services = std::move(active);
  std::sort(project.services.begin(), project.services.end(),
            [](auto& a, auto& b) { return a.name < b.name; });
  for (const auto& n : options.services)
    if (!project.service(n))
      return Error::make(ErrorKind::invalid_argument, "no such service: {}", n);

  // Networks: services without any join "default"; "default" exists when someone uses it.
  bool uses_default = false;
  for (auto& s : project.services) {
    if (s.networks.empty()) s.networks["default"] = {};
    uses_default |= s.networks.count("default") > 0;
  }
  if (uses_default && !project.network("default")) project.networks.push_back({"default"});
  std::sort(project.networks.begin(), project.networks.end(),
            [](auto& a, auto& b) { return a.name < b.name; });
  std::sort(project.volumes.begin(), project.volumes.end(),
            [](auto& a, auto& b) { return a.name < b.name; });
  BERTH_TRY_VOID(detail::check_project(project, service_file));
  // Values come from the files, .env, env_file: and the environment; JSON (berth.db, config
  // hashes, `config`) cannot hold text that is not UTF-8.
  if (auto bad = field_not_utf8(project)) {
    std::string file = base_name(options.files.back().path);
    if (bad->starts_with("services.")) {
      for (const auto& [service, label] : service_file)
        if (bad->starts_with("services." + service + ".")) file = label;
    }
    return Error::make(ErrorKind::invalid_argument, "{}: {}: not valid UTF-8", file, *bad);
  }
  return out;
}

Result<LoadOptions> read_files(const std::vector<std::string>& files, const std::string& dir,
                               const std::vector<std::string>& env_files) {
  LoadOptions options;
  std::vector<std::string> paths;
  for (const auto& f : files) {
    if (f == "-")
      return Error(ErrorKind::unsupported,
                   "reading the project from stdin (-f -) is not supported yet");
    paths.push_back(f.starts_with("/") ? f : dir + "/" + f);
  }
  if (paths.empty()) {
    for (const char* n : {"compose.yaml", "compose.yml", "docker-compose.yaml",
                          "docker-compose.yml", "berth.json"}) {
      if (sys::exists(dir + "/" + n)) {
        paths.push_back(dir + "/" + n);
        break;
      }
    }
    if (paths.empty())
      return Error::make(ErrorKind::not_found, "no project file in '{}'", dir)
          .with_hint("name one with -f, or add compose.yaml (or berth.json)");
    std::string first = paths[0];
    bool docker = first.find("docker-compose") != std::string::npos;
    for (const char* n : {"compose.override.yaml", "compose.override.yml",
                          "docker-compose.override.yaml", "docker-compose.override.yml"}) {
      if ((std::string(n).starts_with("docker") == docker) && sys::exists(dir + "/" + n)) {
        paths.push_back(dir + "/" + n);
        break;
      }
    }
  }
  for (const auto& p : paths) {
    auto text = sys::read_file(p);
    if (!text) return std::move(text).error().context(fmt::format("read project file '{}'", p));
    options.files.push_back({p, *text});
  }
  options.working_dir = dir_of(paths[0]);
  std::vector<std::string> envs = env_files;
  bool explicit_env = !envs.empty();
  if (envs.empty()) envs.push_back(options.working_dir + "/.env");
  for (const auto& e : envs) {
    std::string path = e.starts_with("/") ? e : dir + "/" + e;
    if (!explicit_env && !sys::exists(path)) continue;
    auto text = sys::read_file(path);
    if (!text) return std::move(text).error().context(fmt::format("read env file '{}'", path));
    BERTH_TRY(auto vars, parse_env_file(*text, path));
    for (auto& [k, v] : vars) options.env_file[k] = v;
  }
  for (char** e = ::environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) options.environment[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return options;
}

}  // namespace berth::project
