// engine/image_inspect.cc — Docker's `image inspect` document, shared by `berth image inspect`
// and the Docker Engine API (api/).
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "engine/detail/docker_shape.h"
#include "engine/images.h"

namespace berth::engine {

Result<std::string> image_inspect_json(Engine& engine, const ImageRecord& image) {
  BERTH_TRY(auto content, read_image(engine, image));
  BERTH_TRY(auto config_digest, image::Digest::parse(image.config_digest));
  BERTH_TRY(auto config_json, engine.store.read(config_digest));
  auto config = nlohmann::json::parse(config_json, nullptr, false);
  if (!config.is_object()) config = nlohmann::json::object();
  nlohmann::json repo_digests = nlohmann::json::array();
  for (const auto& tag : image.tags) {
    // The repository is the reference without its tag (a colon after the last slash).
    auto colon = tag.rfind(':');
    bool tagged = colon != std::string::npos && tag.find('/', colon) == std::string::npos;
    repo_digests.push_back((tagged ? tag.substr(0, colon) : tag) + "@" + image.id);
  }
  nlohmann::json doc = {{"Id", image.config_digest},
                        {"RepoTags", image.tags},
                        {"RepoDigests", repo_digests},
                        {"Created", clock::rfc3339(image.created)},
                        {"Size", image.size},
                        {"Architecture", content.config.architecture},
                        {"Os", content.config.os},
                        {"Author", content.config.author},
                        // docker commit -m: the newest history entry's comment.
                        {"Comment", content.config.history.empty() ? "" : content.config.history.back().comment},
                        {"Config", config.value("config", nlohmann::json::object())},
                        {"RootFS", {{"Type", "layers"}, {"Layers", content.config.diff_ids}}},
                        {"Manifest", {{"Digest", image.id}, {"MediaType", image.media_type}}}};
  // What docker's own images carry (docker_version, container, container_config), as it shows it.
  doc["DockerVersion"] = config.value("docker_version", "");
  doc["Container"] = config.value("container", "");
  if (auto cc = config.find("container_config"); cc != config.end() && cc->is_object()) doc["ContainerConfig"] = *cc;
  if (!content.config.variant.empty()) doc["Variant"] = content.config.variant;
  doc["VirtualSize"] = image.size;
  std::string lower;
  for (auto it = content.chain_ids.rbegin(); it != content.chain_ids.rend(); ++it) {
    std::string dir = engine.layout.layer(std::string(it->encoded()));
    if (it == content.chain_ids.rbegin())
      doc["GraphDriver"] = {{"Name", "overlay2"}, {"Data", {{"UpperDir", dir}}}};
    else
      lower += (lower.empty() ? "" : ":") + dir;
  }
  if (!lower.empty()) doc["GraphDriver"]["Data"]["LowerDir"] = lower;
  detail::add_missing(doc, detail::image_inspect_defaults());
  return doc.dump();
}

}  // namespace berth::engine
