// registry/manifest.h — what the server must know of a pushed manifest: its media type, the
// blobs and manifests it refers to, and its subject (referrers API). Accepts OCI image manifests
// and indexes and Docker schema 2 manifests and manifest lists.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "image/digest.h"

namespace berth::registry {

inline constexpr size_t kMaxManifestSize = 4 << 20;

struct ManifestFacts {
  std::string media_type;
  bool is_index = false;
  std::vector<image::Digest> blobs;           // config and layers the registry must hold
  std::vector<image::Digest> foreign_layers;  // non-distributable layers with urls: need not
  std::vector<image::Digest> manifests;       // an index's children
  std::optional<image::Digest> subject;
  std::string artifact_type;     // artifactType, else the config's media type (for referrers)
  std::string annotations_json;  // "{}" when none
};

// Parses `body` sent with `content_type` (may be empty: the body's mediaType decides).
// invalid_argument (→ MANIFEST_INVALID) names what is wrong: not JSON, an unknown or
// contradicting media type, a missing or malformed field.
Result<ManifestFacts> inspect_manifest(std::string_view body, std::string_view content_type);

}  // namespace berth::registry
