// build/shell_words_lexer.h — the lexer behind shell_words.h, with the switches BuildKit's
// parser also uses (raw quotes and escapes, unset variables kept as written) to find heredoc
// markers. Internal to the front end: not part of its contract.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "build/shell_words.h"

namespace berth::build::detail {

struct LexOptions {
  char escape = '\\';
  bool raw_quotes = false;           // keep quote characters in the output
  bool raw_escapes = false;          // keep escape characters in the output
  bool skip_process_quotes = false;  // quotes are ordinary characters (heredoc bodies)
  bool skip_unset_env = false;       // an unset `$X` / `${X...}` stays as written
  ExpansionBounds bounds;
};

struct LexResult {
  std::string word;                // the whole text, substituted
  std::vector<std::string> words;  // split at unquoted whitespace
};

Result<LexResult> lex(std::string_view text, const VariableLookup& lookup,
                      const LexOptions& options, std::vector<std::string>* used);

// Whether `c` is whitespace as Go's unicode.IsSpace sees ASCII.
inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Go's strings.TrimSpace for ASCII.
inline std::string_view trim_space(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace berth::build::detail
