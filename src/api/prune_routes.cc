// api/prune_routes.cc — POST /containers/prune, /images/prune, /networks/prune, /volumes/prune
// with docker's filters and response bodies, and POST /networks/{id}/connect and /disconnect.
#include "api/bodies.h"
#include "api/routes.h"
#include "base/clock.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "engine/volumes.h"

namespace berth::api::detail {
namespace {

// Docker's `until` filter: unix seconds, or an RFC 3339 time; ns.
Result<std::optional<int64_t>> until_of(const Filters& filters) {
  auto it = filters.find("until");
  if (it == filters.end() || it->second.empty()) return std::optional<int64_t>();
  const std::string& text = it->second[0];
  if (auto t = clock::parse_rfc3339(text)) return std::optional<int64_t>(*t);
  char* end = nullptr;
  double seconds = std::strtod(text.c_str(), &end);
  if (!*end && !text.empty()) return std::optional(static_cast<int64_t>(seconds * 1e9));
  return Error::make(ErrorKind::invalid_argument,
                     "until '{}': give a unix time in seconds or an RFC 3339 time", text);
}

bool label_filters_pass(const Filters& filters, const std::map<std::string, std::string>& labels) {
  if (auto it = filters.find("label"); it != filters.end() && !labels_match(it->second, labels))
    return false;
  if (auto it = filters.find("label!"); it != filters.end())
    for (const auto& l : it->second)
      if (labels_match({l}, labels)) return false;
  return true;
}

}  // namespace

ServerResponse DockerApi::prune(const std::string& kind, const ServerRequest& r) {
  std::vector<std::string_view> known{"label", "label!"};
  if (kind == "containers" || kind == "images" || kind == "networks") known.push_back("until");
  if (kind == "images") known.push_back("dangling");
  if (kind == "volumes") known.push_back("all");
  auto filters = parse_filters(r.query_value("filters").value_or(""), known);
  if (!filters) return error_response(filters.error());
  auto until = until_of(*filters);
  if (!until) return error_response(until.error());
  auto e = open();
  if (!e) return error_response(e.error());
  if (kind == "containers") {
    auto all = engine::list_containers(*e);
    if (!all) return error_response(all.error());
    json deleted = json::array();
    int64_t reclaimed = 0;
    for (const auto& c : *all) {
      if (c.running() || !label_filters_pass(*filters, c.config.labels)) continue;
      if (*until && c.created > **until) continue;
      int64_t size = engine::disk_usage(c.layer_dir + "/upper");
      if (auto done = engine::remove_container(*e, c.id, false, false); !done)
        return error_response(done.error());
      deleted.push_back(c.id);
      reclaimed += size;
    }
    return json_response(200, {{"ContainersDeleted", deleted}, {"SpaceReclaimed", reclaimed}});
  }
  // The engine's prunes of images, networks and volumes know no labels or times yet.
  for (const char* key : {"label", "label!", "until"})
    if (filters->count(key))
      return error_response(400, fmt::format("{} prune: the filter '{}' is not supported by berth",
                                             kind.substr(0, kind.size() - 1), key));
  if (kind == "images") {
    bool all = false;
    if (auto it = filters->find("dangling"); it != filters->end() && !it->second.empty())
      all = it->second[0] == "false" || it->second[0] == "0";
    auto removed = engine::prune_images(*e, all);
    if (!removed) return error_response(removed.error());
    json deleted = json::array();
    for (const auto& u : removed->untagged) deleted.push_back({{"Untagged", u}});
    for (const auto& d : removed->deleted) deleted.push_back({{"Deleted", d}});
    return json_response(200, {{"ImagesDeleted", deleted.empty() ? json(nullptr) : deleted},
                               {"SpaceReclaimed", removed->reclaimed}});
  }
  if (kind == "networks") {
    auto removed = engine::prune_networks(*e);
    if (!removed) return error_response(removed.error());
    return json_response(200, {{"NetworksDeleted", *removed}});
  }
  // volumes: API 1.41 prunes every unused volume (named ones too; anonymous only from 1.42).
  int64_t reclaimed = 0;
  auto removed = engine::prune_volumes(*e, true, &reclaimed);
  if (!removed) return error_response(removed.error());
  return json_response(200, {{"VolumesDeleted", *removed}, {"SpaceReclaimed", reclaimed}});
}

ServerResponse DockerApi::connect(const std::string& network, bool join, const std::string& body) {
  auto parsed = network_connect_from_json(body, join);
  if (!parsed) return error_response(parsed.error());
  const std::string container = parsed->container;
  const std::vector<std::string> aliases = parsed->aliases;
  const std::string ip = parsed->ip;
  return deferred([this, network, join, container, aliases, ip](int) {
    auto e = open();
    if (!e) return error_response(e.error());
    auto n = engine::find_network(*e, network);
    if (!n) return error_response(no_such(n.error(), "network", network));
    auto c = engine::find_container(*e, container);
    if (!c) return error_response(no_such(c.error(), "container", container));
    // docker-compose connects a container it created on the network again, with its aliases:
    // the endpoint is made anew with what this request says.
    if (join)
      if (auto eps = engine::container_endpoints(*e, c->id))
        for (const auto& ep : *eps)
          if (ep.network_id == n->id)
            if (auto left = engine::leave_network(*e, c->id, n->id); !left)
              return error_response(left.error());
    auto done = join ? engine::join_network(*e, container, network, aliases, ip)
                     : engine::leave_network(*e, container, network);
    if (!done) return error_response(done.error());
    return empty_response(200);
  });
}

}  // namespace berth::api::detail
