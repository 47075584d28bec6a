// api/network_routes.cc — /networks/... and /volumes/...
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "api/bodies.h"
#include "api/routes.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys.h"
#include "build/build.h"
#include "engine/images.h"
#include "engine/networks.h"

namespace berth::api::detail {
namespace {

// A network as the API shows it. The bridge's name, which berth chooses for every network, is
// left out of Options but on the default network (as dockerd): docker-compose compares Options
// with its file's driver_opts and would recreate the network at every `up`.
json network_json(engine::Engine& e, const engine::NetworkRecord& n) {
  json j = json::parse(engine::network_inspect_json(e, n));
  if (n.name != "bridge")
    if (auto it = j.find("Options"); it != j.end() && it->is_object())
      it->erase("com.docker.network.bridge.name");
  // dockerd's fields for what berth has not (swarm, config-only networks): their defaults.
  for (const char* key : {"Attachable", "Ingress", "ConfigOnly"}) j.emplace(key, false);
  j.emplace("ConfigFrom", json{{"Network", ""}});
  if (auto ipam = j.find("IPAM"); ipam != j.end() && ipam->is_object()) ipam->emplace("Options", json::object());
  return j;
}

}  // namespace

// --- networks and volumes -----------------------------------------------------------------

ServerResponse DockerApi::networks(const std::string& m, const std::vector<std::string>& parts,
                                   const ServerRequest& r, const std::string& body) {
  auto e = open();
  if (!e) return error_response(e.error());
  if (parts.size() == 1 && m == "GET") {
    auto filters = parse_filters(r.query_value("filters").value_or(""),
                                 {"label", "name", "id", "driver", "scope", "type"});
    if (!filters) return error_response(filters.error());
    auto all = engine::list_networks(*e);
    if (!all) return error_response(all.error());
    json out = json::array();
    for (const auto& n : *all) {
      json shown = network_json(*e, n);
      // dockerd's matching: name a substring, id a prefix, the rest exact; "bridge" is built in.
      auto field = [&](const char* key) { return shown.value(key, std::string()); };
      auto pass = [&](const char* key, auto&& pred) {
        auto it = filters->find(key);
        return it == filters->end() || it->second.empty() ||
               std::any_of(it->second.begin(), it->second.end(), pred);
      };
      bool builtin = n.name == "bridge";
      std::map<std::string, std::string> labels;
      if (auto it = shown.find("Labels"); it != shown.end() && it->is_object())
        labels = it->get<std::map<std::string, std::string>>();
      if (!pass("name", [&](const std::string& v) { return field("Name").find(v) != std::string::npos; }) ||
          !pass("id", [&](const std::string& v) { return field("Id").starts_with(v); }) ||
          !pass("driver", [&](const std::string& v) { return field("Driver") == v; }) ||
          !pass("scope", [&](const std::string& v) { return v == "local"; }) ||
          !pass("type", [&](const std::string& v) { return v == (builtin ? "builtin" : "custom"); }) ||
          !labels_match(filters->count("label") ? filters->at("label") : std::vector<std::string>{},
                        labels))
        continue;
      out.push_back(std::move(shown));
    }
    return json_response(200, out);
  }
  if (parts.size() == 2 && parts[1] == "create" && m == "POST") {
    auto parsed = network_create_from_json(body);
    if (!parsed) return error_response(parsed.error());
    const engine::NetworkOptions& o = *parsed;
    if (engine::find_network(*e, o.name))
      return error_response(409, fmt::format("network with name {} already exists", o.name));
    auto created = engine::create_network(*e, o);
    if (!created) return error_response(created.error());
    return json_response(201, {{"Id", created->id}, {"Warning", ""}});
  }
  if (parts.size() == 2) {
    auto n = engine::find_network(*e, parts[1]);
    if (!n) return error_response(no_such(n.error(), "network", parts[1]));
    if (m == "GET") return json_response(200, network_json(*e, *n));
    if (m == "DELETE") {
      if (auto done = engine::remove_network(*e, parts[1]); !done)
        return error_response(done.error());
      return empty_response(204);
    }
  }
  return error_response(404, fmt::format("page not found: {} {}", m, r.path));
}

json DockerApi::volume_json(const engine::VolumeRecord& v) {
  return {{"Name", v.name},
          {"Driver", v.driver},
          {"Mountpoint", v.mountpoint},
          {"CreatedAt", clock::rfc3339(v.created)},
          {"Labels", v.labels},
          {"Scope", "local"},
          {"Options", v.options}};
}

ServerResponse DockerApi::volumes(const std::string& m, const std::vector<std::string>& parts,
                                  const ServerRequest& r, const std::string& body) {
  auto e = open();
  if (!e) return error_response(e.error());
  if (parts.size() == 1 && m == "GET") {
    auto filters = parse_filters(r.query_value("filters").value_or(""),
                                 {"label", "name", "dangling", "driver"});
    if (!filters) return error_response(filters.error());
    auto all = engine::list_volumes(*e);
    if (!all) return error_response(all.error());
    json out = json::array();
    auto pass = [&](const char* key, auto&& pred) {
      auto it = filters->find(key);
      return it == filters->end() || it->second.empty() ||
             std::any_of(it->second.begin(), it->second.end(), pred);
    };
    for (const auto& v : *all) {
      if (auto it = filters->find("label");
          it != filters->end() && !labels_match(it->second, v.labels))
        continue;
      if (!pass("name", [&](const std::string& f) { return v.name.find(f) != std::string::npos; }) ||
          !pass("driver", [&](const std::string& f) { return v.driver == f; }) ||
          !pass("dangling", [&](const std::string& f) { return query_true(f) == v.containers.empty(); }))
        continue;
      out.push_back(volume_json(v));
    }
    return json_response(200, {{"Volumes", out}, {"Warnings", json::array()}});
  }
  if (parts.size() == 2 && parts[1] == "create" && m == "POST") {
    auto v = volume_create_from_json(body);
    if (!v) return error_response(v.error());
    auto created = engine::create_volume(*e, v->name, v->labels, v->options);
    if (!created) return error_response(created.error());
    return json_response(201, volume_json(*created));
  }
  if (parts.size() == 2) {
    if (m == "GET") {
      auto v = engine::get_volume(*e, parts[1]);
      if (!v) return error_response(no_such(v.error(), "volume", parts[1]));
      return json_response(200, volume_json(*v));
    }
    if (m == "DELETE") {
      if (auto v = engine::get_volume(*e, parts[1]); !v)
        return error_response(no_such(v.error(), "volume", parts[1]));
      if (auto done = engine::remove_volume(*e, parts[1], query_flag(r, "force")); !done)
        return error_response(done.error());
      return empty_response(204);
    }
  }
  return error_response(404, fmt::format("page not found: {} {}", m, r.path));
}

}  // namespace berth::api::detail
