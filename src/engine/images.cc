#include "engine/images.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <unordered_set>

#include <fmt/ranges.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/sys.h"
#include "engine/detail/crash_point.h"
#include "engine/events.h"
#include "image/import.h"
#include "image/layers.h"
#include "image/reference.h"
#include "state/lock.h"
#include "state/transaction.h"

namespace berth::engine {
namespace {

constexpr const char* kImageColumns =
    "SELECT i.id, i.config_digest, i.media_type, i.size, i.created, i.added, "
    "(SELECT group_concat(reference, char(10)) FROM (SELECT reference FROM tags t WHERE t.image_id = i.id "
    "ORDER BY reference)), "
    "(SELECT count(*) FROM containers c WHERE c.image_id = i.id) FROM images i ";

ImageRecord image_from_row(const state::Statement& row) {
  ImageRecord r;
  r.id = row.column_text(0);
  r.config_digest = row.column_text(1);
  r.media_type = row.column_text(2);
  r.size = row.column_int64(3);
  r.created = row.column_int64(4);
  r.added = row.column_int64(5);
  if (auto tags = row.column_optional_text(6); tags && !tags->empty()) r.tags = sys::split(*tags, '\n');
  r.containers = row.column_int64(7);
  return r;
}

Result<std::vector<ImageRecord>> query_images(Engine& engine, std::string_view where, const std::string& arg) {
  BERTH_TRY(auto query, engine.db.prepare(std::string(kImageColumns) + std::string(where)));
  if (!arg.empty()) query.bind(1, arg);
  std::vector<ImageRecord> images;
  for (;;) {
    BERTH_TRY(bool row, query.step());
    if (!row) break;
    images.push_back(image_from_row(query));
  }
  return images;
}

Error image_not_found(std::string_view name) {
  return Error::make(ErrorKind::not_found, "image '{}' not found", name)
      .with_hint("see `berth images`; load one with `berth load -i FILE`, import a root file system with "
                 "`berth image import FILE NAME`, or `berth pull` it");
}

bool is_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Image ids by config-digest or manifest-digest prefix: "3f57d9401f8d", "sha256:3f57…".
Result<std::vector<ImageRecord>> images_by_id_prefix(Engine& engine, std::string_view text) {
  std::string_view hex = text.starts_with("sha256:") ? text.substr(7) : text;
  if (hex.size() < 4 || hex.size() > 64 || !is_hex(hex)) return std::vector<ImageRecord>{};
  std::string pattern = "sha256:" + std::string(hex) + "%";
  return query_images(engine, "WHERE i.config_digest LIKE ?1 OR i.id LIKE ?1 ORDER BY i.added", pattern);
}

std::string short_id(const std::string& digest) { return digest.substr(7, 12); }

// The tags a name can mean, in order: its own reference, then for a short name the image Docker
// would mean (busybox → docker.io/library/busybox:latest, crash/x:1 → docker.io/crash/x:1).
std::vector<std::string> tags_meant_by(const image::Reference& ref, std::string_view name) {
  std::vector<std::string> tags = {ref.to_string()};
  if (ref.domain() == "localhost" && !name.starts_with("localhost/")) {
    std::string path = ref.path().find('/') == std::string::npos ? "library/" + ref.path() : ref.path();
    tags.push_back("docker.io/" + path + ":" + ref.tag());
  }
  return tags;
}

// The lock that keeps GC from deleting what a concurrent load, import or run is about to use.
Result<state::ObjectLock> gc_lock(Engine& engine, state::ObjectLock::Mode mode) {
  return state::ObjectLock::acquire(engine.layout.locks(), "gc", "images", mode);
}

}  // namespace

Result<ImageRecord> register_image(Engine& engine, const oci::Descriptor& descriptor,
                                   const std::vector<std::string>& names) {
  BERTH_TRY(auto digest, image::Digest::parse(descriptor.digest));
  BERTH_TRY(auto manifest_json, engine.store.read(digest));
  BERTH_TRY(auto manifest, oci::parse_manifest(manifest_json, "manifest " + digest.str()));
  BERTH_TRY(auto config_digest, image::Digest::parse(manifest.config.digest));
  BERTH_TRY(auto config_json, engine.store.read(config_digest));
  BERTH_TRY(auto config, oci::parse_image_config(config_json, "image config " + config_digest.str()));
  if (config.diff_ids.size() != manifest.layers.size())
    return Error::make(ErrorKind::corrupt, "image {}: the manifest has {} layers but the config {} diff ids",
                       digest.str(), manifest.layers.size(), config.diff_ids.size());
  int64_t size = manifest.config.size;
  std::vector<image::Digest> diff_ids;
  for (const auto& id : config.diff_ids) {
    BERTH_TRY(auto d, image::Digest::parse(id));
    diff_ids.push_back(d);
  }
  auto chains = image::chain_ids(diff_ids);
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    const auto& layer = manifest.layers[i];
    BERTH_TRY(auto layer_digest, image::Digest::parse(layer.digest));
    // A built layer may exist only as its directory until it is pushed or saved
    // (materialize_layers writes its blob then).
    if (!engine.store.exists(layer_digest) && !sys::exists(engine.layout.layer(std::string(chains[i].encoded()))))
      return Error::make(ErrorKind::not_found, "image {}: layer {} is not in the store", digest.str(), layer.digest);
    size += layer.size;
  }
  std::vector<std::string> references;
  for (const auto& name : names) {
    BERTH_TRY(auto ref, image::Reference::parse(name));
    if (ref.tag().empty())
      return Error::make(ErrorKind::invalid_argument, "name '{}': a name for an image needs a tag, not a digest", name);
    references.push_back(ref.to_string());
  }
  int64_t created = clock::parse_rfc3339(config.created).value_or(clock::now_ns());
  detail::crash_point("register:after-blobs");

  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  BERTH_TRY(auto insert, engine.db.prepare("INSERT OR IGNORE INTO images(id, config_digest, media_type, size, "
                                           "created, added) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
  insert.bind_all(digest.str(), config_digest.str(),
                  manifest.media_type.empty() ? std::string(oci::media_type::kImageManifest) : manifest.media_type,
                  size, created, clock::now_ns());
  BERTH_TRY_VOID(insert.run());
  BERTH_TRY(auto tag, engine.db.prepare("INSERT OR REPLACE INTO tags(reference, image_id) VALUES (?1, ?2)"));
  for (const auto& ref : references) {
    tag.reset();
    tag.bind_all(ref, digest.str());
    BERTH_TRY_VOID(tag.run());
    BERTH_TRY_VOID(record_event(engine.db, "image", "tag", config_digest.str(), {{"name", ref}}));
  }
  BERTH_TRY_VOID(tx.commit());
  return get_image(engine, digest.str());
}

Result<ImageRecord> get_image(Engine& engine, const std::string& id) {
  BERTH_TRY(auto found, query_images(engine, "WHERE i.id = ?1", id));
  if (found.empty()) return image_not_found(id);
  return found.front();
}

Result<ImageRecord> find_image(Engine& engine, std::string_view name) {
  if (name.empty()) return Error(ErrorKind::invalid_argument, "an image name is empty");
  auto ref = image::Reference::parse(name);
  if (ref) {
    if (ref->digest()) {
      BERTH_TRY(auto found, query_images(engine, "WHERE i.id = ?1", ref->digest()->str()));
      if (!found.empty()) return found.front();
    } else {
      for (const auto& tag : tags_meant_by(*ref, name)) {
        BERTH_TRY(auto found,
                  query_images(engine, "WHERE i.id = (SELECT image_id FROM tags WHERE reference = ?1)", tag));
        if (!found.empty()) return found.front();
      }
    }
  }
  BERTH_TRY(auto by_id, images_by_id_prefix(engine, name));
  if (by_id.size() == 1) return by_id.front();
  if (by_id.size() > 1)
    return Error::make(ErrorKind::invalid_argument, "image id '{}' is ambiguous: {} images start with it", name,
                       by_id.size())
        .with_hint("give more digits of the id");
  if (!ref && !name.starts_with("sha256:") && !is_hex(name)) return std::move(ref).error();
  return image_not_found(name);
}

Result<std::vector<ImageRecord>> list_images(Engine& engine) {
  return query_images(engine, "ORDER BY i.added DESC", "");
}

Result<void> tag_image(Engine& engine, std::string_view source, std::string_view target) {
  BERTH_TRY(auto image, find_image(engine, source));
  BERTH_TRY(auto ref, image::Reference::parse(target));
  if (ref.tag().empty())
    return Error::make(ErrorKind::invalid_argument, "name '{}': a tag cannot be a digest", target);
  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  BERTH_TRY(auto tag, engine.db.prepare("INSERT OR REPLACE INTO tags(reference, image_id) VALUES (?1, ?2)"));
  tag.bind_all(ref.to_string(), image.id);
  BERTH_TRY_VOID(tag.run());
  BERTH_TRY_VOID(record_event(engine.db, "image", "tag", image.config_digest, {{"name", ref.to_string()}}));
  return tx.commit();
}

namespace {

// Untags `references` and deletes the images in `doomed` that have no container; one transaction.
Result<void> untag_and_delete(Engine& engine, const std::vector<std::string>& references,
                              const std::vector<ImageRecord>& doomed, RemovedImages& removed) {
  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  for (const auto& ref : references) {
    BERTH_TRY(auto untag, engine.db.prepare("DELETE FROM tags WHERE reference = ?1"));
    untag.bind(1, ref);
    BERTH_TRY_VOID(untag.run());
    BERTH_TRY_VOID(record_event(engine.db, "image", "untag", ref, {{"name", ref}}));
    removed.untagged.push_back(ref);
  }
  for (const auto& image : doomed) {
    BERTH_TRY(auto del, engine.db.prepare(
        "DELETE FROM images WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM containers WHERE image_id = ?1)"));
    del.bind(1, image.id);
    BERTH_TRY_VOID(del.run());
    if (engine.db.changes() == 0) continue;
    BERTH_TRY_VOID(record_event(engine.db, "image", "delete", image.config_digest, {}));
    removed.deleted.push_back(image.config_digest);
  }
  return tx.commit();
}

}  // namespace

Result<RemovedImages> remove_image(Engine& engine, std::string_view name, bool force) {
  BERTH_TRY(auto image, find_image(engine, name));
  RemovedImages removed;
  std::vector<std::string> untag;
  // By name (the tag find_image resolved it to) only that tag goes; by id, all of them.
  std::string named;
  if (auto ref = image::Reference::parse(name))
    for (const auto& tag : tags_meant_by(*ref, name))
      if (named.empty() && std::find(image.tags.begin(), image.tags.end(), tag) != image.tags.end()) named = tag;
  bool by_name = !named.empty();
  if (by_name) {
    untag.push_back(named);
  } else {
    if (image.tags.size() > 1 && !force)
      return Error::make(ErrorKind::failed_precondition, "image {} has {} names ({}): remove them by name, or use -f",
                         short_id(image.config_digest), image.tags.size(), fmt::format("{}", fmt::join(image.tags, ", ")));
    untag = image.tags;
  }
  bool last_name = untag.size() == image.tags.size();
  if (last_name && image.containers > 0 && !force)
    return Error::make(ErrorKind::failed_precondition,
                       "image '{}' ({}) is used by {} container(s): remove them first, or use -f to remove only its "
                       "name", name, short_id(image.config_digest), image.containers);
  std::vector<ImageRecord> doomed;
  if (last_name && image.containers == 0) doomed.push_back(image);
  BERTH_TRY(auto lock, gc_lock(engine, state::ObjectLock::Mode::exclusive));
  BERTH_TRY_VOID(untag_and_delete(engine, untag, doomed, removed));
  detail::crash_point("prune:after-rows");
  if (!removed.deleted.empty()) {
    BERTH_TRY(removed.reclaimed, collect_garbage(engine));
  }
  return removed;
}

Result<RemovedImages> prune_images(Engine& engine, bool all) {
  BERTH_TRY(auto lock, gc_lock(engine, state::ObjectLock::Mode::exclusive));
  BERTH_TRY(auto images, list_images(engine));
  RemovedImages removed;
  std::vector<std::string> untag;
  std::vector<ImageRecord> doomed;
  for (const auto& image : images) {
    if (image.containers > 0 || (!all && !image.tags.empty())) continue;
    untag.insert(untag.end(), image.tags.begin(), image.tags.end());
    doomed.push_back(image);
  }
  BERTH_TRY_VOID(untag_and_delete(engine, untag, doomed, removed));
  detail::crash_point("prune:after-rows");
  BERTH_TRY(removed.reclaimed, collect_garbage(engine));
  return removed;
}

namespace {

// Sums over a tree, hard links once: allocated blocks of everything, or the sizes of all but
// directories.
int64_t tree_bytes(const std::string& dir, bool file_sizes) {
  static thread_local std::set<std::pair<dev_t, ino_t>>* seen;
  static thread_local int64_t total;
  static thread_local bool sizes;
  std::set<std::pair<dev_t, ino_t>> inodes;
  seen = &inodes;
  total = 0;
  sizes = file_sizes;
  ::nftw(dir.c_str(), [](const char*, const struct stat* st, int type, struct FTW*) {
    if (sizes && type == FTW_D) return 0;
    if (st->st_nlink <= 1 || seen->insert({st->st_dev, st->st_ino}).second)
      total += sizes ? st->st_size : st->st_blocks * 512;
    return 0;
  }, 64, FTW_PHYS | FTW_MOUNT);
  return total;
}

}  // namespace

int64_t disk_usage(const std::string& dir) { return tree_bytes(dir, false); }

int64_t file_bytes(const std::string& dir) { return tree_bytes(dir, true); }

namespace {

bool pid_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }


}  // namespace

Result<int64_t> collect_garbage(Engine& engine) {
  // Callers hold the exclusive GC lock, so no load, import or unpack is in flight.
  std::unordered_set<std::string> blobs;
  std::unordered_set<std::string> layers;
  BERTH_TRY(auto images, list_images(engine));
  for (const auto& record : images) {
    blobs.insert(record.id);
    auto content = read_image(engine, record);
    if (!content) {
      log::warn(fmt::format("image {}: {}; its blobs are kept", record.id, content.error().message()));
      continue;
    }
    blobs.insert(content->manifest.config.digest);
    for (const auto& layer : content->manifest.layers) blobs.insert(layer.digest);
    for (const auto& chain : content->chain_ids) layers.insert(std::string(chain.encoded()));
  }
  // The builder's cache (build/cache.h) keeps its layers too.
  {
    BERTH_TRY(auto rows, engine.db.prepare("SELECT layer, chain_id FROM build_cache WHERE chain_id != ''"));
    for (;;) {
      BERTH_TRY(bool row, rows.step());
      if (!row) break;
      auto layer = oci::parse_descriptor(rows.column_text(0), "build cache layer");
      if (layer) blobs.insert(layer->digest);
      layers.insert(rows.column_text(1));
    }
  }
  int64_t freed = 0;
  BERTH_TRY(auto stored, engine.store.list());
  for (const auto& digest : stored) {
    if (blobs.count(digest.str())) continue;
    if (auto size = engine.store.size(digest)) freed += *size;
    BERTH_TRY_VOID(engine.store.remove(digest));
  }
  for (const auto& name : sys::list_dir(engine.layout.layers())) {
    std::string path = engine.layout.layer(name);
    auto tmp = name.find(".tmp-");
    if (tmp == std::string::npos ? layers.count(name) : pid_alive(std::atoi(name.c_str() + tmp + 5))) continue;
    freed += disk_usage(path);
    BERTH_TRY_VOID(sys::remove_all(path));
  }
  for (const auto& name : sys::list_dir(engine.layout.content() + "/ingest")) {
    std::string path = engine.layout.content() + "/ingest/" + name;
    freed += disk_usage(path);
    ::unlink(path.c_str());
  }
  return freed;
}

Result<ImageContent> read_image(Engine& engine, const ImageRecord& record) {
  BERTH_TRY(auto digest, image::Digest::parse(record.id));
  BERTH_TRY(auto manifest_json, engine.store.read(digest));
  BERTH_TRY(auto manifest, oci::parse_manifest(manifest_json, "manifest " + record.id));
  BERTH_TRY(auto config_digest, image::Digest::parse(manifest.config.digest));
  BERTH_TRY(auto config_json, engine.store.read(config_digest));
  BERTH_TRY(auto config, oci::parse_image_config(config_json, "image config " + config_digest.str()));
  std::vector<image::Digest> diff_ids;
  for (const auto& id : config.diff_ids) {
    BERTH_TRY(auto d, image::Digest::parse(id));
    diff_ids.push_back(d);
  }
  auto chains = image::chain_ids(diff_ids);
  return ImageContent{std::move(manifest), std::move(config), std::move(chains)};
}

Result<void> materialize_layers(Engine& engine, const ImageContent& content) {
  for (size_t i = 0; i < content.manifest.layers.size(); ++i) {
    const auto& layer = content.manifest.layers[i];
    BERTH_TRY(auto digest, image::Digest::parse(layer.digest));
    if (engine.store.exists(digest)) continue;
    std::string dir = engine.layout.layer(std::string(content.chain_ids[i].encoded()));
    if (layer.media_type != oci::media_type::kLayer || !sys::exists(dir))
      return Error::make(ErrorKind::not_found, "layer {} is not in the store", layer.digest);
    image::PackOptions pack;
    pack.compression = image::LayerCompression::none;
    pack.overlay_upper = true;
    BERTH_TRY(auto packed, image::pack_layer(engine.store, dir, pack));
    if (packed.layer.digest != layer.digest)
      return Error::make(ErrorKind::corrupt,
                         "layer {}: its directory '{}' packs to {}: it was changed since it was built", layer.digest,
                         dir, packed.layer.digest)
          .with_hint("rebuild the image (berth build --no-cache)");
  }
  return {};
}

Result<std::vector<std::string>> ensure_layers(Engine& engine, const ImageContent& content) {
  std::vector<std::string> dirs;
  BERTH_TRY_VOID(sys::mkdir_all(engine.layout.layers(), 0700));
  for (size_t i = 0; i < content.chain_ids.size(); ++i) {
    std::string dir = engine.layout.layer(std::string(content.chain_ids[i].encoded()));
    if (!sys::exists(dir)) {
      BERTH_TRY(auto blob, image::Digest::parse(content.manifest.layers[i].digest));
      BERTH_TRY(auto fd, engine.store.open_blob(blob));
      auto unpacked = image::unpack_layer(fd.get(), dir);
      if (!unpacked && unpacked.error().kind() != ErrorKind::already_exists)
        return std::move(unpacked).error().context(fmt::format("unpack layer {}", blob.str()));
      if (unpacked) {
        for (const auto& w : unpacked->warnings) log::warn(fmt::format("layer {}: {}", blob.short_id(), w));
        if (unpacked->diff_id.str() != content.config.diff_ids[i]) {
          (void)sys::remove_all(dir);
          return Error::make(ErrorKind::corrupt, "layer {} unpacks to diff id {}, but the image config says {}",
                             blob.str(), unpacked->diff_id.str(), content.config.diff_ids[i]);
        }
      }
    }
    dirs.insert(dirs.begin(), dir);
  }
  return dirs;
}

}  // namespace berth::engine
