// engine/image_write.cc — an image config and its manifest into the content store.
#include "engine/images.h"
#include "oci/image_spec.h"

namespace berth::engine {

Result<WrittenImage> write_image_manifest(Engine& engine, const oci::ImageConfig& config,
                                             const std::vector<oci::Descriptor>& layers) {
  image::IngestOptions config_opts;
  config_opts.media_type = std::string(oci::media_type::kImageConfig);
  BERTH_TRY(auto config_desc, engine.store.ingest(oci::to_json(config), config_opts));
  oci::Manifest manifest;
  manifest.media_type = std::string(oci::media_type::kImageManifest);
  manifest.config = config_desc;
  manifest.layers = layers;
  image::IngestOptions manifest_opts;
  manifest_opts.media_type = manifest.media_type;
  BERTH_TRY(auto manifest_desc, engine.store.ingest(oci::to_json(manifest), manifest_opts));
  return WrittenImage{config_desc, manifest_desc};
}

}  // namespace berth::engine
