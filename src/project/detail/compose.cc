// The Compose reader: the Compose Specification's fields (and version 2 files' links and scale)
// into the project model.
#include <algorithm>
#include <cctype>

#include "base/sys.h"
#include "project/detail/formats.h"
#include "project/load.h"

namespace berth::project {

Result<PortMapping> parse_port_mapping(std::string_view text) {
  auto bad = [](std::string_view why) {
    return Error(ErrorKind::invalid_argument, std::string(why));
  };
  PortMapping p;
  std::string_view rest = text;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    p.protocol = std::string(rest.substr(slash + 1));
    rest = rest.substr(0, slash);
    if (p.protocol != "tcp" && p.protocol != "udp")
      return bad("is not a port mapping (the protocol is tcp or udp)");
  }
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t colon = rest.find(':', start);
    parts.emplace_back(rest.substr(
        start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() > 3) return bad("is not a port mapping");
  auto range = [](const std::string& s, int& lo, int& hi) {
    auto number = [](std::string_view n) -> int {
      if (n.empty() || n.size() > 5 || !std::all_of(n.begin(), n.end(), ::isdigit)) return -1;
      int v = std::atoi(std::string(n).c_str());
      return v >= 1 && v <= 65535 ? v : -1;
    };
    auto dash = s.find('-');
    lo = number(std::string_view(s).substr(0, dash));
    hi = dash == std::string::npos ? lo : number(std::string_view(s).substr(dash + 1));
    return lo > 0 && hi >= lo;
  };
  if (!range(parts.back(), p.container_port, p.container_port_end))
    return bad("is not a port mapping");
  if (parts.size() >= 2 && !parts[parts.size() - 2].empty()) {
    if (!range(parts[parts.size() - 2], p.host_port, p.host_port_end))
      return bad("is not a port mapping");
    bool single_host = p.host_port == p.host_port_end;
    if (!single_host && p.host_port_end - p.host_port != p.container_port_end - p.container_port)
      return bad("is not a port mapping (the host and container ranges differ in length)");
    if (single_host && p.container_port != p.container_port_end)
      return bad("is not a port mapping (a container range needs a host range of the same length)");
  }
  if (parts.size() == 3) {
    p.host_ip = parts[0];
    if (p.host_ip == "0.0.0.0") p.host_ip.clear();
    int dots = 0;
    bool ok = !p.host_ip.empty() || parts[0] == "0.0.0.0";
    for (char c : p.host_ip)
      ok &= std::isdigit(static_cast<unsigned char>(c)) || (c == '.' && ++dots <= 3);
    if (!ok || (!p.host_ip.empty() && dots != 3)) return bad("is not a port mapping");
  }
  return p;
}

}  // namespace berth::project

namespace berth::project::detail {
namespace {

using nlohmann::json;

bool is_absolute(std::string_view p) { return !p.empty() && p[0] == '/'; }

std::string absolute(const std::string& dir, const std::string& path) {
  return resolve_path(dir, path);
}

bool valid_name(std::string_view s) {
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

Result<std::optional<std::vector<std::string>>> read_command(const Ctx& ctx,
                                                             const std::string& path,
                                                             const json& v) {
  if (v.is_null()) return std::optional<std::vector<std::string>>();
  if (v.is_string()) {
    auto words = shell_split(v.get<std::string>());
    if (!words) return invalid(ctx, path, v, words.error().message());
    return std::optional(*words);
  }
  BERTH_TRY(auto list, read_strings(ctx, path, v));
  return std::optional(list);
}

Result<void> read_ports(const Ctx& ctx, const std::string& path, const json& v, Service& s) {
  if (!v.is_array()) return invalid(ctx, path, v, "is not a list");
  for (size_t i = 0; i < v.size(); ++i) {
    std::string p = index(path, i);
    const json& item = v[i];
    if (item.is_object()) {
      BERTH_TRY_VOID(check_keys(
          ctx, p, item,
          {"target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"}));
      if (!item.contains("target")) return invalid_at(ctx, join(p, "target"), "is required");
      PortMapping m;
      BERTH_TRY(auto target, read_int(ctx, join(p, "target"), item["target"], 1, 65535));
      m.container_port = m.container_port_end = static_cast<int>(target);
      if (item.contains("published") && !item["published"].is_null()) {
        BERTH_TRY(auto pub, read_string(ctx, join(p, "published"), item["published"]));
        auto parsed = parse_port_mapping(pub + ":" + std::to_string(target));
        if (!parsed)
          return invalid(ctx, join(p, "published"), item["published"],
                         "is not a port or port range");
        m.host_port = parsed->host_port;
        m.host_port_end = parsed->host_port_end;
      }
      if (item.contains("host_ip")) {
        BERTH_TRY(m.host_ip, read_string(ctx, join(p, "host_ip"), item["host_ip"]));
        if (m.host_ip == "0.0.0.0") m.host_ip.clear();
      }
      if (item.contains("protocol")) {
        BERTH_TRY(m.protocol, read_string(ctx, join(p, "protocol"), item["protocol"]));
        if (m.protocol != "tcp" && m.protocol != "udp")
          return invalid(ctx, join(p, "protocol"), item["protocol"], "is not tcp or udp");
      }
      s.ports.push_back(m);
      continue;
    }
    if (!item.is_string() && !item.is_number_integer())
      return invalid(ctx, p, item, "is not a port mapping");
    BERTH_TRY(auto text, read_string(ctx, p, item));
    auto m = parse_port_mapping(text);
    if (!m) return invalid(ctx, p, item, m.error().message());
    s.ports.push_back(*m);
  }
  return {};
}

Result<void> read_volumes(const Ctx& ctx, const std::string& path, const json& v,
                          const std::string& dir, Service& s) {
  if (!v.is_array()) return invalid(ctx, path, v, "is not a list");
  for (size_t i = 0; i < v.size(); ++i) {
    std::string p = index(path, i);
    const json& item = v[i];
    Mount m;
    if (item.is_object()) {
      BERTH_TRY_VOID(check_keys(
          ctx, p, item,
          {"type", "source", "target", "read_only", "bind", "volume", "tmpfs", "consistency"}));
      if (item.contains("type")) {
        BERTH_TRY(m.type, read_string(ctx, join(p, "type"), item["type"]));
      }
      if (m.type != "volume" && m.type != "bind" && m.type != "tmpfs")
        return invalid(ctx, join(p, "type"), item["type"], "is not volume, bind or tmpfs");
      if (!item.contains("target")) return invalid_at(ctx, join(p, "target"), "is required");
      BERTH_TRY(m.target, read_string(ctx, join(p, "target"), item["target"]));
      if (item.contains("source") && !item["source"].is_null()) {
        BERTH_TRY(m.source, read_string(ctx, join(p, "source"), item["source"]));
      }
      if (item.contains("read_only")) {
        BERTH_TRY(m.read_only, read_bool(ctx, join(p, "read_only"), item["read_only"]));
      }
      if (item.contains("tmpfs") && item["tmpfs"].is_object() && item["tmpfs"].contains("size")) {
        BERTH_TRY(auto size, read_size(ctx, join(join(p, "tmpfs"), "size"), item["tmpfs"]["size"]));
        m.tmpfs_size = size;
      }
      if (m.type == "bind") {
        if (m.source.empty())
          return invalid_at(ctx, join(p, "source"), "is required for a bind mount");
        m.source = absolute(dir, m.source);
      }
      if (m.type == "tmpfs" && !m.source.empty())
        return invalid(ctx, join(p, "source"), item["source"], "is not allowed for tmpfs");
    } else if (item.is_string()) {
      std::string text = item.get<std::string>();
      auto parts = sys::split(text, ':');
      if (parts.size() > 3 || parts.empty() ||
          std::any_of(parts.begin(), parts.end(), [](auto& x) { return x.empty(); }))
        return invalid(ctx, p, item, "is not a volume (SOURCE:TARGET[:ro|rw] or TARGET)");
      if (parts.size() == 1) {
        m.target = parts[0];
      } else {
        m.source = parts[0];
        m.target = parts[1];
        if (parts.size() == 3) {
          for (auto& opt : sys::split(parts[2], ',')) {
            if (opt == "ro")
              m.read_only = true;
            else if (opt == "rw")
              m.read_only = false;
            else if (opt != "z" && opt != "Z" && opt != "cached" && opt != "delegated" &&
                     opt != "consistent" && opt != "nocopy")
              return invalid(ctx, p, item, fmt::format("has an unknown mode '{}' (ro or rw)", opt));
          }
        }
        if (m.source[0] == '.' || m.source[0] == '/' || m.source[0] == '~') {
          m.type = "bind";
          if (m.source[0] == '~') {
            const char* home = std::getenv("HOME");
            m.source = std::string(home ? home : "/root") + m.source.substr(1);
          }
          m.source = absolute(dir, m.source);
        }
      }
    } else {
      return invalid(ctx, p, item, "is not a volume");
    }
    if (!is_absolute(m.target))
      return invalid(ctx, p, item, "has a target that is not an absolute path");
    std::erase_if(s.volumes, [&](const Mount& old) { return old.target == m.target; });
    s.volumes.push_back(m);
  }
  return {};
}

Result<HealthCheck> read_healthcheck(const Ctx& ctx, const std::string& path, const json& v) {
  BERTH_TRY_VOID(check_keys(
      ctx, path, v,
      {"test", "interval", "timeout", "start_period", "start_interval", "retries", "disable"}));
  HealthCheck h;
  if (v.contains("disable")) {
    BERTH_TRY(h.disable, read_bool(ctx, join(path, "disable"), v["disable"]));
  }
  if (v.contains("test")) {
    const json& t = v["test"];
    std::string tp = join(path, "test");
    if (t.is_string()) {
      h.test = {"/bin/sh", "-c", t.get<std::string>()};
    } else {
      BERTH_TRY(auto list, read_strings(ctx, tp, t));
      if (list.empty()) return invalid(ctx, tp, t, "is empty");
      if (list[0] == "NONE") {
        h.disable = true;
      } else if (list[0] == "CMD" && list.size() > 1) {
        h.test.assign(list.begin() + 1, list.end());
      } else if (list[0] == "CMD-SHELL" && list.size() == 2) {
        h.test = {"/bin/sh", "-c", list[1]};
      } else {
        return invalid(ctx, tp, t, "does not start with CMD, CMD-SHELL or NONE");
      }
    }
  }
  if (v.contains("interval")) {
    BERTH_TRY(h.interval_ms, read_duration_ms(ctx, join(path, "interval"), v["interval"]));
  }
  if (v.contains("timeout")) {
    BERTH_TRY(h.timeout_ms, read_duration_ms(ctx, join(path, "timeout"), v["timeout"]));
  }
  if (v.contains("start_period")) {
    BERTH_TRY(h.start_period_ms,
              read_duration_ms(ctx, join(path, "start_period"), v["start_period"]));
  }
  if (v.contains("retries")) {
    BERTH_TRY(auto r, read_int(ctx, join(path, "retries"), v["retries"], 1, 1000));
    h.retries = static_cast<int>(r);
  }
  if (h.disable) h.test.clear();
  return h;
}

Result<UpdatePolicy> read_update(const Ctx& ctx, const std::string& path, const json& v) {
  BERTH_TRY_VOID(check_keys(
      ctx, path, v,
      {"parallelism", "delay", "order", "failure_action", "monitor", "max_failure_ratio"}));
  UpdatePolicy u;
  if (v.contains("parallelism")) {
    BERTH_TRY(auto n, read_int(ctx, join(path, "parallelism"), v["parallelism"], 0, 10000));
    u.parallelism = static_cast<int>(n);
  }
  if (v.contains("delay")) {
    BERTH_TRY(u.delay_ms, read_duration_ms(ctx, join(path, "delay"), v["delay"]));
  }
  if (v.contains("order")) {
    BERTH_TRY(u.order, read_string(ctx, join(path, "order"), v["order"]));
    if (u.order != "start-first" && u.order != "stop-first")
      return invalid(ctx, join(path, "order"), v["order"], "is not start-first or stop-first");
  }
  if (v.contains("failure_action")) {
    BERTH_TRY(u.failure_action,
              read_string(ctx, join(path, "failure_action"), v["failure_action"]));
    if (u.failure_action != "rollback" && u.failure_action != "pause" &&
        u.failure_action != "continue")
      return invalid(ctx, join(path, "failure_action"), v["failure_action"],
                     "is not rollback, pause or continue");
  }
  return u;
}

Result<void> read_restart(const Ctx& ctx, const std::string& path, const json& v,
                          std::string& out) {
  BERTH_TRY(out, read_string(ctx, path, v));
  if (out == "no" || out == "always" || out == "unless-stopped" || out == "on-failure") return {};
  if (out.starts_with("on-failure:") && out.size() > 11 &&
      out.find_first_not_of("0123456789", 11) == std::string::npos)
    return {};
  return invalid(ctx, path, v, "is not no, always, on-failure[:N] or unless-stopped");
}

Result<void> read_deploy(const Ctx& ctx, const std::string& path, const json& v, Service& s) {
  BERTH_TRY_VOID(check_keys(ctx, path, v,
                            {"replicas", "resources", "update_config", "rollback_config",
                             "restart_policy", "labels", "mode", "placement", "endpoint_mode"}));
  if (v.contains("replicas")) {
    BERTH_TRY(auto n, read_int(ctx, join(path, "replicas"), v["replicas"], 0, 1000));
    s.replicas = static_cast<int>(n);
  }
  if (v.contains("resources")) {
    std::string rp = join(path, "resources");
    BERTH_TRY_VOID(check_keys(ctx, rp, v["resources"], {"limits", "reservations"}));
    if (v["resources"].contains("limits")) {
      const json& l = v["resources"]["limits"];
      std::string lp = join(rp, "limits");
      BERTH_TRY_VOID(check_keys(ctx, lp, l, {"cpus", "memory", "pids"}));
      if (l.contains("memory")) {
        BERTH_TRY(auto m, read_size(ctx, join(lp, "memory"), l["memory"]));
        s.memory = m;
      }
      if (l.contains("cpus")) {
        BERTH_TRY(auto c, read_number(ctx, join(lp, "cpus"), l["cpus"]));
        if (c <= 0) return invalid(ctx, join(lp, "cpus"), l["cpus"], "is not a positive number");
        s.cpus = c;
      }
      if (l.contains("pids")) {
        // As pids_limit: -1 or 0 is no limit (what `config` prints for pids_limit: -1).
        BERTH_TRY(auto pids, read_int(ctx, join(lp, "pids"), l["pids"], -1, INT64_MAX));
        s.pids_limit = pids > 0 ? pids : 0;
      }
    }
  }
  if (v.contains("update_config")) {
    BERTH_TRY(s.update_config, read_update(ctx, join(path, "update_config"), v["update_config"]));
  }
  if (v.contains("rollback_config")) {
    BERTH_TRY(s.rollback_config,
              read_update(ctx, join(path, "rollback_config"), v["rollback_config"]));
  }
  if (v.contains("restart_policy")) {
    std::string rp = join(path, "restart_policy");
    BERTH_TRY_VOID(
        check_keys(ctx, rp, v["restart_policy"], {"condition", "delay", "max_attempts", "window"}));
    if (v["restart_policy"].contains("condition")) {
      BERTH_TRY(auto c, read_string(ctx, join(rp, "condition"), v["restart_policy"]["condition"]));
      if (c == "none")
        s.restart = "no";
      else if (c == "on-failure")
        s.restart = "on-failure";
      else if (c == "any")
        s.restart = "always";
      else
        return invalid(ctx, join(rp, "condition"), v["restart_policy"]["condition"],
                       "is not none, on-failure or any");
    }
  }
  return {};
}

Result<void> read_service(const Ctx& ctx, const std::string& name, const json& v,
                          const ComposeInput& in, const std::string& dir, Service& s) {
  std::string path = join("services", name);
  if (v.is_null()) return invalid_at(ctx, path, "is empty");
  BERTH_TRY_VOID(
      check_keys(ctx, path, v, {"image",       "build",      "command",        "entrypoint",
                                "environment", "env_file",   "ports",          "expose",
                                "volumes",     "networks",   "links",          "depends_on",
                                "healthcheck", "restart",    "deploy",         "scale",
                                "labels",      "hostname",   "container_name", "user",
                                "working_dir", "cap_add",    "cap_drop",       "read_only",
                                "init",        "tmpfs",      "stop_signal",    "stop_grace_period",
                                "profiles",    "extends",    "mem_limit",      "cpus",
                                "pids_limit",  "tty",        "stdin_open",     "configs",
                                "secrets",     "domainname", "pull_policy",    "platform",
                                "extra_hosts", "dns",        "logging",        "privileged"}));
  s.name = name;
  if (!valid_name(name))
    return invalid_at(ctx, path, "is not a valid service name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)");
  auto str = [&](const char* key, std::string& out) -> Result<void> {
    if (v.contains(key) && !v[key].is_null()) {
      BERTH_TRY(out, read_string(ctx, join(path, key), v[key]));
    }
    return {};
  };
  auto flag = [&](const char* key, bool& out) -> Result<void> {
    if (v.contains(key)) {
      BERTH_TRY(out, read_bool(ctx, join(path, key), v[key]));
    }
    return {};
  };
  BERTH_TRY_VOID(str("image", s.image));
  BERTH_TRY_VOID(str("hostname", s.hostname));
  BERTH_TRY_VOID(str("container_name", s.container_name));
  BERTH_TRY_VOID(str("user", s.user));
  BERTH_TRY_VOID(str("working_dir", s.working_dir));
  BERTH_TRY_VOID(str("stop_signal", s.stop_signal));
  BERTH_TRY_VOID(flag("read_only", s.read_only));
  BERTH_TRY_VOID(flag("init", s.init));
  BERTH_TRY_VOID(flag("tty", s.tty));
  BERTH_TRY_VOID(flag("stdin_open", s.stdin_open));
  if (!s.container_name.empty() && !valid_name(s.container_name))
    return invalid(ctx, join(path, "container_name"), v["container_name"],
                   "is not a valid container name");
  if (v.contains("build")) {
    const json& b = v["build"];
    std::string bp = join(path, "build");
    Build build;
    build.dockerfile = "Dockerfile";
    if (b.is_string()) {
      build.context = absolute(dir, b.get<std::string>());
    } else {
      BERTH_TRY_VOID(check_keys(ctx, bp, b,
                                {"context", "dockerfile", "args", "target", "labels", "cache_from",
                                 "network", "shm_size"}));
      std::string context = ".";
      if (b.contains("context")) {
        BERTH_TRY(context, read_string(ctx, join(bp, "context"), b["context"]));
      }
      build.context = absolute(dir, context);
      if (b.contains("dockerfile")) {
        BERTH_TRY(build.dockerfile, read_string(ctx, join(bp, "dockerfile"), b["dockerfile"]));
      }
      if (b.contains("target")) {
        BERTH_TRY(build.target, read_string(ctx, join(bp, "target"), b["target"]));
      }
      if (b.contains("args")) {
        BERTH_TRY(auto args, read_key_values(ctx, join(bp, "args"), b["args"]));
        for (auto& [k, val] : args) {
          if (val)
            build.args[k] = *val;
          else if (auto it = in.vars.find(k); it != in.vars.end())
            build.args[k] = it->second;
        }
      }
    }
    s.build = build;
  }
  if (v.contains("command")) {
    BERTH_TRY(s.command, read_command(ctx, join(path, "command"), v["command"]));
  }
  if (v.contains("entrypoint")) {
    BERTH_TRY(s.entrypoint, read_command(ctx, join(path, "entrypoint"), v["entrypoint"]));
  }
  if (v.contains("env_file") && !in.partial) {
    const json& ef = v["env_file"];
    std::string ep = join(path, "env_file");
    std::vector<std::pair<std::string, bool>> files;
    if (ef.is_array()) {
      for (size_t i = 0; i < ef.size(); ++i) {
        if (ef[i].is_object()) {
          BERTH_TRY_VOID(check_keys(ctx, index(ep, i), ef[i], {"path", "required"}));
          if (!ef[i].contains("path"))
            return invalid_at(ctx, join(index(ep, i), "path"), "is required");
          BERTH_TRY(auto p, read_string(ctx, join(index(ep, i), "path"), ef[i]["path"]));
          bool required = true;
          if (ef[i].contains("required")) {
            BERTH_TRY(required, read_bool(ctx, join(index(ep, i), "required"), ef[i]["required"]));
          }
          files.emplace_back(p, required);
        } else {
          BERTH_TRY(auto p, read_string(ctx, index(ep, i), ef[i]));
          files.emplace_back(p, true);
        }
      }
    } else {
      BERTH_TRY(auto p, read_string(ctx, ep, ef));
      files.emplace_back(p, true);
    }
    for (auto& [file, required] : files) {
      std::string full = absolute(dir, file);
      auto text = in.read_file(full);
      if (!text) {
        if (!required) continue;
        return invalid(ctx, ep, file, fmt::format("cannot be read: {}", text.error().message()));
      }
      BERTH_TRY(auto env, parse_env_file(*text, full));
      for (auto& [k, val] : env) s.environment[k] = val;
    }
  }
  if (v.contains("environment")) {
    BERTH_TRY(auto env, read_key_values(ctx, join(path, "environment"), v["environment"]));
    for (auto& [k, val] : env) {
      if (val)
        s.environment[k] = *val;
      else if (auto it = in.vars.find(k); it != in.vars.end())
        s.environment[k] = it->second;
      else
        s.environment.erase(k);
    }
  }
  if (v.contains("ports")) BERTH_TRY_VOID(read_ports(ctx, join(path, "ports"), v["ports"], s));
  if (v.contains("expose")) {
    BERTH_TRY(s.expose, read_strings(ctx, join(path, "expose"), v["expose"]));
    for (size_t i = 0; i < s.expose.size(); ++i) {
      auto m = parse_port_mapping(s.expose[i]);
      if (!m || m->host_port)
        return invalid(ctx, index(join(path, "expose"), i), s.expose[i], "is not a port");
    }
  }
  if (v.contains("volumes"))
    BERTH_TRY_VOID(read_volumes(ctx, join(path, "volumes"), v["volumes"], dir, s));
  if (v.contains("tmpfs")) {
    BERTH_TRY(s.tmpfs, read_strings(ctx, join(path, "tmpfs"), v["tmpfs"]));
    for (size_t i = 0; i < s.tmpfs.size(); ++i)
      if (!is_absolute(s.tmpfs[i]))
        return invalid(ctx, index(join(path, "tmpfs"), i), s.tmpfs[i], "is not an absolute path");
  }
  if (v.contains("networks")) {
    const json& n = v["networks"];
    std::string np = join(path, "networks");
    if (n.is_array()) {
      BERTH_TRY(auto names, read_strings(ctx, np, n));
      for (auto& name : names) s.networks[name] = {};
    } else {
      BERTH_TRY_VOID(expect_object(ctx, np, n));
      for (auto& [name, cfg] : n.items()) {
        ServiceNetwork sn;
        std::string p = join(np, name);
        if (!cfg.is_null()) {
          BERTH_TRY_VOID(check_keys(
              ctx, p, cfg,
              {"aliases", "ipv4_address", "ipv6_address", "priority", "link_local_ips"}));
          if (cfg.contains("aliases")) {
            BERTH_TRY(sn.aliases, read_strings(ctx, join(p, "aliases"), cfg["aliases"]));
          }
          if (cfg.contains("ipv4_address")) {
            BERTH_TRY(sn.ipv4_address,
                      read_string(ctx, join(p, "ipv4_address"), cfg["ipv4_address"]));
            auto parts = sys::split(sn.ipv4_address, '.');
            bool ok = parts.size() == 4;
            for (auto& part : parts)
              ok &= !part.empty() && part.size() <= 3 &&
                    part.find_first_not_of("0123456789") == std::string::npos &&
                    std::stoi(part) < 256;
            if (!ok)
              return invalid(ctx, join(p, "ipv4_address"), cfg["ipv4_address"],
                             "is not an IPv4 address");
          }
        }
        s.networks[name] = sn;
      }
    }
  }
  if (v.contains("links")) {
    BERTH_TRY(s.links, read_strings(ctx, join(path, "links"), v["links"]));
  }
  if (v.contains("depends_on")) {
    const json& d = v["depends_on"];
    std::string dp = join(path, "depends_on");
    if (d.is_array()) {
      BERTH_TRY(auto names, read_strings(ctx, dp, d));
      for (auto& n : names) s.depends_on.push_back({n});
    } else {
      BERTH_TRY_VOID(expect_object(ctx, dp, d));
      for (auto& [dep, cfg] : d.items()) {
        Dependency dependency{dep};
        std::string p = join(dp, dep);
        if (!cfg.is_null()) {
          BERTH_TRY_VOID(check_keys(ctx, p, cfg, {"condition", "restart", "required"}));
          if (cfg.contains("condition")) {
            BERTH_TRY(dependency.condition,
                      read_string(ctx, join(p, "condition"), cfg["condition"]));
            if (dependency.condition != "service_started" &&
                dependency.condition != "service_healthy" &&
                dependency.condition != "service_completed_successfully")
              return invalid(
                  ctx, join(p, "condition"), cfg["condition"],
                  "is not service_started, service_healthy or service_completed_successfully");
          }
          if (cfg.contains("restart")) {
            BERTH_TRY(dependency.restart, read_bool(ctx, join(p, "restart"), cfg["restart"]));
          }
          if (cfg.contains("required")) {
            BERTH_TRY(dependency.required, read_bool(ctx, join(p, "required"), cfg["required"]));
          }
        }
        s.depends_on.push_back(dependency);
      }
    }
  }
  // Links imply a dependency (version 2 files).
  for (auto& link : s.links) {
    std::string target = link.substr(0, link.find(':'));
    if (std::none_of(s.depends_on.begin(), s.depends_on.end(),
                     [&](auto& d) { return d.service == target; }))
      s.depends_on.push_back({target});
  }
  if (v.contains("healthcheck")) {
    BERTH_TRY(auto h, read_healthcheck(ctx, join(path, "healthcheck"), v["healthcheck"]));
    s.healthcheck = h;
  }
  if (v.contains("restart"))
    BERTH_TRY_VOID(read_restart(ctx, join(path, "restart"), v["restart"], s.restart));
  if (v.contains("scale")) {
    BERTH_TRY(auto n, read_int(ctx, join(path, "scale"), v["scale"], 0, 1000));
    s.replicas = static_cast<int>(n);
  }
  if (v.contains("deploy")) BERTH_TRY_VOID(read_deploy(ctx, join(path, "deploy"), v["deploy"], s));
  if (v.contains("mem_limit")) {
    BERTH_TRY(auto m, read_size(ctx, join(path, "mem_limit"), v["mem_limit"]));
    s.memory = m;
  }
  if (v.contains("cpus")) {
    BERTH_TRY(auto c, read_number(ctx, join(path, "cpus"), v["cpus"]));
    s.cpus = c;
  }
  if (v.contains("pids_limit")) {
    BERTH_TRY(auto p, read_int(ctx, join(path, "pids_limit"), v["pids_limit"], -1, INT64_MAX));
    s.pids_limit = p > 0 ? p : 0;  // -1 (or 0): no limit, instead of the default 2048
  }
  if (v.contains("labels")) {
    BERTH_TRY(auto labels, read_key_values(ctx, join(path, "labels"), v["labels"]));
    for (auto& [k, val] : labels) s.labels[k] = val.value_or("");
  }
  if (v.contains("cap_add")) {
    BERTH_TRY(s.cap_add, read_strings(ctx, join(path, "cap_add"), v["cap_add"]));
  }
  if (v.contains("cap_drop")) {
    BERTH_TRY(s.cap_drop, read_strings(ctx, join(path, "cap_drop"), v["cap_drop"]));
  }
  if (v.contains("profiles")) {
    BERTH_TRY(s.profiles, read_strings(ctx, join(path, "profiles"), v["profiles"]));
  }
  if (v.contains("stop_grace_period")) {
    BERTH_TRY(auto ms,
              read_duration_ms(ctx, join(path, "stop_grace_period"), v["stop_grace_period"]));
    s.stop_grace_period_ms = ms;
  }
  if (v.contains("x-domain") && !v["x-domain"].is_null()) {
    BERTH_TRY(s.domain, read_domain(ctx, join(path, "x-domain"), v["x-domain"]));
  }
  if (!in.partial && s.image.empty() && !s.build)
    return invalid_at(ctx, path, "has neither image nor build");
  if (!s.container_name.empty() && s.replicas > 1)
    return invalid_at(ctx, path,
                      fmt::format("container_name \"{}\" allows one instance, not {}",
                                  s.container_name, s.replicas));
  return {};
}

// extends: {service, file}: the base service's fields under this one's.
Result<void> apply_extends(const Ctx& ctx, json& services, const std::string& name,
                           const ComposeInput& in, const std::string& dir, int depth) {
  json& svc = services[name];
  if (!svc.is_object() || !svc.contains("extends")) return {};
  std::string path = join(join("services", name), "extends");
  if (depth > 10) return invalid_at(ctx, path, "extends too deeply (a cycle?)");
  json ext = svc["extends"];
  std::string base_name, file;
  if (ext.is_string()) {
    base_name = ext.get<std::string>();
  } else {
    BERTH_TRY_VOID(check_keys(ctx, path, ext, {"service", "file"}));
    if (!ext.contains("service")) return invalid_at(ctx, join(path, "service"), "is required");
    BERTH_TRY(base_name, read_string(ctx, join(path, "service"), ext["service"]));
    if (ext.contains("file")) {
      BERTH_TRY(file, read_string(ctx, join(path, "file"), ext["file"]));
    }
  }
  json base;
  if (file.empty()) {
    if (!services.contains(base_name) || base_name == name)
      return invalid(ctx, join(path, "service"), base_name, "is not a service of this file");
    BERTH_TRY_VOID(apply_extends(ctx, services, base_name, in, dir, depth + 1));
    base = services[base_name];
  } else {
    std::string full = absolute(dir, file);
    auto text = in.read_file(full);
    if (!text)
      return invalid(ctx, join(path, "file"), file,
                     fmt::format("cannot be read: {}", text.error().message()));
    BERTH_TRY(auto other, yaml_to_json(*text, full));
    BERTH_TRY_VOID(interpolate_tree(other, in.vars, full));
    if (!other.is_object() || !other.contains("services") || !other["services"].contains(base_name))
      return invalid(ctx, join(path, "service"), base_name,
                     fmt::format("is not a service of {}", file));
    base = other["services"][base_name];
  }
  // Not checked yet (services are read after extends is applied): `base:` may be any value.
  if (!base.is_object())
    return invalid(ctx, join(path, "service"), base_name,
                   "is not a service definition (a mapping)");
  base.erase("extends");
  json self = svc;
  self.erase("extends");
  normalise_for_merge(base);
  normalise_for_merge(self);
  json merged = json::object({{"services", {{"x", base}}}});
  merge_compose(merged, json::object({{"services", {{"x", self}}}}));
  svc = merged["services"]["x"];
  return {};
}

Result<void> read_top_networks(const Ctx& ctx, const json& n, Project& project) {
  BERTH_TRY_VOID(expect_object(ctx, "networks", n));
  for (auto& [name, cfg] : n.items()) {
    Network net;
    net.name = name;
    std::string p = join("networks", name);
    if (!cfg.is_null()) {
      BERTH_TRY_VOID(check_keys(ctx, p, cfg,
                                {"driver", "external", "internal", "name", "labels", "ipam",
                                 "driver_opts", "attachable", "enable_ipv6"}));
      if (cfg.contains("driver")) {
        BERTH_TRY(net.driver, read_string(ctx, join(p, "driver"), cfg["driver"]));
        if (net.driver != "bridge")
          return invalid(ctx, join(p, "driver"), cfg["driver"],
                         "is not a driver berth has (bridge)");
      }
      if (cfg.contains("external")) {
        if (cfg["external"].is_object()) {
          net.external = true;
          if (cfg["external"].contains("name")) {
            BERTH_TRY(net.external_name,
                      read_string(ctx, join(join(p, "external"), "name"), cfg["external"]["name"]));
          }
        } else {
          BERTH_TRY(net.external, read_bool(ctx, join(p, "external"), cfg["external"]));
        }
      }
      if (cfg.contains("name")) {
        BERTH_TRY(net.external_name, read_string(ctx, join(p, "name"), cfg["name"]));
      }
      if (cfg.contains("internal")) {
        BERTH_TRY(net.internal, read_bool(ctx, join(p, "internal"), cfg["internal"]));
      }
      if (cfg.contains("labels")) {
        BERTH_TRY(auto labels, read_key_values(ctx, join(p, "labels"), cfg["labels"]));
        for (auto& [k, val] : labels) net.labels[k] = val.value_or("");
      }
      if (cfg.contains("ipam") && cfg["ipam"].is_object() && cfg["ipam"].contains("config")) {
        const json& c = cfg["ipam"]["config"];
        if (c.is_array() && !c.empty() && c[0].is_object()) {
          if (c[0].contains("subnet")) {
            BERTH_TRY(net.subnet,
                      read_string(ctx, join(p, "ipam.config[0].subnet"), c[0]["subnet"]));
          }
          if (c[0].contains("gateway")) {
            BERTH_TRY(net.gateway,
                      read_string(ctx, join(p, "ipam.config[0].gateway"), c[0]["gateway"]));
          }
        }
      }
    }
    if (net.external && net.external_name.empty()) net.external_name = name;
    project.networks.push_back(net);
  }
  return {};
}

Result<void> read_top_volumes(const Ctx& ctx, const json& n, Project& project) {
  BERTH_TRY_VOID(expect_object(ctx, "volumes", n));
  for (auto& [name, cfg] : n.items()) {
    Volume vol;
    vol.name = name;
    std::string p = join("volumes", name);
    if (!cfg.is_null()) {
      BERTH_TRY_VOID(
          check_keys(ctx, p, cfg, {"driver", "external", "name", "labels", "driver_opts"}));
      if (cfg.contains("external")) {
        if (cfg["external"].is_object()) {
          vol.external = true;
        } else {
          BERTH_TRY(vol.external, read_bool(ctx, join(p, "external"), cfg["external"]));
        }
      }
      if (cfg.contains("name")) {
        BERTH_TRY(vol.external_name, read_string(ctx, join(p, "name"), cfg["name"]));
      }
      if (cfg.contains("driver")) {
        BERTH_TRY(auto driver, read_string(ctx, join(p, "driver"), cfg["driver"]));
        if (driver != "local")
          return invalid(ctx, join(p, "driver"), cfg["driver"],
                         "is not a driver berth has (local)");
      }
      if (cfg.contains("labels")) {
        BERTH_TRY(auto labels, read_key_values(ctx, join(p, "labels"), cfg["labels"]));
        for (auto& [k, val] : labels) vol.labels[k] = val.value_or("");
      }
    }
    if (vol.external && vol.external_name.empty()) vol.external_name = name;
    project.volumes.push_back(vol);
  }
  return {};
}

Result<void> read_file_objects(const Ctx& ctx, const char* kind, const json& n,
                               const std::string& dir, std::vector<FileObject>& out) {
  BERTH_TRY_VOID(expect_object(ctx, kind, n));
  for (auto& [name, cfg] : n.items()) {
    std::string p = join(kind, name);
    BERTH_TRY_VOID(check_keys(ctx, p, cfg, {"file", "external", "name", "environment", "content"}));
    if (!cfg.contains("file"))
      return invalid_at(ctx, join(p, "file"), "is required (berth has file-based ones only)");
    BERTH_TRY(auto file, read_string(ctx, join(p, "file"), cfg["file"]));
    out.push_back({name, absolute(dir, file)});
  }
  return {};
}

}  // namespace

Result<void> interpolate_tree(nlohmann::json& tree, const std::map<std::string, std::string>& vars,
                              const std::string& file, const std::string& path) {
  if (tree.is_string()) {
    BERTH_TRY(auto s,
              interpolate(tree.get<std::string>(), vars, fmt::format("{}: {}", file, path)));
    tree = s;
  } else if (tree.is_object()) {
    for (auto& [k, v] : tree.items())
      BERTH_TRY_VOID(interpolate_tree(v, vars, file, join(path, k)));
  } else if (tree.is_array()) {
    for (size_t i = 0; i < tree.size(); ++i)
      BERTH_TRY_VOID(interpolate_tree(tree[i], vars, file, index(path, i)));
  }
  return {};
}

void normalise_for_merge(nlohmann::json& svc) {
  auto to_map = [](json& v) {
    if (!v.is_array()) return;
    json m = json::object();
    for (auto& item : v) {
      if (!item.is_string()) return;  // left for validation to report
      std::string s = item.get<std::string>();
      auto eq = s.find('=');
      if (eq == std::string::npos)
        m[s] = nullptr;
      else
        m[s.substr(0, eq)] = s.substr(eq + 1);
    }
    v = m;
  };
  auto names_to_map = [](json& v) {
    if (!v.is_array()) return;
    json m = json::object();
    for (auto& item : v) {
      if (!item.is_string()) return;
      m[item.get<std::string>()] = nullptr;
    }
    v = m;
  };
  if (!svc.is_object()) return;
  if (svc.contains("environment")) to_map(svc["environment"]);
  if (svc.contains("labels")) to_map(svc["labels"]);
  if (svc.contains("build") && svc["build"].is_object() && svc["build"].contains("args"))
    to_map(svc["build"]["args"]);
  if (svc.contains("networks")) names_to_map(svc["networks"]);
  if (svc.contains("depends_on")) names_to_map(svc["depends_on"]);
}

void merge_compose(nlohmann::json& base, const nlohmann::json& over) {
  // Replaced wholesale rather than appended.
  static const char* kReplaced[] = {"command", "entrypoint", "test", "healthcheck.test"};
  for (auto& [k, v] : over.items()) {
    if (!base.contains(k) || base[k].is_null() || !v.is_structured() ||
        v.type() != base[k].type()) {
      base[k] = v;
      continue;
    }
    if (v.is_object()) {
      merge_compose(base[k], v);
      continue;
    }
    bool replace = false;
    for (auto* r : kReplaced) replace |= k == r;
    if (replace) {
      base[k] = v;
      continue;
    }
    for (auto& item : v)
      if (std::find(base[k].begin(), base[k].end(), item) == base[k].end()) base[k].push_back(item);
  }
}

// x-berth-proxy: {listen: ADDR or [ADDR...], stats: ADDR}.
Result<void> read_proxy(const Ctx& ctx, const json& v, Project& project) {
  BERTH_TRY_VOID(check_keys(ctx, "x-berth-proxy", v, {"listen", "stats"}));
  ProxySpec spec;
  if (!v.contains("listen")) return invalid_at(ctx, "x-berth-proxy.listen", "is missing: give the address(es) the proxy listens on, e.g. \"0.0.0.0:8080\"");
  const json& listen = v["listen"];
  if (listen.is_string()) spec.listen.push_back(listen.get<std::string>());
  else if (listen.is_array()) {
    for (size_t i = 0; i < listen.size(); ++i) {
      if (!listen[i].is_string()) return invalid(ctx, index("x-berth-proxy.listen", i), listen[i], "is not a string");
      spec.listen.push_back(listen[i].get<std::string>());
    }
  } else {
    return invalid(ctx, "x-berth-proxy.listen", listen, "is not a string or a list of strings");
  }
  if (spec.listen.empty()) return invalid_at(ctx, "x-berth-proxy.listen", "is empty");
  if (v.contains("stats")) {
    if (!v["stats"].is_string()) return invalid(ctx, "x-berth-proxy.stats", v["stats"], "is not a string");
    spec.stats = v["stats"].get<std::string>();
  }
  project.proxy = std::move(spec);
  return {};
}

Result<void> read_compose(const Ctx& ctx, const ComposeInput& in, Project& project) {
  const json& tree = *in.tree;
  BERTH_TRY_VOID(check_keys(
      ctx, "", tree, {"version", "name", "services", "networks", "volumes", "configs", "secrets"}));
  const std::string& dir = project.working_dir;
  if (tree.contains("networks") && !tree["networks"].is_null())
    BERTH_TRY_VOID(read_top_networks(ctx, tree["networks"], project));
  if (tree.contains("volumes") && !tree["volumes"].is_null())
    BERTH_TRY_VOID(read_top_volumes(ctx, tree["volumes"], project));
  if (tree.contains("configs") && !tree["configs"].is_null())
    BERTH_TRY_VOID(read_file_objects(ctx, "configs", tree["configs"], dir, project.configs));
  if (tree.contains("secrets") && !tree["secrets"].is_null())
    BERTH_TRY_VOID(read_file_objects(ctx, "secrets", tree["secrets"], dir, project.secrets));
  if (tree.contains("x-berth-proxy") && !tree["x-berth-proxy"].is_null())
    BERTH_TRY_VOID(read_proxy(ctx, tree["x-berth-proxy"], project));
  if (!tree.contains("services") || tree["services"].is_null()) {
    if (in.partial) return {};
    return invalid_at(ctx, "services", "is missing: a project needs at least one service");
  }
  BERTH_TRY_VOID(expect_object(ctx, "services", tree["services"]));
  json services = tree["services"];
  for (auto& [name, svc] : tree["services"].items()) {
    Ctx sctx = ctx;
    if (auto it = in.service_file.find(name); it != in.service_file.end()) sctx.file = it->second;
    BERTH_TRY_VOID(apply_extends(sctx, services, name, in, dir, 0));
  }
  for (auto& [name, svc] : services.items()) {
    Ctx sctx = ctx;
    if (auto it = in.service_file.find(name); it != in.service_file.end()) sctx.file = it->second;
    Service s;
    BERTH_TRY_VOID(read_service(sctx, name, svc, in, dir, s));
    project.services.push_back(std::move(s));
  }
  return {};
}

bool is_json_project(const nlohmann::json& tree) {
  if (!tree.is_object()) return false;
  if (tree.contains("services") && tree["services"].is_array()) return true;
  return tree.contains("apps");
}

}  // namespace berth::project::detail
