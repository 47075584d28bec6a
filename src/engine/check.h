// engine/check.h — `berth system check`: finds where berth.db, the files and the kernel disagree
// (after a crash, a kill -9, a reboot) and repairs it, so that nothing leaks.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"

namespace berth::engine {

struct Finding {
  std::string what;      // "container 3f2a…: its monitor died; exit recorded"
  bool repaired = false;
};

// With `repair` false only reports. Objects another berth command is working on (their lock is
// held) are left alone.
Result<std::vector<Finding>> check_system(Engine& engine, bool repair);

}  // namespace berth::engine
