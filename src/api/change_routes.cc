// api/change_routes.cc — changes to a container: POST /containers/{id}/update (limits and
// restart policy, live) and POST /commit (a container's changes as a new image).
#include "api/routes.h"
#include "base/sys.h"
#include "engine/container_commit.h"
#include "engine/container_update.h"

namespace berth::api::detail {

ServerResponse DockerApi::update(const std::string& id, const std::string& body) {
  auto u = container_update_from_json(body);
  if (!u) return error_response(u.error());
  return deferred([this, id, u = *u](int) {
    auto e = open();
    if (!e) return error_response(e.error());
    auto c = engine::find_container(*e, id);
    if (!c) return error_response(no_such(c.error(), "container", id));
    // AutoRemove through the API is a label (routes.h), which the engine does not check.
    if (u.restart && *u.restart != "no" && c->config.labels.contains(kAutoRemoveLabel))
      return error_response(409, "Restart policy cannot be updated because AutoRemove is enabled for the container");
    if (auto updated = engine::update_container(*e, id, u); !updated) return error_response(updated.error());
    return json_response(200, {{"Warnings", json::array()}});
  });
}

// docker commit: ?container=&repo=&tag=&author=&comment=&pause=&changes= (repeated), and a
// Config body whose settings win over the container's (engine::CommitOptions::config).
ServerResponse DockerApi::commit(const ServerRequest& r, const std::string& body) {
  auto config = commit_config_from_json(body);
  if (!config) return error_response(config.error());
  engine::CommitOptions o;
  o.config = std::move(*config);
  o.container = r.query_value("container").value_or("");
  if (o.container.empty()) return error_response(400, "commit: give the container (container=)");
  std::string repo = r.query_value("repo").value_or(""), tag = r.query_value("tag").value_or("");
  if (!repo.empty()) o.names.push_back(repo + ":" + (tag.empty() ? "latest" : tag));
  else if (!tag.empty()) return error_response(400, "commit: a tag needs a repository (repo=)");
  o.author = r.query_value("author").value_or("");
  o.comment = r.query_value("comment").value_or("");
  if (auto pause = r.query_value("pause"); pause && !pause->empty()) o.pause = query_true(*pause);
  for (const auto& [key, value] : r.query)
    if (key == "changes" && !value.empty())
      for (const auto& line : sys::split(value, '\n')) o.changes.push_back(line);
  return deferred([this, o](int) {
    auto e = open();
    if (!e) return error_response(e.error());
    if (auto c = engine::find_container(*e, o.container); !c)
      return error_response(no_such(c.error(), "container", o.container));
    auto image = engine::commit_container(*e, o);
    if (!image) return error_response(image.error());
    return json_response(201, {{"Id", image->config_digest}});
  });
}

}  // namespace berth::api::detail
