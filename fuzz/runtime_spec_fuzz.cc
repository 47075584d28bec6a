// runtime_spec: an OCI runtime config.json and an exec process.json (oci/runtime_spec.h). A spec
// that parses must survive to_json → parse_spec unchanged, as the header promises.
#include "fuzz_util.h"
#include "oci/runtime_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  std::string_view text = fuzz::as_text(data, size);
  if (auto spec = oci::parse_spec(text, "config.json")) {
    std::string json = oci::to_json(*spec);
    auto again = oci::parse_spec(json, "to_json");
    if (!again) fuzz::violated("to_json of a parsed spec does not parse", again.error().message());
    // The one normalisation to_json documents: an empty ociVersion is written as the current one.
    if (spec->oci_version.empty()) spec->oci_version = oci::kRuntimeSpecVersion;
    if (!(*again == *spec)) fuzz::violated("parse_spec(to_json(s)) != s", json);
  }
  if (auto process = oci::parse_process(text, "process.json")) {
    auto again = oci::parse_process(oci::to_json(*process), "to_json");
    if (!again) fuzz::violated("to_json of a parsed process does not parse", again.error().message());
  }
  return 0;
}
