// archive_load: `berth load` of a docker-archive or OCI archive (image/archive.h), from a file,
// into a fresh content store inside a Jail: members, manifests, configs and layers are all
// hostile. Nothing may be written outside the store, and every image it reports must be there.
#include <algorithm>
#include <memory>

#include "base/sys.h"
#include "fuzz_util.h"
#include "image/archive.h"
#include "image/content_store.h"
#include "oci/image_spec.h"

namespace {
std::unique_ptr<berth::fuzz::Jail> jail;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  jail = std::make_unique<berth::fuzz::Jail>("archive_load");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  jail->enter();
  const std::string& scratch = jail->dir();
  const std::string archive = scratch + "/image.tar";
  const std::string root = scratch + "/store";
  fuzz::put_file(archive, fuzz::as_text(data, size));
  auto store = image::ContentStore::open(root);
  if (!store) fuzz::violated("open the store", store.error().message());

  auto loaded = image::load_archive(*store, archive);
  if (loaded) {
    for (const auto& image : loaded->images) {
      auto digest = image::Digest::parse(image.manifest.digest);
      if (!digest) fuzz::violated("a loaded manifest has a bad digest", image.manifest.digest);
      auto manifest = store->read(*digest);
      if (!manifest) fuzz::violated("a loaded manifest is not in the store", image.manifest.digest);
      auto parsed = oci::parse_manifest(*manifest, "stored manifest");
      if (!parsed) fuzz::violated("a loaded manifest does not parse", parsed.error().message());
      for (const auto& layer : parsed->layers) {
        // Foreign (non-distributable) layers are skipped by design.
        if (layer.media_type.find("foreign") != std::string::npos ||
            layer.media_type.find("nondistributable") != std::string::npos)
          continue;
        auto layer_digest = image::Digest::parse(layer.digest);
        if (!layer_digest || !store->exists(*layer_digest))
          fuzz::violated("a layer of a loaded image is missing", layer.digest);
      }
    }
  }
  std::vector<std::string> names = sys::list_dir(scratch);
  std::sort(names.begin(), names.end());
  if (names != std::vector<std::string>{"image.tar", "store"})
    fuzz::violated("load wrote beside the store");
  if (!sys::remove_all(root) || !sys::remove_all(archive)) fuzz::violated("clean up");
  jail->leave();
  return 0;
}
