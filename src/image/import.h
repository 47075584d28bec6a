// image/import.h — one-layer images from a rootfs (tar stream or directory), as `docker import`
// makes them, and the index.json of an OCI image layout (the content store's root is one).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "image/content_store.h"
#include "image/digest.h"
#include "oci/image_spec.h"

namespace berth::image {

// `docker import --change` edits, already parsed. Unset fields keep their defaults.
struct ConfigChanges {
  std::optional<std::vector<std::string>> cmd;
  std::optional<std::vector<std::string>> entrypoint;
  std::vector<std::string> env;            // NAME=value; replaces an earlier NAME
  std::optional<std::string> working_dir;  // absolute
  std::optional<std::string> user;
  std::vector<std::string> exposed_ports;  // "80", "80/tcp", "53/udp"
  std::map<std::string, std::string> labels;
  std::optional<std::string> stop_signal;
};

enum class LayerCompression { none, gzip };

struct ImportOptions {
  ConfigChanges changes;
  LayerCompression compression = LayerCompression::gzip;
  std::string architecture;  // empty: the host's, in Go's names (amd64, arm64)
  std::string os = "linux";
  std::string created;  // RFC 3339; empty: now. Fix it for reproducible digests.
  std::string comment;  // history entry comment
};

struct ImportResult {
  oci::Descriptor manifest;
  oci::Descriptor config;
  oci::Descriptor layer;
  Digest diff_id;
  std::vector<std::string> warnings;
};

// Applies `changes` to a config; invalid_argument names the bad value (e.g. a relative WORKDIR).
Result<void> apply_changes(oci::ContainerConfig& config, const ConfigChanges& changes);

// The tar read from fd (uncompressed, gzip, zstd, …) becomes the layer as it is, after
// decompression (so the diff id is the sha256 of the tar given). Every entry path is checked
// first: a tar that names anything outside its root is refused and nothing is stored but what
// was already there.
Result<ImportResult> import_tar(ContentStore& store, int fd, const ImportOptions& options);
// Packs the directory (not following symlinks; entries sorted, numeric owners, xattrs, hard
// links) into the layer.
Result<ImportResult> import_directory(ContentStore& store, const std::string& dir,
                                      const ImportOptions& options);

// A directory packed as one layer blob (sorted, numeric owners, xattrs, hard links, no
// symlink followed), for builders. With `overlay_upper`, the directory is an overlayfs upper
// directory and becomes a diff in OCI form: whiteouts `.wh.NAME`, opaque markers
// `.wh..wh..opq`, and no trusted.overlay.* attributes.
struct PackOptions {
  LayerCompression compression = LayerCompression::gzip;
  bool overlay_upper = false;
};
struct PackedLayer {
  oci::Descriptor layer;
  Digest diff_id;
  std::vector<std::string> warnings;
};
Result<PackedLayer> pack_layer(ContentStore& store, const std::string& dir, const PackOptions& options);

// <layout>/index.json: read it (an empty index when missing), add or replace by
// org.opencontainers.image.ref.name (serialised by a lock file, written atomically), and find.
Result<oci::Index> read_layout_index(const std::string& layout_root);
Result<void> add_to_layout_index(const std::string& layout_root, oci::Descriptor manifest,
                                 std::string_view ref_name);
Result<oci::Descriptor> find_in_layout_index(const std::string& layout_root,
                                             std::string_view ref_name);

}  // namespace berth::image
