// build/shell_words.h — variable substitution in Dockerfile instructions, as BuildKit's shell
// lexer does it: $VAR, ${VAR}, ${VAR:-word}, ${VAR-word}, ${VAR:+word}, ${VAR+word},
// ${VAR:?msg}, ${VAR?msg}, and (BuildKit 1.5+) ${VAR#pat}, ${VAR##pat}, ${VAR%pat},
// ${VAR%%pat}, ${VAR/pat/repl}, ${VAR//pat/repl}; single quotes keep text literal, double quotes
// group words, the escape character (`\` or the `# escape=` one) escapes the next character.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::build {

// Looks a variable up: nullopt when unset (an empty string is set).
using VariableLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Bounds on one line's substitutions, which docker does not have: `${A///${A///x}}` inserts its
// replacement between every two characters, so each level multiplies the length (five levels of
// a 17-byte value: 30 MB), and a pattern is tried at every position of a value. Past either, the
// line is invalid_argument naming the bound.
struct ExpansionBounds {
  size_t max_bytes = 1 << 20;                 // bytes the substitutions of a line produce
  size_t max_match_steps = 100'000'000;       // pattern-matching steps of one substitution
};

struct ExpandOptions {
  char escape = '\\';
  // Names of variables that were used (looked up, set or not), for the build cache key.
  std::vector<std::string>* used = nullptr;
  ExpansionBounds bounds;
};

// One word: variables substituted, quotes and escapes removed ("a b" stays one word).
// `${VAR:?msg}` with VAR unset or empty is invalid_argument with msg; an unterminated quote or
// `${` is invalid_argument naming it.
Result<std::string> expand_word(std::string_view word, const VariableLookup& lookup,
                                const ExpandOptions& options = {});

// Words split at unquoted whitespace after substitution (BuildKit's ProcessWords). Docker uses
// it only for EXPOSE (`EXPOSE $PORTS` may give several ports); COPY/ADD sources, VOLUME and the
// other list instructions are split at parse time and each word then goes through expand_word,
// so a value with spaces stays one path there.
Result<std::vector<std::string>> expand_words(std::string_view text, const VariableLookup& lookup,
                                              const ExpandOptions& options = {});

// Substitutes variables in a heredoc body (`<<EOF`, not `<<"EOF"`), as BuildKit does for COPY
// and ADD: `$`-expansions, and `\` escapes the next character (always `\`, whatever the
// `# escape=` directive says; `\` before a newline removes only itself); quotes are kept.
Result<std::string> expand_heredoc(std::string_view body, const VariableLookup& lookup,
                                   const ExpandOptions& options = {});

}  // namespace berth::build
