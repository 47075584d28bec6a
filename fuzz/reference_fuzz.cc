// reference: image references ("host:5000/a/b:tag@sha256:…", image/reference.h). A parsed
// reference is normalised: printing and parsing it again gives the same reference.
#include "fuzz_util.h"
#include "image/archive.h"
#include "image/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  std::string_view text = fuzz::as_text(data, size);
  if (auto ref = image::Reference::parse(text)) {
    std::string printed = ref->to_string();
    auto again = image::Reference::parse(printed);
    if (!again) fuzz::violated("to_string of a parsed reference does not parse", printed);
    if (!(*again == *ref)) fuzz::violated("parse(to_string(r)) != r", printed);
    (void)ref->with_tag("latest").to_string();
  }
  (void)image::parse_archive_format(text);
  (void)image::Digest::parse(text);
  return 0;
}
