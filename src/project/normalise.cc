#include "project/normalise.h"

#include <cctype>
#include <cmath>
#include <optional>

#include "project/detail/json.h"
#include "project/plan.h"

namespace berth::project {
namespace {

using nlohmann::json;

std::string duration(int64_t ms) {
  if (ms % 1000) return fmt::format("{}ms", ms);
  int64_t s = ms / 1000;
  std::string out;
  if (s >= 3600) out += fmt::format("{}h", s / 3600), s %= 3600;
  if (s >= 60) out += fmt::format("{}m", s / 60), s %= 60;
  if (s || out.empty()) out += fmt::format("{}s", s);
  return out;
}

json service_doc(const Project& project, const Service& s) {
  json j = json::object();
  if (!s.image.empty()) j["image"] = s.image;
  if (s.build) {
    j["build"] = {{"context", s.build->context}, {"dockerfile", s.build->dockerfile}};
    if (!s.build->args.empty()) j["build"]["args"] = s.build->args;
    if (!s.build->target.empty()) j["build"]["target"] = s.build->target;
  }
  if (s.command) j["command"] = *s.command;
  if (s.entrypoint) j["entrypoint"] = *s.entrypoint;
  if (!s.environment.empty()) j["environment"] = s.environment;
  if (!s.ports.empty()) {
    json ports = json::array();
    for (const auto& p : s.ports) {
      for (int k = 0; k < p.count(); ++k) {
        json port = {
            {"mode", "ingress"}, {"target", p.container_port + k}, {"protocol", p.protocol}};
        if (p.host_port)
          port["published"] =
              std::to_string(p.host_port == p.host_port_end ? p.host_port : p.host_port + k);
        if (!p.host_ip.empty()) port["host_ip"] = p.host_ip;
        ports.push_back(port);
      }
    }
    j["ports"] = ports;
  }
  if (!s.expose.empty()) j["expose"] = s.expose;
  if (!s.volumes.empty()) {
    json vols = json::array();
    for (const auto& m : s.volumes) {
      json v = {{"type", m.type}, {"target", m.target}};
      if (!m.source.empty()) v["source"] = m.source;
      if (m.read_only) v["read_only"] = true;
      if (m.type == "bind") v["bind"] = {{"create_host_path", true}};
      if (m.type == "volume") v["volume"] = json::object();
      if (m.tmpfs_size) v["tmpfs"] = {{"size", *m.tmpfs_size}};
      vols.push_back(v);
    }
    j["volumes"] = vols;
  }
  json nets = json::object();
  for (const auto& [name, cfg] : s.networks) {
    json n = nullptr;
    if (!cfg.aliases.empty() || !cfg.ipv4_address.empty()) {
      n = json::object();
      if (!cfg.aliases.empty()) n["aliases"] = cfg.aliases;
      if (!cfg.ipv4_address.empty()) n["ipv4_address"] = cfg.ipv4_address;
    }
    nets[name] = n;
  }
  j["networks"] = nets;
  if (!s.links.empty()) j["links"] = s.links;
  if (!s.depends_on.empty()) {
    json deps = json::object();
    for (const auto& d : s.depends_on)
      deps[d.service] = {
          {"condition", d.condition}, {"restart", d.restart}, {"required", d.required}};
    j["depends_on"] = deps;
  }
  if (s.healthcheck) {
    const auto& h = *s.healthcheck;
    if (h.disable) {
      j["healthcheck"] = {{"disable", true}};
    } else {
      j["healthcheck"] = {{"interval", duration(h.interval_ms)},
                          {"timeout", duration(h.timeout_ms)},
                          {"start_period", duration(h.start_period_ms)},
                          {"retries", h.retries}};
      // No test: the image's HEALTHCHECK with these timings (["CMD"] alone would not load).
      if (!h.test.empty()) {
        json test = json::array({"CMD"});
        for (const auto& a : h.test) test.push_back(a);
        j["healthcheck"]["test"] = test;
      }
    }
  }
  if (s.restart != "no") j["restart"] = s.restart;
  json deploy = {{"replicas", s.replicas}};
  if (s.memory || s.cpus || s.pids_limit) {
    json limits = json::object();
    if (s.memory) limits["memory"] = std::to_string(*s.memory);
    if (s.cpus) limits["cpus"] = fmt::format("{}", *s.cpus);
    if (s.pids_limit) limits["pids"] = *s.pids_limit;
    deploy["resources"] = {{"limits", limits}};
  }
  auto policy = [](const UpdatePolicy& u) {
    json p = {{"parallelism", u.parallelism}, {"failure_action", u.failure_action}};
    if (u.delay_ms) p["delay"] = duration(u.delay_ms);
    if (!u.order.empty()) p["order"] = u.order;
    return p;
  };
  deploy["update_config"] = policy(s.update_config);
  deploy["rollback_config"] = policy(s.rollback_config);
  j["deploy"] = deploy;
  if (!s.labels.empty()) j["labels"] = s.labels;
  for (auto [key, value] : {std::pair{"hostname", &s.hostname},
                            {"container_name", &s.container_name},
                            {"user", &s.user},
                            {"working_dir", &s.working_dir},
                            {"stop_signal", &s.stop_signal}})
    if (!value->empty()) j[key] = *value;
  if (!s.cap_add.empty()) j["cap_add"] = s.cap_add;
  if (!s.cap_drop.empty()) j["cap_drop"] = s.cap_drop;
  if (!s.tmpfs.empty()) j["tmpfs"] = s.tmpfs;
  if (!s.profiles.empty()) j["profiles"] = s.profiles;
  if (s.read_only) j["read_only"] = true;
  if (s.init) j["init"] = true;
  if (s.tty) j["tty"] = true;
  if (s.stdin_open) j["stdin_open"] = true;
  if (s.stop_grace_period_ms) j["stop_grace_period"] = duration(*s.stop_grace_period_ms);
  if (s.domain) j["x-domain"] = {{"type", s.domain->type}, {"uri", s.domain->uri}};
  (void)project;
  return j;
}

json project_doc(const Project& project) {
  json j = {{"name", project.name}};
  json services = json::object();
  for (const auto& s : project.services) services[s.name] = service_doc(project, s);
  j["services"] = services;
  json nets = json::object();
  for (const auto& n : project.networks) {
    json net = {{"name", network_name(project, n.name)}};
    if (n.external) net["external"] = true;
    if (n.internal) net["internal"] = true;
    if (!n.subnet.empty()) net["ipam"] = {{"config", json::array({{{"subnet", n.subnet}}})}};
    if (!n.labels.empty()) net["labels"] = n.labels;
    nets[n.name] = net;
  }
  if (!nets.empty()) j["networks"] = nets;
  json vols = json::object();
  for (const auto& v : project.volumes) {
    json vol = {{"name", volume_name(project, v.name)}};
    if (v.external) vol["external"] = true;
    if (!v.labels.empty()) vol["labels"] = v.labels;
    vols[v.name] = vol;
  }
  if (!vols.empty()) j["volumes"] = vols;
  for (auto [key, list] : {std::pair{"configs", &project.configs}, {"secrets", &project.secrets}}) {
    if (list->empty()) continue;
    json objs = json::object();
    for (const auto& o : *list) objs[o.name] = {{"file", o.file}};
    j[key] = objs;
  }
  if (project.proxy) {
    json proxy = {{"listen", project.proxy->listen}};
    if (!project.proxy->stats.empty()) proxy["stats"] = project.proxy->stats;
    j["x-berth-proxy"] = proxy;
  }
  return j;
}

// A YAML scalar: plain when it reads back as the same string, double-quoted otherwise.
std::string yaml_string(const std::string& s) {
  bool plain = !s.empty() && s.find_first_of(":#{}[],&*!|>'\"%@`\n\t") == std::string::npos &&
               s.front() != ' ' && s.back() != ' ' && s.front() != '-' && s.front() != '?';
  // Control characters only inside double quotes, as JSON's \u escapes (YAML reads those too).
  for (char c : s) plain &= static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
  // YAML 1.1 readers (docker-compose 1.x) also take yes/no/on/off, in any case, as booleans.
  std::string lower = s;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* b : {"yes", "no", "on", "off"}) plain &= lower != b;
  bool numeric = s.find_first_not_of("0123456789.+-eE") == std::string::npos;
  if (plain) plain = detail::plain_scalar(s) == json(s);  // not null, a bool or a number here
  if (plain && !numeric) return s;
  return json(s).dump();
}

void emit_yaml(const json& v, int indent, std::string& out) {
  std::string pad(static_cast<size_t>(indent), ' ');
  if (v.is_object()) {
    for (auto& [k, val] : v.items()) {
      // An implicit key may be at most 1024 characters long (YAML 1.2, 7.4.2; yaml-cpp refuses a
      // longer one): keys over 512 bytes, quotes and escapes included, are written in the
      // explicit form, "? key" then ": value".
      std::string key = yaml_string(k);
      out += key.size() > 512 ? pad + "? " + key + "\n" + pad + ":" : pad + key + ":";
      if ((val.is_object() && !val.empty()) || (val.is_array() && !val.empty())) {
        out += "\n";
        emit_yaml(val, indent + 2, out);
      } else if (val.is_object()) {
        out += " {}\n";
      } else if (val.is_array()) {
        out += " []\n";
      } else if (val.is_null()) {
        out += " null\n";
      } else if (val.is_string()) {
        out += " " + yaml_string(val.get<std::string>()) + "\n";
      } else {
        out += " " + val.dump() + "\n";
      }
    }
  } else if (v.is_array()) {
    for (const auto& item : v) {
      if (item.is_object() && !item.empty()) {
        std::string inner;
        emit_yaml(item, indent + 2, inner);
        out += pad + "- " + inner.substr(static_cast<size_t>(indent) + 2);
      } else if (item.is_string()) {
        out += pad + "- " + yaml_string(item.get<std::string>()) + "\n";
      } else {
        out += pad + "- " + item.dump() + "\n";
      }
    }
  }
}

void escape_dollars(json& v) {
  if (v.is_string()) {
    std::string out;
    for (char c : v.get_ref<const std::string&>())
      out += c == '$' ? std::string("$$") : std::string(1, c);
    v = out;
  } else if (v.is_structured()) {
    for (auto& item : v) escape_dollars(item);
  }
}

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF (what nlohmann accepts).
bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 9;
    if (n == 9 || s.size() - i <= n) return false;
    uint32_t cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; k <= n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

// The path ("services.web.environment.A") of the first key or string that is not UTF-8.
std::optional<std::string> non_utf8(const json& v, const std::string& path) {
  if (v.is_string()) {
    if (!valid_utf8(v.get_ref<const std::string&>())) return path;
  } else if (v.is_object()) {
    for (const auto& [k, item] : v.items()) {
      std::string at = path.empty() ? k : path + "." + k;
      if (!valid_utf8(k)) return at;
      if (auto bad = non_utf8(item, at)) return bad;
    }
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i)
      if (auto bad = non_utf8(v[i], fmt::format("{}[{}]", path, i))) return bad;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> field_not_utf8(const Project& project) {
  return non_utf8(project_doc(project), "");
}

std::string to_json(const Project& project, bool pretty, bool escape) {
  json doc = project_doc(project);
  if (escape) escape_dollars(doc);
  return doc.dump(pretty ? 2 : -1);
}

std::string to_yaml(const Project& project) {
  json doc = project_doc(project);
  escape_dollars(doc);
  std::string out;
  emit_yaml(doc, 0, out);
  return out;
}

std::string service_json(const Project& project, const Service& service) {
  json j = service_doc(project, service);
  j.erase("deploy");  // replicas and update policy change no container
  if (service.memory) j["memory"] = *service.memory;
  if (service.cpus) j["cpus"] = *service.cpus;
  if (service.pids_limit) j["pids"] = *service.pids_limit;
  j.erase("profiles");
  return j.dump();
}

}  // namespace berth::project
