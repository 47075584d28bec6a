// engine/volumes.h — named volumes: directories under volumes/<name>/data that outlive the
// containers mounting them and can be shared by several at once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"

namespace berth::engine {

struct VolumeRecord {
  std::string name;
  std::string driver = "local";
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> options;
  int64_t created = 0;
  std::string mountpoint;               // the data directory
  std::vector<std::string> containers;  // ids of containers that mount it
  bool anonymous = false;               // created for one container (label berth.anonymous)
};

// Names: [A-Za-z0-9][A-Za-z0-9_.-]* as Docker allows; empty → a random 64-hex anonymous name.
// Creating an existing volume returns it unchanged (Docker's behaviour) unless labels differ.
Result<VolumeRecord> create_volume(Engine& engine, std::string name,
                                   const std::map<std::string, std::string>& labels = {},
                                   const std::map<std::string, std::string>& options = {});
Result<VolumeRecord> get_volume(Engine& engine, const std::string& name);
Result<std::vector<VolumeRecord>> list_volumes(Engine& engine);
// Refused while a container uses it, unless `force` (then only unused ones can still go).
Result<void> remove_volume(Engine& engine, const std::string& name, bool force = false);
// Removes unused volumes: anonymous ones only unless `all`. Returns the names removed.
Result<std::vector<std::string>> prune_volumes(Engine& engine, bool all, int64_t* reclaimed = nullptr);

Result<void> validate_volume_name(std::string_view name);

}  // namespace berth::engine
