// project/proxy.h — a project's load balancer (x-berth-proxy in a Compose file): `up` starts
// `berth proxy serve --name PROJECT --project PROJECT` (or restarts it when its listeners
// changed), `down` stops it. The proxy follows the project's containers by itself
// (proxy_source/state_source.h); docs/compose.md, "A load balancer for the project".
#pragma once

#include <string>

#include "base/error.h"
#include "engine/engine.h"
#include "project/deploy.h"
#include "project/model.h"

namespace berth::project {

// Starts the project's proxy unless it already runs with the same options; returns once it
// listens (its own error, e.g. an address in use, otherwise). Nothing without x-berth-proxy.
Result<void> ensure_project_proxy(engine::Engine& engine, const Project& project, const Progress& progress);

// Stops the project's proxy if one runs.
Result<void> stop_project_proxy(engine::Engine& engine, const std::string& project, const Progress& progress);

}  // namespace berth::project
