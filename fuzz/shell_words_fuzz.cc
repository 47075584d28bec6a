// shell_words: the Dockerfile's variable substitution and word splitting (build/shell_words.h):
// ${VAR:-x}, ${VAR:?msg}, ${VAR#pat}, quotes, escapes (`\` or the `# escape=` backtick), heredoc
// bodies. The first byte picks the escape character; variables A, B and EMPTY are set.
#include <optional>

#include "build/shell_words.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  if (size == 0) return 0;
  std::string_view text = fuzz::as_text(data + 1, size - 1);
  std::vector<std::string> used;
  build::ExpandOptions options;
  options.escape = (data[0] & 1) ? '`' : '\\';
  options.used = &used;
  // Smaller bounds than a build's (1 MiB, 10^8 steps): the same checks, reached by inputs a
  // sixteenth as costly (inputs that grew to the 1 MiB bound made most of the run's time).
  options.bounds.max_bytes = 64 * 1024;
  options.bounds.max_match_steps = 1'000'000;
  build::VariableLookup lookup = [](std::string_view name) -> std::optional<std::string> {
    if (name == "A") return std::string("value with spaces");
    if (name == "B") return std::string("*.txt");
    if (name == "EMPTY") return std::string();
    return std::nullopt;
  };
  (void)build::expand_word(text, lookup, options);
  (void)build::expand_words(text, lookup, options);
  (void)build::expand_heredoc(text, lookup, options);
  return 0;
}
