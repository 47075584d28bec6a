// build/context_filter.cc — docker's patternmatcher without regular expressions: a pattern
// compiles to the tokens its regexp would have (`*` → [^/]*, `?` → [^/], `**/` → (.*/)?,
// trailing `**` → .*, classes as filepath.Match reads them), run as an NFA over the path's
// characters, so no input can make matching slow.
#include "build/context_filter.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <optional>

#include "build/shell_words_lexer.h"

namespace berth::build {
namespace detail {

struct Range {
  char32_t lo, hi;
};

struct Token {
  enum Kind {
    kLiteral,  // one character
    kAnyChar,  // one character but '/'
    kClass,    // [...] or [^...]
    kStar,     // any run without '/'
    kAnyRun,   // any run
    kSkip,     // epsilon to the next token and to this one + skip
  } kind;
  char32_t c = 0;
  std::vector<Range> ranges;
  bool negated = false;
  size_t skip = 0;
};

struct Program {
  std::vector<Token> tokens;
  std::vector<std::uint64_t> closures;  // per state, when there are at most 64 states
};

}  // namespace detail

namespace {

using detail::Range;
using detail::Token;

using detail::trim_space;

// Decodes UTF-8 into code points; a stray byte stands for itself.
std::u32string decode(std::string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (!ok) {
      out.push_back(b);
      ++i;
      continue;
    }
    char32_t cp = n == 1 ? b : n == 2 ? (b & 0x1f) : n == 3 ? (b & 0x0f) : (b & 0x07);
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    out.push_back(cp);
    i += n;
  }
  return out;
}

Error bad_pattern(std::string_view pattern) {
  return Error::make(ErrorKind::invalid_argument, "invalid pattern '{}': syntax error in pattern",
                     pattern);
}

// Reads a class body after '[' the way Go's filepath.Match does (it rejects what the regexp
// would have accepted, and patternmatcher validates with filepath.Match first).
bool read_class(const std::u32string& p, size_t& i, Token& token) {
  token.kind = Token::kClass;
  if (i < p.size() && p[i] == U'^') {
    token.negated = true;
    ++i;
  }
  auto read_char = [&](char32_t& out) {
    if (i >= p.size() || p[i] == U'-' || p[i] == U']') return false;
    if (p[i] == U'\\') {
      ++i;
      if (i >= p.size()) return false;
    }
    out = p[i++];
    return true;
  };
  for (;;) {
    if (i < p.size() && p[i] == U']' && !token.ranges.empty()) {
      ++i;
      return true;
    }
    Range r{};
    if (!read_char(r.lo)) return false;
    r.hi = r.lo;
    if (i < p.size() && p[i] == U'-') {
      ++i;
      if (!read_char(r.hi)) return false;
    }
    if (r.hi < r.lo) return false;
    token.ranges.push_back(r);
  }
}

// The tokens patternmatcher's regexp would have, with its fast paths folded in (a pattern that
// starts with `**` and is literal after it matches any path that ends with the rest).
Result<std::vector<Token>> compile(std::string_view pattern) {
  std::u32string p = decode(pattern);
  std::vector<Token> tokens;
  enum { kExact, kPrefix, kSuffix, kRegexp } type = kExact;
  bool leading_double_star_without_slash = false;
  for (size_t i = 0, step = 0; i < p.size(); ++step) {
    char32_t c = p[i++];
    if (c == U'*') {
      if (i < p.size() && p[i] == U'*') {
        ++i;
        bool slash = i < p.size() && p[i] == U'/';
        if (slash) ++i;
        if (i >= p.size()) {
          type = type == kExact ? kPrefix : kRegexp;
          tokens.push_back({Token::kAnyRun});
        } else {
          tokens.push_back({Token::kSkip, 0, {}, false, 3});
          tokens.push_back({Token::kAnyRun});
          tokens.push_back({Token::kLiteral, U'/'});
          type = kRegexp;
        }
        if (step == 0) {
          type = kSuffix;
          leading_double_star_without_slash = !slash;
        }
      } else {
        tokens.push_back({Token::kStar});
        type = kRegexp;
      }
    } else if (c == U'?') {
      tokens.push_back({Token::kAnyChar});
      type = kRegexp;
    } else if (c == U'\\') {
      if (i >= p.size()) return bad_pattern(pattern);
      tokens.push_back({Token::kLiteral, p[i++]});
      type = kRegexp;
    } else if (c == U'[') {
      Token token{Token::kClass};
      if (!read_class(p, i, token)) return bad_pattern(pattern);
      tokens.push_back(std::move(token));
      type = kRegexp;
    } else {
      tokens.push_back({Token::kLiteral, c});
    }
  }
  // patternmatcher's suffix fast path is strings.HasSuffix: `**foo` also matches "barfoo".
  if (type == kSuffix && leading_double_star_without_slash && tokens.size() >= 3 &&
      tokens[0].kind == Token::kSkip) {
    tokens.erase(tokens.begin(), tokens.begin() + 3);
    tokens.insert(tokens.begin(), Token{Token::kAnyRun});
  }
  return tokens;
}

bool class_matches(const Token& token, char32_t c) {
  bool in = std::any_of(token.ranges.begin(), token.ranges.end(),
                        [c](const Range& r) { return r.lo <= c && c <= r.hi; });
  return in != token.negated;
}

// The state that token i leads to on character c, if it takes c.
std::optional<size_t> transition(const Token& t, size_t i, char32_t c) {
  switch (t.kind) {
    case Token::kLiteral:
      return c == t.c ? std::optional<size_t>(i + 1) : std::nullopt;
    case Token::kAnyChar:
      return c != U'/' ? std::optional<size_t>(i + 1) : std::nullopt;
    case Token::kClass:
      return class_matches(t, c) ? std::optional<size_t>(i + 1) : std::nullopt;
    case Token::kStar:
      return c != U'/' ? std::optional<size_t>(i) : std::nullopt;
    case Token::kAnyRun:
      return i;
    case Token::kSkip:
      break;
  }
  return std::nullopt;
}

// Adds state i and what it reaches without input (iteratively: a pattern of many stars must
// not recurse as deep).
void add_closure(const std::vector<Token>& tokens, size_t i, std::vector<char>& states,
                 std::vector<size_t>& pending) {
  pending.assign(1, i);
  while (!pending.empty()) {
    size_t s = pending.back();
    pending.pop_back();
    if (states[s]) continue;
    states[s] = 1;
    if (s == tokens.size()) continue;
    const Token& t = tokens[s];
    if (t.kind == Token::kStar || t.kind == Token::kAnyRun) pending.push_back(s + 1);
    if (t.kind == Token::kSkip) {
      pending.push_back(s + 1);
      pending.push_back(std::min(tokens.size(), s + t.skip));
    }
  }
}

constexpr size_t kMaskStates = 64;

// A pattern ready to run: with fewer than 64 states, each state's closure as a bit mask.
detail::Program make_program(std::vector<Token> tokens) {
  detail::Program program;
  program.tokens = std::move(tokens);
  size_t states = program.tokens.size() + 1;
  if (states <= kMaskStates) {
    std::vector<char> reached(states);
    std::vector<size_t> pending;
    for (size_t s = 0; s < states; ++s) {
      std::fill(reached.begin(), reached.end(), 0);
      add_closure(program.tokens, s, reached, pending);
      std::uint64_t mask = 0;
      for (size_t k = 0; k < states; ++k) mask |= std::uint64_t{reached[k] != 0} << k;
      program.closures.push_back(mask);
    }
  }
  return program;
}

// One run of a program over a path, a character at a time: state i waits at token i, state
// tokens.size() has matched.
class Run {
 public:
  explicit Run(const detail::Program& program)
      : tokens_(program.tokens), closures_(program.closures), end_(program.tokens.size()) {
    if (small()) {
      mask_ = closures_[0];
    } else {
      states_.assign(end_ + 1, 0);
      next_.assign(end_ + 1, 0);
      add_closure(tokens_, 0, states_, pending_);
    }
  }

  // Consumes one character; false when no state is left (nothing can match any more).
  bool step(char32_t c) {
    if (small()) {
      std::uint64_t next = 0;
      for (std::uint64_t rest = mask_; rest != 0; rest &= rest - 1) {
        auto i = static_cast<size_t>(std::countr_zero(rest));
        if (i == end_) continue;
        if (auto to = transition(tokens_[i], i, c)) next |= closures_[*to];
      }
      mask_ = next;
      return next != 0;
    }
    std::fill(next_.begin(), next_.end(), 0);
    bool alive = false;
    for (size_t i = 0; i < end_; ++i) {
      if (!states_[i]) continue;
      if (auto to = transition(tokens_[i], i, c)) {
        add_closure(tokens_, *to, next_, pending_);
        alive = true;
      }
    }
    states_.swap(next_);
    return alive;
  }

  bool matched() const { return small() ? ((mask_ >> end_) & 1) != 0 : states_[end_] != 0; }

 private:
  bool small() const { return !closures_.empty(); }

  const std::vector<Token>& tokens_;
  const std::vector<std::uint64_t>& closures_;
  size_t end_;
  std::uint64_t mask_ = 0;
  std::vector<char> states_, next_;
  std::vector<size_t> pending_;
};

bool full_match(const detail::Program& program, const std::u32string& path) {
  Run run(program);
  for (char32_t c : path) {
    if (!run.step(c)) return false;
  }
  return run.matched();
}

// Whether the pattern matches the path or one of its parent directories (the text before each
// '/'), in one pass: patternmatcher's MatchesOrParentMatches.
bool matches_self_or_parent(const detail::Program& program, const std::u32string& path) {
  Run run(program);
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == U'/' && i > 0 && run.matched()) return true;
    if (!run.step(path[i])) return false;
  }
  return run.matched();
}

// Whether some path that starts with `prefix` could match.
bool partial_match(const detail::Program& program, const std::u32string& prefix) {
  Run run(program);
  for (char32_t c : prefix) {
    if (!run.step(c)) return false;
  }
  return true;
}

// Go's filepath.Clean for '/'-separated paths.
std::string clean_path(std::string_view path) {
  if (path.empty()) return ".";
  bool rooted = path[0] == '/';
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!rooted) {
        parts.push_back(part);
      }
      continue;
    }
    parts.push_back(part);
  }
  std::string out = rooted ? "/" : "";
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k > 0) out += '/';
    out += parts[k];
  }
  return out.empty() ? "." : out;
}

}  // namespace

struct IgnoreRules::Compiled {
  detail::Program program;
};

Result<IgnoreRules> IgnoreRules::parse(std::string_view text, std::string_view file_name) {
  IgnoreRules rules;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  int line_number = 0;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_number;
    // As docker's ignorefile: a comment starts in the first column; blanks are trimmed.
    if (!line.empty() && line[0] == '#') continue;
    line = trim_space(line);
    if (line.empty()) continue;
    Pattern pattern;
    pattern.exception = line[0] == '!';
    if (pattern.exception) line = trim_space(line.substr(1));
    if (line.empty()) {
      return Error::make(ErrorKind::invalid_argument, "{}:{}: illegal exclusion pattern: \"!\"",
                         file_name, line_number);
    }
    pattern.text = clean_path(line);
    if (pattern.text.size() > 1 && pattern.text[0] == '/') pattern.text.erase(0, 1);
    auto compiled = compile(pattern.text);
    if (!compiled) {
      return std::move(compiled.error()).context(fmt::format("{}:{}", file_name, line_number));
    }
    rules.patterns_.push_back(std::move(pattern));
    rules.compiled_.push_back(
        std::make_shared<const Compiled>(Compiled{make_program(std::move(*compiled))}));
  }
  return rules;
}

bool IgnoreRules::excluded(std::string_view path) const {
  std::string file = clean_path(path);
  if (file == "." || file == "/") return false;
  std::u32string chars = decode(file);
  bool matched = false;
  for (size_t i = 0; i < patterns_.size(); ++i) {
    if (patterns_[i].exception != matched) continue;  // cannot change the outcome
    if (matches_self_or_parent(compiled_[i]->program, chars)) matched = !patterns_[i].exception;
  }
  return matched;
}

bool IgnoreRules::may_reinclude_below(std::string_view dir) const {
  std::string below = clean_path(dir);
  std::u32string chars = decode(below == "." ? "" : below + "/");
  for (size_t i = 0; i < patterns_.size(); ++i) {
    if (patterns_[i].exception && partial_match(compiled_[i]->program, chars)) return true;
  }
  return false;
}

Result<bool> match_path(std::string_view pattern, std::string_view path) {
  BERTH_TRY(auto tokens, compile(pattern));
  return full_match(make_program(std::move(tokens)), decode(path));
}

bool has_glob(std::string_view source) {
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\\') {
      ++i;
    } else if (source[i] == '*' || source[i] == '?' || source[i] == '[') {
      return true;
    }
  }
  return false;
}

}  // namespace berth::build
