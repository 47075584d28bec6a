// project/changes.h — `berth compose change`: a service's image, environment or variables set
// apart from the files. A change is kept in berth.db (projects.changes) with what the files said
// when it was made; every later command applies it again, until the files themselves change that
// field (then the files win, and the command says so). `down` forgets the changes.
//
// Field by field: an image change lasts while the files' image is the one they had; an
// environment change per variable; a --var change while the service's definition in the files
// (its normalised form, replicas aside) is the same.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"
#include "project/model.h"

namespace berth::project {

struct ServiceChange {
  std::optional<std::string> image;                            // the image asked for
  std::string file_image;                                      // the files' image then
  std::map<std::string, std::string> env;                      // NAME → value asked for
  std::map<std::string, std::optional<std::string>> file_env;  // NAME → the files' value then
  std::map<std::string, std::string> vars;  // variables the service's fields were loaded with
  std::string file_service;                 // service_json of the files' service then (vars)

  bool empty() const { return !image && env.empty() && vars.empty(); }
};
using Changes = std::map<std::string, ServiceChange>;  // by service name

// Records, in `changes`, a change to `files_service` (the service as the files give it now).
void note_change(Changes& changes, const Project& files, const Service& files_service,
                 const std::optional<std::string>& image,
                 const std::map<std::string, std::string>& env,
                 const std::map<std::string, std::string>& vars);

// The project loaded from the files again with more variables (for vars changes).
using LoadWithVars = std::function<Result<Project>(const std::map<std::string, std::string>& vars)>;

// Applies `changes` to `project` (as loaded from the files). Changes whose field the files have
// changed since are dropped from `changes`; `notes` gets a line for each change applied or dropped
// ("service web: keeps image busybox:2 from `compose change` (the files say busybox)").
Result<void> apply_changes(Project& project, Changes& changes, const LoadWithVars& load,
                           std::vector<std::string>& notes);

// The stored changes of a project ({} when there are none, or no project).
Result<Changes> stored_changes(engine::Engine& engine, const std::string& project);
// Replaces them; the project must have been stored by an `up` (no row: nothing is kept).
Result<void> store_changes(engine::Engine& engine, const std::string& project,
                           const Changes& changes);

}  // namespace berth::project
