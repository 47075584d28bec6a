// oci/image_spec.h — the OCI image spec's JSON documents (descriptor, manifest, index, image
// config) as plain C++ types, parsers whose errors name the field path ("layers[2].digest"), and
// canonical serialisers (compact JSON, keys sorted, empty optional fields left out).
//
// A document's digest is the digest of the bytes it was stored with: keep the original bytes of
// anything read from a store or registry; re-serialising a parsed document need not reproduce them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::oci {

namespace media_type {
inline constexpr std::string_view kImageManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kImageIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kImageConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kEmptyJson = "application/vnd.oci.empty.v1+json";
// Docker's schema 2 equivalents, which registries and `docker save` still produce.
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerImageConfig =
    "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";

bool is_manifest(std::string_view media_type);
bool is_index(std::string_view media_type);
bool is_layer(std::string_view media_type);
// image-spec's non-distributable layers and Docker's foreign ones: fetched from their `urls`,
// and not pushed by docker (nor by berth).
bool is_non_distributable(std::string_view media_type);
}  // namespace media_type

// The annotation that names an image inside an OCI layout's index.json.
inline constexpr std::string_view kAnnotationRefName = "org.opencontainers.image.ref.name";
inline constexpr std::string_view kImageLayoutVersion = "1.0.0";

// Checks the descriptor.md digest grammar (`algorithm ":" encoded`), and for the registered
// algorithms sha256 and sha512 the exact lower-case hex length. The error says what is wrong.
Result<void> validate_digest(std::string_view digest);

struct Platform {
  std::string architecture;
  std::string os;
  std::string os_version;
  std::vector<std::string> os_features;
  std::string variant;
};

struct Descriptor {
  std::string media_type;
  std::string digest;  // validated by validate_digest
  int64_t size = 0;
  std::vector<std::string> urls;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
  std::string artifact_type;
};

struct Manifest {
  int schema_version = 2;
  std::string media_type;  // may be empty in the OCI spec; set by to_json only if given
  std::string artifact_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;
};

struct Index {
  int schema_version = 2;
  std::string media_type;
  std::string artifact_type;
  std::vector<Descriptor> manifests;
  std::optional<Descriptor> subject;
  std::map<std::string, std::string> annotations;
};

// Docker's HEALTHCHECK as image configs carry it (durations in nanoseconds).
struct HealthConfig {
  std::vector<std::string> test;  // {"NONE"}, {"CMD", args...}, {"CMD-SHELL", command}
  int64_t interval = 0, timeout = 0, start_period = 0;
  int retries = 0;
};

// The "config" object of an image config: execution defaults for a container.
struct ContainerConfig {
  std::string user;
  std::set<std::string> exposed_ports;  // "80/tcp"
  std::vector<std::string> env;         // NAME=value
  // Absent and empty differ: an absent Cmd inherits, an empty one clears.
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::set<std::string> volumes;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::string stop_signal;
  std::optional<HealthConfig> healthcheck;
  std::vector<std::string> on_build;  // ONBUILD triggers, as written after the keyword
  std::vector<std::string> shell;     // SHELL, as docker records it (Docker's config only)
};

struct History {
  std::string created;  // RFC 3339
  std::string created_by;
  std::string author;
  std::string comment;
  bool empty_layer = false;
};

struct ImageConfig {
  std::string created;  // RFC 3339, may be empty
  std::string author;
  std::string architecture;
  std::string os;
  std::string os_version;
  std::vector<std::string> os_features;
  std::string variant;
  ContainerConfig config;
  std::string rootfs_type = "layers";
  std::vector<std::string> diff_ids;  // rootfs.diff_ids, one per layer, bottom first
  std::vector<History> history;
};

// Parsers: `source` names the document in error messages ("manifest sha256:ab…").
Result<Descriptor> parse_descriptor(std::string_view json, std::string_view source);
Result<Manifest> parse_manifest(std::string_view json, std::string_view source);
Result<Index> parse_index(std::string_view json, std::string_view source);
Result<ImageConfig> parse_image_config(std::string_view json, std::string_view source);

// Canonical serialisers: the same value always gives the same bytes.
std::string to_json(const Descriptor& descriptor);
std::string to_json(const Manifest& manifest);
std::string to_json(const Index& index);
std::string to_json(const ImageConfig& config);

// The content of an OCI layout's `oci-layout` file.
std::string image_layout_json();

}  // namespace berth::oci
