// build/cache.h — the build cache in berth.db (table build_cache): a step's key is the hash of
// everything its result depends on (its parent's key, the instruction after substitution, the
// build args and environment it sees, the content of every file it copies); the value is the
// layer it produced, or that it produced none. Rows are written only after their layer blob and
// layer directory are complete, so a build killed half-way leaves no row pointing at nothing.
#pragma once

#include <optional>
#include <string>

#include "base/error.h"
#include "build/detail/snapshot.h"
#include "engine/engine.h"

namespace berth::build {

// A hex sha256 over the parts, each length-prefixed (so no two part lists collide).
class CacheKey {
 public:
  explicit CacheKey(std::string_view parent) { add(parent); }
  CacheKey& add(std::string_view part);
  std::string finish() const;

 private:
  std::string text_;
};

// The cached result of `key`, when its layer is still complete on disk; refreshes last_used.
Result<std::optional<detail::CommittedLayer>> cache_lookup(engine::Engine& engine, const std::string& key);
Result<void> cache_store(engine::Engine& engine, const std::string& key, const detail::CommittedLayer& layer,
                         const std::string& description);

}  // namespace berth::build
