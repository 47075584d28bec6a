// build/context_filter.h — `.dockerignore` patterns and COPY/ADD source globs, with the
// semantics of docker's patternmatcher: Go's filepath.Match per path element (`*`, `?`,
// `[a-z]`, `[^a-z]`, `\` escapes), `**` for any number of elements, `!` exceptions where the
// last matching line wins, patterns cleaned (leading `/` and `./` removed, `..` resolved).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::build {

class IgnoreRules {
 public:
  // Parses a .dockerignore: one pattern per line, `#` comments, blank lines, surrounding spaces
  // trimmed. A malformed pattern (e.g. an unterminated `[`) is invalid_argument naming the file,
  // line and pattern.
  static Result<IgnoreRules> parse(std::string_view text, std::string_view file_name);

  // Is `path` (relative to the context, '/'-separated, no leading "./") excluded? A path is
  // excluded when the last pattern that matches it, or one of its parent directories, is not
  // an exception.
  bool excluded(std::string_view path) const;
  // Whether a directory that is excluded may still hold a path that an exception re-includes
  // (so the walk must enter it).
  bool may_reinclude_below(std::string_view dir) const;

  bool empty() const { return patterns_.empty(); }

  struct Pattern {
    std::string text;  // cleaned, without the '!'
    bool exception = false;
  };
  const std::vector<Pattern>& patterns() const { return patterns_; }

 private:
  struct Compiled;  // a pattern's matcher, built once by parse()
  std::vector<Pattern> patterns_;
  std::vector<std::shared_ptr<const Compiled>> compiled_;  // one per pattern, shared by copies
};

// Go's path.Match for one pattern against a whole '/'-separated path, `*` not crossing '/'; with
// `**` elements matching any number of them. A malformed pattern is invalid_argument.
Result<bool> match_path(std::string_view pattern, std::string_view path);

// Whether a COPY/ADD source has glob characters (`*`, `?`, `[`).
bool has_glob(std::string_view source);

}  // namespace berth::build
