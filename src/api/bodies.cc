// The small Docker API bodies read into plain values (api/bodies.h).
#include "api/bodies.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "api/translate.h"
#include "base/json.h"
#include "image/reference.h"

namespace berth::api {
namespace {

using nlohmann::json;

Error bad(std::string_view where, std::string_view what) {
  return Error::make(ErrorKind::invalid_argument, "{}: {}", where, what);
}

Result<json> parse_object(std::string_view where, std::string_view body) {
  if (body.empty()) return json::object();
  json j = parse_json(body, false);
  if (j.is_discarded()) return bad(where, "the body is not JSON");
  if (!j.is_object()) return bad(where, "the body must be a JSON object");
  return j;
}

bool is_true(const json& v) { return v.is_boolean() && v.get<bool>(); }

// A string; null is "". Anything else names the field.
Result<std::string> string_of(std::string_view where, std::string_view field, const json& v) {
  if (v.is_null()) return std::string();
  if (!v.is_string()) return bad(where, fmt::format("field {} must be a string", field));
  return v.get<std::string>();
}

// A list of strings; null is none.
Result<std::vector<std::string>> strings_of(std::string_view where, std::string_view field,
                                            const json& v) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (!v.is_array()) return bad(where, fmt::format("field {} must be a list of strings", field));
  for (const auto& s : v) {
    if (!s.is_string()) return bad(where, fmt::format("field {} must be a list of strings", field));
    out.push_back(s.get<std::string>());
  }
  return out;
}

// A map of strings; null is none.
Result<std::map<std::string, std::string>> string_map_of(std::string_view where,
                                                         std::string_view field, const json& v) {
  std::map<std::string, std::string> out;
  if (v.is_null()) return out;
  if (!v.is_object())
    return bad(where, fmt::format("field {} must be an object of strings", field));
  for (const auto& [k, s] : v.items()) {
    if (!s.is_string()) return bad(where, fmt::format("field {}.{} must be a string", field, k));
    out[k] = s.get<std::string>();
  }
  return out;
}

// ConsoleSize: [rows, cols], integers from 1 to 65535; [0, 0] or null: none (docker sends
// that without a terminal). Doubles used to be converted unchecked (UB past the range).
Result<std::optional<ConsoleSize>> console_size_of(std::string_view where, const json& v) {
  if (v.is_null()) return std::optional<ConsoleSize>();
  const auto in_range = [](const json& n) {
    return n.is_number_unsigned() || (n.is_number_integer() && n.get<int64_t>() >= 0);
  };
  if (!v.is_array() || v.size() != 2 || !in_range(v[0]) || !in_range(v[1]) ||
      v[0].get<uint64_t>() > 65535 || v[1].get<uint64_t>() > 65535)
    return bad(where, "field ConsoleSize must be [rows, columns], each from 0 to 65535");
  const auto rows = static_cast<unsigned short>(v[0].get<uint64_t>());
  const auto cols = static_cast<unsigned short>(v[1].get<uint64_t>());
  if (rows == 0) return std::optional<ConsoleSize>();
  return std::optional(ConsoleSize{rows, cols});
}

Error unknown_field(std::string_view where, std::string_view field) {
  return bad(where, fmt::format("field {} is not supported by berth", field));
}

// Whether an optional field is left at its default (null, "", false, 0, [] or {}).
bool unset(const json& v) {
  return v.is_null() || (v.is_string() && v.get_ref<const std::string&>().empty()) ||
         (v.is_boolean() && !v.get<bool>()) || (v.is_number() && v == 0) ||
         ((v.is_array() || v.is_object()) && v.empty());
}

}  // namespace

Result<ExecCreate> exec_create_from_json(std::string_view body) {
  constexpr std::string_view where = "exec";
  BERTH_TRY(json j, parse_object(where, body));
  ExecCreate out;
  for (const auto& [key, value] : j.items()) {
    if (key == "AttachStdin") {
      out.attach_stdin = is_true(value);
    } else if (key == "AttachStdout") {
      out.attach_stdout = is_true(value);
    } else if (key == "AttachStderr") {
      out.attach_stderr = is_true(value);
    } else if (key == "Tty") {
      out.request.tty = is_true(value);
    } else if (key == "Cmd") {
      BERTH_TRY(out.request.args, strings_of(where, key, value));
    } else if (key == "Env") {
      BERTH_TRY(out.request.env, strings_of(where, key, value));
    } else if (key == "User") {
      BERTH_TRY(out.request.user, string_of(where, key, value));
    } else if (key == "WorkingDir") {
      BERTH_TRY(out.request.workdir, string_of(where, key, value));
    } else if (key == "Privileged") {
      if (is_true(value)) return bad(where, "Privileged is not supported by berth");
    } else if (key == "DetachKeys") {
      if (value.is_string() && !value.get_ref<const std::string&>().empty())
        return bad(where, "DetachKeys is not supported by berth");
    } else if (key == "ConsoleSize") {
      BERTH_TRY(out.size, console_size_of(where, value));
    } else if (key != "Detach" && key != "Container") {
      // Detach is the start's to decide (docker sends it here too).
      return unknown_field(where, key);
    }
  }
  if (out.request.args.empty())
    return Error(ErrorKind::invalid_argument, "No exec command specified");
  out.request.interactive = out.attach_stdin;
  return out;
}

Result<ExecStart> exec_start_from_json(std::string_view body) {
  constexpr std::string_view where = "exec start";
  BERTH_TRY(json j, parse_object(where, body));
  ExecStart out;
  for (const auto& [key, value] : j.items()) {
    if (key == "Detach") {
      out.detach = is_true(value);
    } else if (key == "Tty") {
      // The create decided; docker sends the same value again.
    } else if (key == "ConsoleSize") {
      BERTH_TRY(out.size, console_size_of(where, value));
    } else {
      return unknown_field(where, key);
    }
  }
  return out;
}

Result<engine::NetworkOptions> network_create_from_json(std::string_view body) {
  constexpr std::string_view where = "network create";
  BERTH_TRY(json j, parse_object(where, body));
  engine::NetworkOptions o;
  for (const auto& [key, value] : j.items()) {
    if (key == "Name") {
      BERTH_TRY(o.name, string_of(where, key, value));
    } else if (key == "Driver") {
      BERTH_TRY(o.driver, string_of(where, key, value));
    } else if (key == "Internal") {
      if (!value.is_null() && !value.is_boolean())
        return bad(where, "field Internal must be true or false");
      o.internal = is_true(value);
    } else if (key == "Labels") {
      BERTH_TRY(o.labels, string_map_of(where, key, value));
    } else if (key == "Options") {
      BERTH_TRY(o.options, string_map_of(where, key, value));
    } else if (key == "IPAM") {
      if (value.is_null()) continue;
      if (!value.is_object()) return bad(where, "field IPAM must be an object");
      const auto cfg = value.find("Config");
      if (cfg == value.end() || cfg->is_null()) continue;
      if (!cfg->is_array()) return bad(where, "field IPAM.Config must be a list");
      if (cfg->size() > 1) return bad(where, "IPAM.Config: berth takes one subnet per network");
      if (cfg->empty()) continue;
      const json& c = (*cfg)[0];
      if (!c.is_object()) return bad(where, "field IPAM.Config[0] must be an object");
      for (const auto& [k, v] : c.items()) {
        const std::string field = "IPAM.Config[0]." + k;
        if (k == "Subnet") {
          BERTH_TRY(o.subnet, string_of(where, field, v));
        } else if (k == "Gateway") {
          BERTH_TRY(o.gateway, string_of(where, field, v));
        } else if (k == "IPRange") {
          BERTH_TRY(o.ip_range, string_of(where, field, v));
        } else if (!unset(v)) {
          return unknown_field(where, field);
        }
      }
    } else if (key != "CheckDuplicate" && key != "Attachable" && key != "EnableIPv6" &&
               key != "Ingress" && key != "Scope" && key != "ConfigOnly" && key != "ConfigFrom") {
      return unknown_field(where, key);
    } else if (key == "EnableIPv6" && is_true(value)) {
      return bad(where, "EnableIPv6 is not supported by berth");
    }
  }
  if (o.driver.empty()) o.driver = "bridge";
  if (o.name.empty()) return Error(ErrorKind::invalid_argument, "network name is required");
  return o;
}

Result<NetworkConnect> network_connect_from_json(std::string_view body, bool join) {
  const std::string_view where = join ? "network connect" : "network disconnect";
  BERTH_TRY(json j, parse_object(where, body));
  NetworkConnect out;
  for (const auto& [key, value] : j.items()) {
    if (key == "Container") {
      BERTH_TRY(out.container, string_of(where, key, value));
    } else if (key == "Force" && !join) {
      // A forced disconnect is what berth always does.
    } else if (key == "EndpointConfig" && join) {
      if (value.is_null()) continue;
      if (!value.is_object()) return bad(where, "field EndpointConfig must be an object");
      for (const auto& [k, v] : value.items()) {
        if (k == "Aliases") {
          BERTH_TRY(out.aliases, strings_of(where, "EndpointConfig.Aliases", v));
        } else if (k == "IPAMConfig" && v.is_object()) {
          for (const auto& [ik, iv] : v.items()) {
            const std::string field = "EndpointConfig.IPAMConfig." + ik;
            if (ik == "IPv4Address") {
              BERTH_TRY(out.ip, string_of(where, field, iv));
            } else if (!unset(iv)) {
              return unknown_field(where, field);
            }
          }
        } else if (!unset(v) && k != "NetworkID" && k != "EndpointID") {
          return unknown_field(where, "EndpointConfig." + k);
        }
      }
    } else {
      return unknown_field(where, key);
    }
  }
  if (out.container.empty()) return Error(ErrorKind::invalid_argument, "Container is required");
  return out;
}

Result<VolumeCreate> volume_create_from_json(std::string_view body) {
  constexpr std::string_view where = "volume create";
  BERTH_TRY(json j, parse_object(where, body));
  VolumeCreate out;
  for (const auto& [key, value] : j.items()) {
    if (key == "Name") {
      BERTH_TRY(out.name, string_of(where, key, value));
    } else if (key == "Labels") {
      BERTH_TRY(out.labels, string_map_of(where, key, value));
    } else if (key == "DriverOpts") {
      BERTH_TRY(out.options, string_map_of(where, key, value));
    } else if (key == "Driver") {
      BERTH_TRY(const std::string driver, string_of(where, key, value));
      if (!driver.empty() && driver != "local")
        return bad(where, fmt::format("Driver '{}' is not supported: only local", driver));
    } else if (!(key == "ClusterVolumeSpec" && unset(value))) {
      return unknown_field(where, key);
    }
  }
  return out;
}

Result<Login> login_from_json(std::string_view body) {
  constexpr std::string_view where = "auth";
  BERTH_TRY(json j, parse_object(where, body));
  Login out;
  std::string server;
  for (const auto& [key, value] : j.items()) {
    if (key == "username") {
      BERTH_TRY(out.user, string_of(where, key, value));
    } else if (key == "password") {
      BERTH_TRY(out.password, string_of(where, key, value));
    } else if (key == "serveraddress") {
      BERTH_TRY(server, string_of(where, key, value));
    } else if (key != "email" && key != "auth" && key != "identitytoken" &&
               key != "registrytoken") {
      return unknown_field(where, key);
    }
  }
  if (auto sep = server.find("://"); sep != std::string::npos) server = server.substr(sep + 3);
  server = server.substr(0, server.find('/'));
  if (server.empty() || server == "index.docker.io" || server == "registry-1.docker.io")
    server = "docker.io";
  out.server = std::move(server);
  return out;
}

namespace {

// buildargs and labels: a JSON object of strings, as dockerd reads them (a null build arg, which
// the docker CLI sends for a --build-arg NAME not in its environment, is left to the ARG's
// default). Invalid JSON used to be ignored: the build ran without the arguments.
Result<std::map<std::string, std::string>> query_string_map(std::string_view name,
                                                            std::string_view text) {
  std::map<std::string, std::string> out;
  if (text.empty()) return out;
  const json j = parse_json(text, false);
  if (j.is_discarded() || !j.is_object())
    return bad("build", fmt::format("query {} must be a JSON object of strings", name));
  for (const auto& [k, v] : j.items()) {
    if (v.is_null()) continue;
    if (!v.is_string())
      return bad("build", fmt::format("query {}: the value of '{}' must be a string", name, k));
    out[k] = v.get<std::string>();
  }
  return out;
}

}  // namespace

Result<BuildQuery> build_query_from(const std::vector<std::pair<std::string, std::string>>& query) {
  constexpr std::string_view where = "build";
  BuildQuery out;
  std::vector<std::string_view> seen;
  for (const auto& [key, value] : query) {
    // The first of a parameter given twice counts, as dockerd's FormValue takes it; t repeats.
    if (key != "t") {
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
      seen.push_back(key);
    }
    if (key == "dockerfile") {
      // Read from the context directory: no way out of it, and no NUL to cut the path short.
      out.dockerfile = value.empty() ? "Dockerfile" : value;
      if (value.find("..") != std::string::npos || value.starts_with("/") ||
          value.find('\0') != std::string::npos)
        return bad(where, fmt::format("dockerfile '{}': give a path inside the context", value));
    } else if (key == "t") {
      if (value.empty()) continue;
      // The build would fail only at its end, naming the image, after all its steps.
      auto ref = image::Reference::parse(value);
      if (!ref) return bad(where, fmt::format("t '{}': {}", value, ref.error().message()));
      if (ref->tag().empty())
        return bad(where,
                   fmt::format("t '{}': a name for an image needs a tag, not a digest", value));
      out.tags.push_back(value);
    } else if (key == "buildargs") {
      BERTH_TRY(out.build_args, query_string_map(key, value));
    } else if (key == "labels") {
      BERTH_TRY(out.labels, query_string_map(key, value));
    } else if (key == "target") {
      out.target = value;
    } else if (key == "networkmode") {
      out.network = value.empty() ? "default" : value;
      if (out.network != "default" && out.network != "none" && out.network != "host")
        return bad(where,
                   fmt::format("networkmode '{}': builds run with default, none or host", value));
    } else if (key == "nocache") {
      out.no_cache = query_true(value);
    } else if (key == "q") {
      out.quiet = query_true(value);
    } else if (key == "memory" && !value.empty()) {
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out.memory);
      if (ec != std::errc() || end != value.data() + value.size() || out.memory < 0)
        return bad(where, fmt::format("memory '{}': want a number of bytes", value));
    }
  }
  return out;
}

}  // namespace berth::api
