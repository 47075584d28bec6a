#include "registry/manifest.h"

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "oci/image_spec.h"

namespace berth::registry {
namespace {

using nlohmann::json;

bool known_manifest_type(std::string_view t) {
  return t == oci::media_type::kImageManifest || t == oci::media_type::kDockerManifest;
}
bool known_index_type(std::string_view t) {
  return t == oci::media_type::kImageIndex || t == oci::media_type::kDockerManifestList;
}

Result<image::Digest> descriptor_digest(const json& d, const std::string& where) {
  if (!d.is_object())
    return Error::make(ErrorKind::invalid_argument,
                       "manifest field '{}' must be a descriptor object", where);
  auto it = d.find("digest");
  if (it == d.end() || !it->is_string())
    return Error::make(ErrorKind::invalid_argument, "manifest field '{}.digest' is missing", where);
  auto digest = image::Digest::parse(it->get<std::string>());
  if (!digest)
    return std::move(digest).error().context(fmt::format("manifest field '{}.digest'", where));
  auto size = d.find("size");
  if (size == d.end() || !size->is_number_integer() || size->get<int64_t>() < 0)
    return Error::make(ErrorKind::invalid_argument,
                       "manifest field '{}.size' must be a non-negative integer", where);
  return *digest;
}

// A layer that clients fetch from its `urls` (image-spec's non-distributable layers, Docker's
// foreign ones): a registry need not hold it, and distribution does not ask for it.
bool is_foreign_layer(const json& d) {
  auto type = d.find("mediaType");
  auto urls = d.find("urls");
  if (type == d.end() || !type->is_string() || urls == d.end() || !urls->is_array() ||
      urls->empty())
    return false;
  return oci::media_type::is_non_distributable(type->get_ref<const std::string&>());
}

}  // namespace

Result<ManifestFacts> inspect_manifest(std::string_view body, std::string_view content_type) {
  json j = parse_json(body, false);
  if (j.is_discarded()) return Error(ErrorKind::invalid_argument, "manifest is not valid JSON");
  if (!j.is_object()) return Error(ErrorKind::invalid_argument, "manifest is not a JSON object");
  ManifestFacts f;
  std::string declared = j.contains("mediaType") && j["mediaType"].is_string()
                             ? j["mediaType"].get<std::string>()
                             : "";
  // Content-Type may carry parameters ("; charset=utf-8").
  std::string given(content_type.substr(0, content_type.find(';')));
  while (!given.empty() && given.back() == ' ') given.pop_back();
  if (!declared.empty() && !given.empty() && declared != given)
    return Error::make(ErrorKind::invalid_argument,
                       "manifest mediaType '{}' differs from Content-Type '{}'", declared, given);
  f.media_type = !declared.empty() ? declared : given;
  if (f.media_type.empty()) {
    // An OCI manifest may omit mediaType; tell manifests and indexes apart by their fields.
    f.media_type = j.contains("manifests") ? std::string(oci::media_type::kImageIndex)
                                           : std::string(oci::media_type::kImageManifest);
  }
  // Compared as JSON (not value<int>(), which throws on a string): "2" is not 2.
  const json version = j.contains("schemaVersion") ? j["schemaVersion"] : json();
  if (version != 2) {
    if (version == 1)
      return Error(ErrorKind::invalid_argument,
                   "Docker schema 1 manifests are not supported: push schema 2 or OCI");
    return Error(ErrorKind::invalid_argument, "manifest field 'schemaVersion' must be 2");
  }
  if (known_index_type(f.media_type)) {
    f.is_index = true;
    if (!j.contains("manifests") || !j["manifests"].is_array())
      return Error(ErrorKind::invalid_argument, "index field 'manifests' must be an array");
    for (size_t i = 0; i < j["manifests"].size(); ++i) {
      BERTH_TRY(auto d, descriptor_digest(j["manifests"][i], fmt::format("manifests[{}]", i)));
      f.manifests.push_back(std::move(d));
    }
  } else if (known_manifest_type(f.media_type)) {
    if (!j.contains("config"))
      return Error(ErrorKind::invalid_argument, "manifest field 'config' is missing");
    BERTH_TRY(auto config, descriptor_digest(j["config"], "config"));
    f.blobs.push_back(std::move(config));
    if (!j.contains("layers") || !j["layers"].is_array())
      return Error(ErrorKind::invalid_argument, "manifest field 'layers' must be an array");
    for (size_t i = 0; i < j["layers"].size(); ++i) {
      BERTH_TRY(auto d, descriptor_digest(j["layers"][i], fmt::format("layers[{}]", i)));
      (is_foreign_layer(j["layers"][i]) ? f.foreign_layers : f.blobs).push_back(std::move(d));
    }
    if (j["config"].contains("mediaType") && j["config"]["mediaType"].is_string())
      f.artifact_type = j["config"]["mediaType"].get<std::string>();
  } else {
    return Error::make(ErrorKind::invalid_argument,
                       "manifest media type '{}' is not supported: use {}, {}, {} or {}",
                       f.media_type, oci::media_type::kImageManifest, oci::media_type::kImageIndex,
                       oci::media_type::kDockerManifest, oci::media_type::kDockerManifestList);
  }
  if (j.contains("subject")) {
    BERTH_TRY(auto s, descriptor_digest(j["subject"], "subject"));
    f.subject = std::move(s);
  }
  if (j.contains("artifactType") && j["artifactType"].is_string())
    f.artifact_type = j["artifactType"].get<std::string>();
  f.annotations_json =
      j.contains("annotations") && j["annotations"].is_object() ? j["annotations"].dump() : "{}";
  return f;
}

}  // namespace berth::registry
