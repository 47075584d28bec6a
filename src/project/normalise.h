// project/normalise.h — the model written out: `berth compose config` (YAML or JSON, in the
// Compose Specification's normalised shape) and the form stored in berth.db.
#pragma once

#include <optional>
#include <string>

#include "project/model.h"

namespace berth::project {

// The normalised project as JSON text (docker compose config --format json's shape). For
// printing, `escape` writes each "$" of a value as "$$", so that the output read back as a
// Compose file gives the same project (as docker compose's `config` does).
std::string to_json(const Project& project, bool pretty = true, bool escape = false);
// The same document as YAML, escaped.
std::string to_yaml(const Project& project);
// The path of the first value (or key) of the normalised document that is not UTF-8 and so
// cannot be JSON ("services.web.environment.A"); load_project refuses such a project.
std::optional<std::string> field_not_utf8(const Project& project);
// One service's normalised JSON (what config_hash hashes).
std::string service_json(const Project& project, const Service& service);

}  // namespace berth::project
