// image_spec: OCI/Docker image manifests, indexes, configs and descriptors (oci/image_spec.h).
// Each parser sees every input; what parses must serialise and parse again.
#include "fuzz_util.h"
#include "oci/image_spec.h"

namespace {

template <typename Parse>
void round_trip(std::string_view text, Parse parse, const char* what) {
  auto value = parse(text, "fuzz");
  if (!value) return;
  std::string json = berth::oci::to_json(*value);
  auto again = parse(json, "to_json");
  if (!again) berth::fuzz::violated(what, again.error().message());
  if (berth::oci::to_json(*again) != json) berth::fuzz::violated(what, json);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  std::string_view text = fuzz::as_text(data, size);
  round_trip(text, oci::parse_descriptor, "descriptor round trip");
  round_trip(text, oci::parse_manifest, "manifest round trip");
  round_trip(text, oci::parse_index, "index round trip");
  round_trip(text, oci::parse_image_config, "image config round trip");
  (void)oci::validate_digest(text);
  return 0;
}
