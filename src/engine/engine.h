// engine/engine.h — one command's handle on berth's local state: the layout, berth.db and the
// content store. Opened per command (no daemon, nothing cached across commands).
#pragma once

#include <string>

#include "base/error.h"
#include "engine/layout.h"
#include "image/content_store.h"
#include "state/database.h"

namespace berth::engine {

// The programs the engine starts: berth-runtime and berth-monitor live beside berth.
struct Programs {
  std::string berth;    // this CLI, for monitors' exit commands
  std::string runtime;  // berth-runtime
  std::string monitor;  // berth-monitor
  std::string dns;      // berth-dns, one per network with running containers
};

struct Engine {
  Layout layout;
  Programs programs;
  state::Database db;
  image::ContentStore store;

  // Creates the directories it needs (root 0711, run root 0700) and opens berth.db.
  static Result<Engine> open(Layout layout, Programs programs);
};

// Programs beside the running executable (/proc/self/exe).
Programs programs_beside_self();

}  // namespace berth::engine
