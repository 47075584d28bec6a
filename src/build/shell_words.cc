// build/shell_words.cc — a port of the behaviour of BuildKit's shell lexer
// (frontend/dockerfile/shell/lex.go): one pass over the text, `$` expansions, quotes and the
// escape character, and a words buffer that splits only at whitespace that was not quoted.
#include "build/shell_words.h"

#include <algorithm>
#include <cstddef>
#include <unordered_set>

#include "build/shell_words_lexer.h"

namespace berth::build {
namespace detail {
namespace {

constexpr int kEof = -1;

Error syntax_error(std::string message) {
  return Error(ErrorKind::invalid_argument, std::move(message));
}

Error expansion_too_large(const ExpansionBounds& bounds) {
  const size_t max = bounds.max_bytes;
  return Error(ErrorKind::invalid_argument,
               max % (1 << 20) == 0
                   ? fmt::format("variable substitutions make more than {} MiB of this line", max >> 20)
                   : fmt::format("variable substitutions make more than {} bytes of this line", max));
}

// The words buffer: characters from variables split words at whitespace, quoted and escaped
// characters never do.
class Words {
 public:
  void add_char(char c) {
    if (is_space(c)) {
      if (in_word_ && !buf_.empty()) {
        words_.push_back(std::move(buf_));
        buf_.clear();
        in_word_ = false;
      }
      return;
    }
    add_raw_char(c);
  }
  void add_raw_char(char c) {
    buf_ += c;
    in_word_ = true;
  }
  void add_string(std::string_view s) {
    for (char c : s) add_char(c);
  }
  void add_raw_string(std::string_view s) {
    buf_ += s;
    in_word_ = true;
  }
  std::vector<std::string> take() {
    if (!buf_.empty()) words_.push_back(std::move(buf_));
    buf_.clear();
    in_word_ = false;
    return std::move(words_);
  }

 private:
  std::string buf_;
  std::vector<std::string> words_;
  bool in_word_ = false;
};

// A shell pattern of `${VAR#pat}` and friends: `*` (any run), `?` (one character), the rest
// literal; `\` makes `*`, `?` and `\` literal and disappears before `}` and `/`.
struct PatternToken {
  enum Kind { kLiteral, kAny, kStar } kind;
  char c = 0;
};

Result<std::vector<PatternToken>> compile_shell_pattern(std::string_view pattern) {
  std::vector<PatternToken> tokens;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '*') {
      tokens.push_back({PatternToken::kStar});
    } else if (c == '?') {
      tokens.push_back({PatternToken::kAny});
    } else if (c == '\\') {
      if (i + 1 < pattern.size() && (pattern[i + 1] == '}' || pattern[i + 1] == '/')) continue;
      if (i + 1 >= pattern.size() ||
          (pattern[i + 1] != '*' && pattern[i + 1] != '?' && pattern[i + 1] != '\\')) {
        std::string next = i + 1 < pattern.size() ? std::string(1, pattern[i + 1]) : "";
        return syntax_error(fmt::format(
            "invalid pattern ({}) in substitution: invalid escape '\\{}'", pattern, next));
      }
      tokens.push_back({PatternToken::kLiteral, pattern[++i]});
    } else {
      tokens.push_back({PatternToken::kLiteral, c});
    }
  }
  return tokens;
}

// Length of the UTF-8 sequence starting at s[i] (1 for stray bytes).
size_t utf8_length(std::string_view s, size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 1;
  size_t end = std::min(s.size(), i + n);
  size_t len = 1;
  while (i + len < end && (static_cast<unsigned char>(s[i + len]) & 0xc0) == 0x80) ++len;
  return len;
}

// The ends j such that the pattern matches s[0, j) (dynamic programming over the tokens: no
// input makes it exponential).
std::vector<char> match_ends(const std::vector<PatternToken>& tokens, std::string_view s,
                             size_t* work = nullptr) {
  std::vector<char> reach(s.size() + 1, 0), next(s.size() + 1, 0);
  reach[0] = 1;
  for (const auto& token : tokens) {
    if (work) *work += s.size() + 1;
    std::fill(next.begin(), next.end(), 0);
    bool any = false;
    for (size_t j = 0; j <= s.size(); ++j) {
      if (!reach[j]) continue;
      any = true;
      if (token.kind == PatternToken::kStar) {
        std::fill(next.begin() + static_cast<std::ptrdiff_t>(j), next.end(), 1);
        break;
      }
      if (j == s.size()) continue;
      if (token.kind == PatternToken::kAny) {
        next[j + utf8_length(s, j)] = 1;
      } else if (s[j] == token.c) {
        next[j + 1] = 1;
      }
    }
    if (!any) break;  // nothing matched so far: the rest of a long pattern cannot
    std::swap(reach, next);
  }
  return reach;
}

// The starts i such that the pattern matches s[i, end): the same, from the end backwards.
std::vector<char> match_starts(const std::vector<PatternToken>& tokens, std::string_view s) {
  std::vector<char> reach(s.size() + 1, 0), next(s.size() + 1, 0);
  reach[s.size()] = 1;
  for (auto token = tokens.rbegin(); token != tokens.rend(); ++token) {
    std::fill(next.begin(), next.end(), 0);
    bool any = false;
    for (size_t j = s.size() + 1; j-- > 0;) {
      if (!reach[j]) continue;
      any = true;
      if (token->kind == PatternToken::kStar) {
        std::fill(next.begin(), next.begin() + static_cast<std::ptrdiff_t>(j) + 1, 1);
        break;
      }
      if (j == 0) continue;
      if (token->kind == PatternToken::kAny) {
        size_t i = j - 1;
        while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xc0) == 0x80) --i;
        next[i] = 1;
      } else if (s[j - 1] == token->c) {
        next[j - 1] = 1;
      }
    }
    if (!any) break;
    std::swap(reach, next);
  }
  return reach;
}

// Character boundaries of s, 0 and s.size() included.
std::vector<size_t> boundaries(std::string_view s) {
  std::vector<size_t> cuts{0};
  for (size_t i = 0; i < s.size(); i += utf8_length(s, i)) cuts.push_back(i + utf8_length(s, i));
  return cuts;
}

// ${VAR#pat} / ${VAR##pat}: removes the shortest / longest matching prefix.
Result<std::string> trim_prefix(std::string_view pattern, std::string_view value, bool longest) {
  BERTH_TRY(auto tokens, compile_shell_pattern(pattern));
  auto ends = match_ends(tokens, value);
  auto cuts = boundaries(value);
  if (longest) std::reverse(cuts.begin(), cuts.end());
  for (size_t cut : cuts) {
    if (ends[cut]) return std::string(value.substr(cut));
  }
  return std::string(value);
}

// ${VAR%pat} / ${VAR%%pat}: removes the shortest / longest matching suffix.
Result<std::string> trim_suffix(std::string_view pattern, std::string_view value, bool longest) {
  BERTH_TRY(auto tokens, compile_shell_pattern(pattern));
  auto starts = match_starts(tokens, value);
  auto cuts = boundaries(value);
  if (!longest) std::reverse(cuts.begin(), cuts.end());
  for (size_t cut : cuts) {
    if (starts[cut]) return std::string(value.substr(0, cut));
  }
  return std::string(value);
}

// ${VAR/pat/repl} / ${VAR//pat/repl}: the leftmost, longest match (as Go's greedy regexp), once
// or at every position; an empty match right after a match is skipped, as Go's ReplaceAll does.
// The replacement is inserted as written.
Result<std::string> replace_pattern(std::string_view pattern, std::string_view replacement,
                                    std::string_view value, bool all, const ExpansionBounds& bounds) {
  BERTH_TRY(auto tokens, compile_shell_pattern(pattern));
  auto cuts = boundaries(value);
  std::string out;
  size_t copied = 0, work = 0;
  size_t last_end = std::string_view::npos;
  for (size_t ci = 0; ci < cuts.size(); ++ci) {
    size_t start = cuts[ci];
    if (start < copied) continue;
    auto ends = match_ends(tokens, value.substr(start), &work);
    if (work > bounds.max_match_steps)
      return Error(ErrorKind::invalid_argument,
                   fmt::format("pattern substitution on a value of {} bytes takes too long",
                               value.size()));
    std::optional<size_t> end;
    for (size_t cj = cuts.size(); cj-- > ci;) {
      if (ends[cuts[cj] - start]) {
        end = cuts[cj];
        break;
      }
    }
    if (!end || (*end == start && start == last_end)) continue;
    out += value.substr(copied, start - copied);
    out += replacement;
    if (out.size() > bounds.max_bytes) return expansion_too_large(bounds);
    copied = *end;
    last_end = *end;
    if (!all) break;
  }
  out += value.substr(copied);
  return out;
}

class Lexer {
 public:
  Lexer(std::string_view text, const VariableLookup& lookup, const LexOptions& options,
        std::vector<std::string>* used)
      : text_(text),
        lookup_(lookup),
        options_(options),
        used_(used),
        raw_escapes_(options.raw_escapes) {}

  Result<LexResult> run() {
    auto result = process_until(kEof, options_.raw_escapes);
    if (!result)
      return std::move(result.error()).context(fmt::format("failed to process \"{}\"", text_));
    return result;
  }

 private:
  int peek() const { return pos_ < text_.size() ? static_cast<unsigned char>(text_[pos_]) : kEof; }
  int next() { return pos_ < text_.size() ? static_cast<unsigned char>(text_[pos_++]) : kEof; }

  // Reads up to `stop` (consumed) or the end of the text (kEof).
  Result<LexResult> process_until(int stop, bool raw_escapes) {
    // `${a:-${b:-${c:-...}}}` recurses once per level: bound it so that no input exhausts the
    // stack (docker's Go stacks grow; ours do not).
    if (depth_ >= kMaxDepth) return syntax_error("syntax error: substitutions nested too deeply");
    ++depth_;
    bool saved_raw = raw_escapes_;
    raw_escapes_ = raw_escapes;
    auto result = process_until_inner(stop);
    raw_escapes_ = saved_raw;
    --depth_;
    return result;
  }

  Result<LexResult> process_until_inner(int stop) {
    std::string result;
    Words words;
    while (peek() != kEof) {
      int c = peek();
      if (stop != kEof && c == stop) {
        next();
        return LexResult{std::move(result), words.take()};
      }
      if (c == '$') {
        BERTH_TRY(std::string value, dollar());
        result += value;
        words.add_string(value);
      } else if (c == '<') {
        std::string value = possible_heredoc();
        result += value;
        words.add_raw_string(value);
      } else if ((c == '\'' || c == '"') && !options_.skip_process_quotes) {
        BERTH_TRY(std::string value, c == '\'' ? single_quote() : double_quote());
        result += value;
        words.add_raw_string(value);
      } else {
        char ch = static_cast<char>(next());
        if (ch == options_.escape) {
          if (raw_escapes_) {
            words.add_raw_char(ch);
            result += ch;
          }
          int escaped = next();
          if (escaped == kEof) break;
          ch = static_cast<char>(escaped);
          words.add_raw_char(ch);
        } else {
          words.add_char(ch);
        }
        result += ch;
      }
    }
    if (stop != kEof) {
      return syntax_error(fmt::format("unexpected end of statement while looking for matching {}",
                                      static_cast<char>(stop)));
    }
    return LexResult{std::move(result), words.take()};
  }

  Result<std::string> single_quote() {
    std::string result;
    int c = next();
    if (options_.raw_quotes) result += static_cast<char>(c);
    for (;;) {
      c = next();
      if (c == kEof) {
        return syntax_error("unexpected end of statement while looking for matching single-quote");
      }
      if (c == '\'') {
        if (options_.raw_quotes) result += '\'';
        return result;
      }
      result += static_cast<char>(c);
    }
  }

  // Inside double quotes the escape character escapes only `"`, `$` and itself.
  Result<std::string> double_quote() {
    std::string result;
    int c = next();
    if (options_.raw_quotes) result += static_cast<char>(c);
    for (;;) {
      c = peek();
      if (c == kEof) {
        return syntax_error("unexpected end of statement while looking for matching double-quote");
      }
      if (c == '"') {
        next();
        if (options_.raw_quotes) result += '"';
        return result;
      }
      if (c == '$') {
        BERTH_TRY(std::string value, dollar());
        result += value;
        continue;
      }
      char ch = static_cast<char>(next());
      if (ch == options_.escape) {
        if (raw_escapes_) result += ch;
        int after = peek();
        if (after == kEof) continue;
        if (after == '"' || after == '$' || after == static_cast<unsigned char>(options_.escape)) {
          ch = static_cast<char>(next());
        }
      }
      result += ch;
    }
  }

  std::optional<std::string> get(const std::string& name) {
    if (used_) {
      if (seen_.empty()) seen_.insert(used_->begin(), used_->end());
      if (seen_.insert(name).second) used_->push_back(name);
    }
    return lookup_ ? lookup_(name) : std::nullopt;
  }

  static bool is_special_param(int c) {
    return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' ||
           c == '0';
  }
  static bool is_digit(int c) { return c >= '0' && c <= '9'; }
  static bool is_name_char(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
  }

  // A name: letters, digits and `_`; or a run of digits; or one special parameter.
  std::string name() {
    std::string n;
    while (peek() != kEof) {
      int c = peek();
      if (n.empty() && is_digit(c)) {
        while (is_digit(peek())) n += static_cast<char>(next());
        return n;
      }
      if (n.empty() && is_special_param(c)) return std::string(1, static_cast<char>(next()));
      if (!is_name_char(c)) break;
      n += static_cast<char>(next());
    }
    return n;
  }

  // A substitution, counted against the line's budget (nested ones count again inside it).
  Result<std::string> dollar() {
    BERTH_TRY(std::string value, substitution());
    expanded_ += value.size();
    if (expanded_ > options_.bounds.max_bytes) return expansion_too_large(options_.bounds);
    return value;
  }

  Result<std::string> substitution() {
    next();  // '$'
    if (peek() != '{') {
      std::string n = name();
      if (n.empty()) return std::string("$");
      auto value = get(n);
      if (!value && options_.skip_unset_env) return "$" + n;
      return value.value_or("");
    }
    next();  // '{'
    int c = peek();
    if (c == kEof) return syntax_error("syntax error: missing '}'");
    if (c == '{' || c == '}' || c == ':') return syntax_error("syntax error: bad substitution");
    std::string n = name();
    int op = next();
    if (op == kEof) return syntax_error("syntax error: missing '}'");
    std::string ops(1, static_cast<char>(op));
    if (op == '}') {
      auto value = get(n);
      if (!value && options_.skip_unset_env) return "${" + n + "}";
      return value.value_or("");
    }
    if (op == '/') return substitute(n);
    bool null_is_unset = false;
    if (op == ':') {
      null_is_unset = true;
      op = next();
      if (op == kEof) return syntax_error("syntax error: missing '}'");
      ops += static_cast<char>(op);
    } else if (op != '+' && op != '-' && op != '?' && op != '#' && op != '%') {
      return syntax_error(fmt::format("unsupported modifier ({}) in substitution", ops));
    }
    bool pattern = op == '#' || op == '%';
    if (null_is_unset && pattern) {
      return syntax_error(fmt::format("unsupported modifier ({}) in substitution", ops));
    }
    auto word_result = process_until('}', pattern);
    if (!word_result) {
      if (peek() == kEof) return syntax_error("syntax error: missing '}'");
      return std::move(word_result.error());
    }
    std::string word = std::move(word_result->word);
    auto value = get(n);
    if (!value && options_.skip_unset_env) return "${" + n + ops + word + "}";
    bool empty = !value || (null_is_unset && value->empty());
    switch (op) {
      case '-':
        return empty ? word : *value;
      case '+':
        return empty ? std::string() : word;
      case '?':
        if (!value)
          return syntax_error(
              fmt::format("{}: {}", n, word.empty() ? "is not allowed to be unset" : word));
        if (empty)
          return syntax_error(
              fmt::format("{}: {}", n, word.empty() ? "is not allowed to be empty" : word));
        return *value;
      case '#':
      case '%': {
        bool longest = !word.empty() && word[0] == op;
        std::string_view pat = longest ? std::string_view(word).substr(1) : std::string_view(word);
        return op == '%' ? trim_suffix(pat, value.value_or(""), longest)
                         : trim_prefix(pat, value.value_or(""), longest);
      }
      default:
        return syntax_error(fmt::format("unsupported modifier ({}) in substitution", ops));
    }
  }

  // ${VAR/pattern/replacement} and ${VAR//pattern/replacement}.
  Result<std::string> substitute(const std::string& n) {
    bool all = peek() == '/';
    if (all) next();
    auto pattern = process_until('/', true);
    if (!pattern) {
      if (peek() == kEof) return syntax_error("syntax error: missing '/' in ${}");
      return std::move(pattern.error());
    }
    auto replacement = process_until('}', true);
    if (!replacement) {
      if (peek() == kEof) return syntax_error("syntax error: missing '}'");
      return std::move(replacement.error());
    }
    auto value = get(n);
    if (!value && options_.skip_unset_env) {
      return "${" + n + "/" + pattern->word + "/" + replacement->word + "}";
    }
    return replace_pattern(pattern->word, replacement->word, value.value_or(""), all, options_.bounds);
  }

  // `<<` keeps the blanks after it in the same word, so `<< EOF` stays one heredoc marker.
  std::string possible_heredoc() {
    next();
    if (peek() != '<') return "<";
    next();
    std::string result = "<<";
    while (peek() == ' ' || peek() == '\t' || peek() == '\r') result += static_cast<char>(next());
    return result;
  }

  std::string_view text_;
  const VariableLookup& lookup_;
  LexOptions options_;
  std::vector<std::string>* used_;
  bool raw_escapes_;
  size_t pos_ = 0;
  std::unordered_set<std::string> seen_;  // the names in *used_, to add each once
  static constexpr int kMaxDepth = 256;
  int depth_ = 0;
  size_t expanded_ = 0;  // bytes the substitutions made so far
};

}  // namespace

Result<LexResult> lex(std::string_view text, const VariableLookup& lookup,
                      const LexOptions& options, std::vector<std::string>* used) {
  return Lexer(text, lookup, options, used).run();
}

}  // namespace detail

Result<std::string> expand_word(std::string_view word, const VariableLookup& lookup,
                                const ExpandOptions& options) {
  detail::LexOptions lex_options;
  lex_options.escape = options.escape;
  lex_options.bounds = options.bounds;
  BERTH_TRY(auto result, detail::lex(word, lookup, lex_options, options.used));
  return std::move(result.word);
}

Result<std::vector<std::string>> expand_words(std::string_view text, const VariableLookup& lookup,
                                              const ExpandOptions& options) {
  detail::LexOptions lex_options;
  lex_options.escape = options.escape;
  lex_options.bounds = options.bounds;
  BERTH_TRY(auto result, detail::lex(text, lookup, lex_options, options.used));
  return std::move(result.words);
}

// BuildKit expands heredoc bodies with a lexer of its own whose escape character is always `\`
// (whatever `# escape=` says) and that treats quotes as plain text.
Result<std::string> expand_heredoc(std::string_view body, const VariableLookup& lookup,
                                   const ExpandOptions& options) {
  detail::LexOptions lex_options;
  lex_options.escape = '\\';
  lex_options.skip_process_quotes = true;
  lex_options.bounds = options.bounds;
  BERTH_TRY(auto result, detail::lex(body, lookup, lex_options, options.used));
  return std::move(result.word);
}

}  // namespace berth::build
