// engine/images.h — the image index (berth.db's images and tags over the content store): what
// `images`, `tag`, `rmi`, `image prune` and `system df` show and change, how a name typed by a
// user finds an image, and the unpacked layers containers stack.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"
#include "image/digest.h"
#include "oci/image_spec.h"

namespace berth::engine {

struct ImageRecord {
  std::string id;             // manifest digest
  std::string config_digest;  // what `images` shows as IMAGE ID
  std::string media_type;
  int64_t size = 0;           // config + layers as stored
  int64_t created = 0;        // ns
  int64_t added = 0;          // ns
  std::vector<std::string> tags;  // normalised references
  int64_t containers = 0;     // containers using it
};

// Stores `config` and a manifest of `layers`; the manifest is for register_image (berth build,
// berth commit).
struct WrittenImage {
  oci::Descriptor config, manifest;
};
Result<WrittenImage> write_image_manifest(Engine& engine, const oci::ImageConfig& config,
                                             const std::vector<oci::Descriptor>& layers);

// Adds the image whose manifest is in the store (its config and layers must be there too) and
// points each name at it; a name that pointed elsewhere moves (the old image may become
// dangling). Idempotent.
Result<ImageRecord> register_image(Engine& engine, const oci::Descriptor& manifest,
                                   const std::vector<std::string>& names);

// A name as a user types it: a reference ("busybox", "localhost/busybox:1"), "name@sha256:…",
// a full or short (≥ 4 hex) IMAGE ID, or a manifest digest. not_found says what to do next.
Result<ImageRecord> find_image(Engine& engine, std::string_view name);
Result<ImageRecord> get_image(Engine& engine, const std::string& id);
Result<std::vector<ImageRecord>> list_images(Engine& engine);

Result<void> tag_image(Engine& engine, std::string_view source, std::string_view target);

struct RemovedImages {
  std::vector<std::string> untagged;  // references
  std::vector<std::string> deleted;   // image ids (config digests, as Docker prints)
  int64_t reclaimed = 0;              // bytes of blobs and layers freed by the GC that followed
};

// `rmi NAME`: untags the name; the image goes when no name and no container is left. An image
// used by a container is refused unless `force` (then only the names go). Removing by id with
// several names needs `force`.
Result<RemovedImages> remove_image(Engine& engine, std::string_view name, bool force);
// Dangling images (no name) not used by any container; with `all`, every unused image.
Result<RemovedImages> prune_images(Engine& engine, bool all);

// Deletes blobs and unpacked layers no image refers to, and leftovers of interrupted unpacks
// and ingests. Returns the bytes freed.
Result<int64_t> collect_garbage(Engine& engine);

struct ImageContent {
  oci::Manifest manifest;
  oci::ImageConfig config;
  std::vector<image::Digest> chain_ids;  // bottom first
};
Result<ImageContent> read_image(Engine& engine, const ImageRecord& image);
// Docker's `image inspect` document (JSON) for an image.
Result<std::string> image_inspect_json(Engine& engine, const ImageRecord& image);

// Unpacks every layer not yet unpacked (once per chain id, shared by all images) and returns
// the layer directories in overlayfs lowerdir order (top first).
Result<std::vector<std::string>> ensure_layers(Engine& engine, const ImageContent& content);

// Writes the blob of every layer that exists only as its directory (berth build keeps its
// uncompressed layers so, as buildah does): packed again and checked against the manifest's
// digest. Callers that read layer blobs (push, save) call it first.
Result<void> materialize_layers(Engine& engine, const ImageContent& content);

// Bytes used under a directory (files' allocated sizes, hard links counted once).
int64_t disk_usage(const std::string& dir);
// Bytes of the files under a directory (their sizes, directories not counted, hard links once):
// docker's measure of a container's writable layer (SizeRw).
int64_t file_bytes(const std::string& dir);

}  // namespace berth::engine
