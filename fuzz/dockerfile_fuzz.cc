// dockerfile: a whole Dockerfile (build/dockerfile.h): directives, continuations, heredocs,
// JSON forms, flags, ONBUILD/HEALTHCHECK nesting; and HEALTHCHECK's Go durations.
#include "build/dockerfile.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  std::string_view text = fuzz::as_text(data, size);
  if (auto parsed = build::parse_dockerfile(text, "Dockerfile")) {
    for (const auto& stage : parsed->stages)
      for (const auto& instruction : stage.instructions) (void)build::to_string(instruction.where);
  }
  if (size < 64) (void)build::parse_go_duration(text);
  return 0;
}
