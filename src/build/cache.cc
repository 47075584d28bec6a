#include "build/cache.h"

#include "base/clock.h"
#include "base/sys.h"
#include "build/build.h"
#include "engine/images.h"
#include "image/digest.h"
#include "oci/image_spec.h"
#include "state/lock.h"

namespace berth::build {

CacheKey& CacheKey::add(std::string_view part) {
  text_ += std::to_string(part.size());
  text_ += ':';
  text_ += part;
  return *this;
}

std::string CacheKey::finish() const {
  image::Sha256 h;
  h.update(text_);
  return std::string(h.finish().encoded());
}

Result<std::optional<detail::CommittedLayer>> cache_lookup(engine::Engine& engine, const std::string& key) {
  BERTH_TRY(auto q, engine.db.prepare("SELECT diff_id, layer, chain_id, size, created FROM build_cache WHERE key = ?1"));
  q.bind(1, key);
  BERTH_TRY(bool row, q.step());
  if (!row) return std::optional<detail::CommittedLayer>{};
  detail::CommittedLayer layer;
  layer.diff_id = q.column_text(0);
  layer.chain_id = q.column_text(2);
  layer.size = q.column_int64(3);
  layer.created_ns = q.column_int64(4);
  layer.empty = layer.diff_id.empty();
  if (!layer.empty) {
    auto descriptor = oci::parse_descriptor(q.column_text(1), "build cache entry");
    if (!descriptor) return std::optional<detail::CommittedLayer>{};
    layer.descriptor = *descriptor;
    // A layer directory removed behind our back makes the entry a miss (the blob may never have
    // been written: engine::materialize_layers writes it when asked).
    if (!sys::exists(engine.layout.layer(layer.chain_id)))
      return std::optional<detail::CommittedLayer>{};
  }
  q.reset();
  BERTH_TRY(auto touch, engine.db.prepare("UPDATE build_cache SET last_used = ?2 WHERE key = ?1"));
  touch.bind(1, key).bind(2, clock::now_ns());
  BERTH_TRY_VOID(touch.run());
  return std::optional<detail::CommittedLayer>(layer);
}

Result<void> cache_store(engine::Engine& engine, const std::string& key, const detail::CommittedLayer& layer,
                         const std::string& description) {
  BERTH_TRY(auto q, engine.db.prepare(
                        "INSERT OR REPLACE INTO build_cache (key, diff_id, layer, chain_id, description, size, "
                        "created, last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  q.bind(1, key)
      .bind(2, layer.diff_id)
      .bind(3, layer.empty ? std::string() : oci::to_json(layer.descriptor))
      .bind(4, layer.chain_id)
      .bind(5, description)
      .bind(6, layer.size)
      .bind(7, layer.created_ns)
      .bind(8, clock::now_ns());
  return q.run();
}

Result<CacheUsage> cache_usage(engine::Engine& engine) {
  BERTH_TRY(auto q, engine.db.prepare("SELECT count(*), coalesce(sum(size), 0) FROM build_cache"));
  BERTH_TRY(bool row, q.step());
  CacheUsage u;
  if (row) {
    u.entries = q.column_int64(0);
    u.bytes = q.column_int64(1);
  }
  return u;
}

Result<CacheUsage> prune_cache(engine::Engine& engine, int64_t older_than_ns) {
  BERTH_TRY(auto stale, clean_stale_builds(engine));
  BERTH_TRY(auto gc, state::ObjectLock::acquire(engine.layout.locks(), "gc", "images", state::ObjectLock::Mode::exclusive));
  CacheUsage removed;
  int64_t cutoff = older_than_ns > 0 ? clock::now_ns() - older_than_ns : INT64_MAX;
  {
    BERTH_TRY(auto q, engine.db.prepare("SELECT count(*), coalesce(sum(size), 0) FROM build_cache WHERE last_used < ?1"));
    q.bind(1, cutoff);
    BERTH_TRY(bool row, q.step());
    if (row) removed.entries = q.column_int64(0);
  }
  BERTH_TRY(auto del, engine.db.prepare("DELETE FROM build_cache WHERE last_used < ?1"));
  del.bind(1, cutoff);
  BERTH_TRY_VOID(del.run());
  BERTH_TRY(removed.bytes, engine::collect_garbage(engine));
  return removed;
}

}  // namespace berth::build
