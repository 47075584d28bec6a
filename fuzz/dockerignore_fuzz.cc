// dockerignore: .dockerignore files and Go path.Match globs (build/context_filter.h). The input
// is the file; its lines are also matched against each other as paths.
#include "build/context_filter.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  std::string_view text = fuzz::as_text(data, size);
  auto lines = fuzz::pieces(text, '\n', 16);
  if (auto rules = build::IgnoreRules::parse(text, ".dockerignore")) {
    for (auto line : lines) {
      (void)rules->excluded(line);
      (void)rules->may_reinclude_below(line);
    }
  }
  for (size_t i = 0; i + 1 < lines.size(); i += 2) {
    (void)build::match_path(lines[i], lines[i + 1]);
    (void)build::has_glob(lines[i]);
  }
  return 0;
}
