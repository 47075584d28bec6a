// The JSON project reader: a project holds services, a service holds apps (Marathon's app
// fields, snake_case). Unknown fields and unknown $variables are errors.
#include <algorithm>

#include "base/sys.h"
#include "project/detail/formats.h"
#include "project/load.h"

namespace berth::project::detail {
namespace {

using nlohmann::json;

// Replaces $vars in every string (keys too), collecting unknown names.
void substitute_tree(json& tree, const std::map<std::string, std::string>& vars,
                     std::vector<std::string>& unknown) {
  if (tree.is_string()) {
    tree = substitute_vars(tree.get<std::string>(), vars, unknown);
  } else if (tree.is_array()) {
    for (auto& v : tree) substitute_tree(v, vars, unknown);
  } else if (tree.is_object()) {
    json out = json::object();
    for (auto& [k, v] : tree.items()) {
      json value = v;
      substitute_tree(value, vars, unknown);
      out[substitute_vars(k, vars, unknown)] = value;
    }
    tree = out;
  }
}

bool valid_id(std::string_view s) {
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '-';
  });
}

Result<void> read_app(const Ctx& ctx, const std::string& path, const json& app,
                      const std::string& group, const std::string& dir, Service& s,
                      std::vector<std::string>& deps) {
  BERTH_TRY_VOID(check_keys(
      ctx, path, app,
      {"id", "image", "cmd", "args", "instances", "mem", "cpus", "env", "port_mappings", "domain",
       "health_checks", "volumes", "dependencies", "labels", "user", "restart", "upgrade_strategy"},
      false));
  if (!app.contains("id")) return invalid_at(ctx, join(path, "id"), "is required");
  BERTH_TRY(auto id, read_string(ctx, join(path, "id"), app["id"]));
  if (!valid_id(id))
    return invalid(ctx, join(path, "id"), app["id"], "is not an id ([a-z0-9][a-z0-9-]*)");
  s.name = id + "." + group;
  if (!app.contains("image")) return invalid_at(ctx, join(path, "image"), "is required");
  BERTH_TRY(s.image, read_string(ctx, join(path, "image"), app["image"]));
  if (app.contains("cmd") && !app["cmd"].is_null()) {
    BERTH_TRY(auto cmd, read_string(ctx, join(path, "cmd"), app["cmd"]));
    s.command = std::vector<std::string>{"/bin/sh", "-c", cmd};
  }
  if (app.contains("args")) {
    if (s.command) return invalid_at(ctx, join(path, "args"), "cannot be given with cmd");
    BERTH_TRY(auto args, read_strings(ctx, join(path, "args"), app["args"]));
    s.command = args;
  }
  if (app.contains("instances")) {
    BERTH_TRY(auto n, read_int(ctx, join(path, "instances"), app["instances"], 0, 1000));
    s.replicas = static_cast<int>(n);
  }
  if (app.contains("mem")) {
    BERTH_TRY(auto mib, read_number(ctx, join(path, "mem"), app["mem"]));
    if (mib <= 0)
      return invalid(ctx, join(path, "mem"), app["mem"], "is not a positive number of MiB");
    BERTH_TRY(s.memory, checked_amount(ctx, join(path, "mem"), app["mem"], mib * 1024 * 1024));
  }
  if (app.contains("cpus")) {
    BERTH_TRY(auto c, read_number(ctx, join(path, "cpus"), app["cpus"]));
    if (c <= 0) return invalid(ctx, join(path, "cpus"), app["cpus"], "is not a positive number");
    s.cpus = c;
  }
  if (app.contains("env")) {
    if (!app["env"].is_object())
      return invalid(ctx, join(path, "env"), app["env"], "is not an object");
    for (auto& [k, v] : app["env"].items()) {
      BERTH_TRY(auto value, read_string(ctx, join(join(path, "env"), k), v));
      s.environment[k] = value;
    }
  }
  if (app.contains("labels")) {
    if (!app["labels"].is_object())
      return invalid(ctx, join(path, "labels"), app["labels"], "is not an object");
    for (auto& [k, v] : app["labels"].items()) {
      BERTH_TRY(auto value, read_string(ctx, join(join(path, "labels"), k), v));
      s.labels[k] = value;
    }
  }
  if (app.contains("user")) {
    BERTH_TRY(s.user, read_string(ctx, join(path, "user"), app["user"]));
  }
  s.restart = "always";
  if (app.contains("restart")) {
    BERTH_TRY(s.restart, read_string(ctx, join(path, "restart"), app["restart"]));
    if (s.restart != "no" && s.restart != "always" && s.restart != "on-failure" &&
        s.restart != "unless-stopped")
      return invalid(ctx, join(path, "restart"), app["restart"],
                     "is not no, always, on-failure or unless-stopped");
  }
  if (app.contains("port_mappings")) {
    const json& pm = app["port_mappings"];
    std::string pp = join(path, "port_mappings");
    if (!pm.is_array()) return invalid(ctx, pp, pm, "is not a list");
    for (size_t i = 0; i < pm.size(); ++i) {
      std::string p = index(pp, i);
      BERTH_TRY_VOID(check_keys(ctx, p, pm[i],
                                {"container_port", "host_port", "service_port", "protocol", "name"},
                                false));
      if (!pm[i].contains("container_port"))
        return invalid_at(ctx, join(p, "container_port"), "is required");
      PortMapping m;
      BERTH_TRY(auto cp,
                read_int(ctx, join(p, "container_port"), pm[i]["container_port"], 1, 65535));
      m.container_port = m.container_port_end = static_cast<int>(cp);
      for (const char* key : {"service_port", "host_port"}) {
        if (!pm[i].contains(key)) continue;
        BERTH_TRY(auto hp, read_int(ctx, join(p, key), pm[i][key], 0, 65535));
        m.host_port = m.host_port_end = static_cast<int>(hp);
      }
      if (pm[i].contains("protocol")) {
        BERTH_TRY(m.protocol, read_string(ctx, join(p, "protocol"), pm[i]["protocol"]));
        if (m.protocol != "tcp" && m.protocol != "udp")
          return invalid(ctx, join(p, "protocol"), pm[i]["protocol"], "is not tcp or udp");
      }
      s.ports.push_back(m);
    }
  }
  // The app's first port as $PORT, as the hosting services set it; a PORT the app gives wins.
  if (!s.ports.empty()) {
    s.environment.try_emplace("PORT", std::to_string(s.ports[0].container_port));
    for (size_t i = 0; i < s.ports.size(); ++i)
      s.environment.try_emplace(fmt::format("PORT{}", i),
                                std::to_string(s.ports[i].container_port));
  }
  if (app.contains("domain") && !app["domain"].is_null()) {
    BERTH_TRY(s.domain, read_domain(ctx, join(path, "domain"), app["domain"]));
  }
  if (app.contains("health_checks")) {
    const json& hc = app["health_checks"];
    std::string hp = join(path, "health_checks");
    if (!hc.is_array()) return invalid(ctx, hp, hc, "is not a list");
    if (hc.size() > 1) return invalid(ctx, hp, hc, "has more than one check (berth runs one)");
    for (size_t i = 0; i < hc.size(); ++i) {
      std::string p = index(hp, i);
      BERTH_TRY_VOID(
          check_keys(ctx, p, hc[i],
                     {"protocol", "cmd", "path", "port", "port_index", "interval_seconds",
                      "timeout_seconds", "grace_period_seconds", "max_consecutive_failures"},
                     false));
      HealthCheck h;
      std::string protocol = "COMMAND";
      if (hc[i].contains("protocol")) {
        BERTH_TRY(protocol, read_string(ctx, join(p, "protocol"), hc[i]["protocol"]));
      }
      if (protocol == "COMMAND" || protocol == "CMD") {
        if (!hc[i].contains("cmd"))
          return invalid_at(ctx, join(p, "cmd"), "is required for a COMMAND check");
        BERTH_TRY(auto cmd, read_string(ctx, join(p, "cmd"), hc[i]["cmd"]));
        h.test = {"/bin/sh", "-c", cmd};
      } else if (protocol == "HTTP" || protocol == "TCP") {
        int port = s.ports.empty() ? 0 : s.ports[0].container_port;
        if (hc[i].contains("port")) {
          BERTH_TRY(auto n, read_int(ctx, join(p, "port"), hc[i]["port"], 1, 65535));
          port = static_cast<int>(n);
        } else if (hc[i].contains("port_index")) {
          BERTH_TRY(auto n, read_int(ctx, join(p, "port_index"), hc[i]["port_index"], 0,
                                     static_cast<int64_t>(s.ports.size()) - 1));
          port = s.ports[static_cast<size_t>(n)].container_port;
        }
        if (port == 0) return invalid_at(ctx, p, "needs a port: give port, or port_mappings");
        std::string hpath = "/";
        if (hc[i].contains("path")) {
          BERTH_TRY(hpath, read_string(ctx, join(p, "path"), hc[i]["path"]));
        }
        h.test =
            protocol == "HTTP"
                ? std::vector<std::string>{"/bin/sh", "-c",
                                           fmt::format("wget -q -O /dev/null http://127.0.0.1:{}{}",
                                                       port, hpath)}
                : std::vector<std::string>{"/bin/sh", "-c",
                                           fmt::format("nc -z 127.0.0.1 {}", port)};
      } else {
        return invalid(ctx, join(p, "protocol"), hc[i]["protocol"], "is not COMMAND, HTTP or TCP");
      }
      auto secs = [&](const char* key, int64_t& out) -> Result<void> {
        if (hc[i].contains(key)) {
          BERTH_TRY(auto n, read_number(ctx, join(p, key), hc[i][key]));
          if (n < 0) return invalid(ctx, join(p, key), hc[i][key], "is negative");
          BERTH_TRY(out, checked_amount(ctx, join(p, key), hc[i][key], n * 1000));
        }
        return {};
      };
      BERTH_TRY_VOID(secs("interval_seconds", h.interval_ms));
      BERTH_TRY_VOID(secs("timeout_seconds", h.timeout_ms));
      BERTH_TRY_VOID(secs("grace_period_seconds", h.start_period_ms));
      if (hc[i].contains("max_consecutive_failures")) {
        BERTH_TRY(auto n, read_int(ctx, join(p, "max_consecutive_failures"),
                                   hc[i]["max_consecutive_failures"], 1, 1000));
        h.retries = static_cast<int>(n);
      }
      s.healthcheck = h;
    }
  }
  if (app.contains("volumes")) {
    const json& vols = app["volumes"];
    std::string vp = join(path, "volumes");
    if (!vols.is_array()) return invalid(ctx, vp, vols, "is not a list");
    for (size_t i = 0; i < vols.size(); ++i) {
      std::string p = index(vp, i);
      BERTH_TRY_VOID(
          check_keys(ctx, p, vols[i], {"container_path", "host_path", "name", "mode"}, false));
      Mount m;
      if (!vols[i].contains("container_path"))
        return invalid_at(ctx, join(p, "container_path"), "is required");
      BERTH_TRY(m.target, read_string(ctx, join(p, "container_path"), vols[i]["container_path"]));
      if (m.target.empty() || m.target[0] != '/')
        return invalid(ctx, join(p, "container_path"), vols[i]["container_path"],
                       "is not an absolute path");
      if (vols[i].contains("host_path") && vols[i].contains("name"))
        return invalid_at(ctx, p, "has both host_path and name");
      if (vols[i].contains("host_path")) {
        BERTH_TRY(m.source, read_string(ctx, join(p, "host_path"), vols[i]["host_path"]));
        m.type = "bind";
        if (m.source.empty() || m.source[0] != '/') m.source = resolve_path(dir, m.source);
      } else if (vols[i].contains("name")) {
        BERTH_TRY(m.source, read_string(ctx, join(p, "name"), vols[i]["name"]));
      }
      if (vols[i].contains("mode")) {
        BERTH_TRY(auto mode, read_string(ctx, join(p, "mode"), vols[i]["mode"]));
        if (mode != "RO" && mode != "RW")
          return invalid(ctx, join(p, "mode"), vols[i]["mode"], "is not RO or RW");
        m.read_only = mode == "RO";
      }
      s.volumes.push_back(m);
    }
  }
  if (app.contains("dependencies")) {
    BERTH_TRY(auto list, read_strings(ctx, join(path, "dependencies"), app["dependencies"]));
    std::string self = "/" + group + "/" + id;
    for (size_t i = 0; i < list.size(); ++i) {
      // Relative to the app's id taken as a directory: /backend/api + ../redis → /backend/redis.
      std::string target = resolve_path(self, list[i]);
      auto parts = sys::split(target.substr(target.empty() ? 0 : 1), '/');
      if (parts.size() != 2 || parts[0].empty() || parts[1].empty())
        return invalid(
            ctx, index(join(path, "dependencies"), i), list[i],
            fmt::format("does not name an app (it resolves to \"{}\", not /SERVICE/APP)", target));
      deps.push_back(parts[1] + "." + parts[0]);
      s.depends_on.push_back({parts[1] + "." + parts[0], "service_healthy"});
    }
  }
  if (app.contains("upgrade_strategy")) {
    std::string up = join(path, "upgrade_strategy");
    BERTH_TRY_VOID(check_keys(ctx, up, app["upgrade_strategy"],
                              {"minimum_health_capacity", "maximum_over_capacity"}, false));
    if (app["upgrade_strategy"].contains("minimum_health_capacity")) {
      BERTH_TRY(auto c, read_number(ctx, join(up, "minimum_health_capacity"),
                                    app["upgrade_strategy"]["minimum_health_capacity"]));
      s.update_config.order = c >= 1 ? "start-first" : "stop-first";
    }
  }
  return {};
}

}  // namespace

Result<Domain> read_domain(const Ctx& ctx, std::string_view path, const json& v) {
  BERTH_TRY_VOID(check_keys(ctx, path, v, {"type", "uri"}, false));
  Domain d;
  if (v.contains("type")) {
    BERTH_TRY(d.type, read_string(ctx, join(path, "type"), v["type"]));
  }
  if (d.type != "HTTP" && d.type != "TCP")
    return invalid(ctx, join(path, "type"), v.value("type", json()), "is not HTTP or TCP");
  if (!v.contains("uri")) return invalid_at(ctx, join(path, "uri"), "is required");
  BERTH_TRY(d.uri, read_string(ctx, join(path, "uri"), v["uri"]));
  if (d.uri.empty()) return invalid(ctx, join(path, "uri"), v["uri"], "is empty");
  return d;
}

Result<void> read_json_project(const Ctx& ctx, const nlohmann::json& original,
                               const std::map<std::string, std::string>& vars, Project& project) {
  json tree = original;
  std::vector<std::string> unknown;
  substitute_tree(tree, vars, unknown);
  if (!unknown.empty()) {
    std::sort(unknown.begin(), unknown.end());
    std::string names;
    for (auto& n : unknown) names += (names.empty() ? "$" : ", $") + n;
    return Error::make(ErrorKind::invalid_argument, "{}: unknown variable{} {}", ctx.file,
                       unknown.size() > 1 ? "s" : "", names)
        .with_hint("give each with --var NAME=VALUE");
  }
  BERTH_TRY_VOID(check_keys(ctx, "", tree, {"id", "name", "services", "apps"}, false));
  project.format = "json";
  for (const char* key : {"name", "id"}) {
    if (tree.contains(key) && project.name.empty()) {
      BERTH_TRY(auto n, read_string(ctx, key, tree[key]));
      project.name = n;  // load_project decides between this and -p
    }
  }
  json services = tree.value("services", json::array());
  if (tree.contains("apps")) services.push_back(json{{"id", "default"}, {"apps", tree["apps"]}});
  if (!services.is_array()) return invalid(ctx, "services", services, "is not a list");
  if (services.empty())
    return invalid_at(ctx, "services", "is empty: a project needs at least one service");
  for (size_t i = 0; i < services.size(); ++i) {
    std::string sp = index("services", i);
    const json& svc = services[i];
    BERTH_TRY_VOID(check_keys(ctx, sp, svc, {"id", "apps"}, false));
    if (!svc.contains("id")) return invalid_at(ctx, join(sp, "id"), "is required");
    BERTH_TRY(auto group, read_string(ctx, join(sp, "id"), svc["id"]));
    if (!valid_id(group))
      return invalid(ctx, join(sp, "id"), svc["id"], "is not an id ([a-z0-9][a-z0-9-]*)");
    if (!svc.contains("apps") || !svc["apps"].is_array() || svc["apps"].empty())
      return invalid(ctx, join(sp, "apps"), svc.value("apps", json()), "is not a list of apps");
    for (size_t k = 0; k < svc["apps"].size(); ++k) {
      Service s;
      std::vector<std::string> deps;
      BERTH_TRY_VOID(read_app(ctx, index(join(sp, "apps"), k), svc["apps"][k], group,
                              project.working_dir, s, deps));
      if (project.service(s.name))
        return invalid_at(
            ctx, index(join(sp, "apps"), k),
            fmt::format("app /{}/{} is defined twice", group, s.name.substr(0, s.name.find('.'))));
      s.labels["berth.app.path"] = "/" + group + "/" + s.name.substr(0, s.name.find('.'));
      // Named volumes keep their own name (no project prefix), as Compose's `volumes: {X:
      // {name: X}}` does: declared so, `config` prints a Compose file that loads again.
      for (const auto& m : s.volumes)
        if (m.type == "volume" && !m.source.empty() && !project.volume(m.source))
          project.volumes.push_back({m.source, false, m.source, {}});
      project.services.push_back(std::move(s));
    }
  }
  return {};
}

}  // namespace berth::project::detail
