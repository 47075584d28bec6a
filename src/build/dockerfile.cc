// build/dockerfile.cc — the Dockerfile parser's outer loop, as BuildKit's
// frontend/dockerfile/parser/parser.go reads a file: parser directives at the top, comments,
// continuation lines (with the escape character), heredoc bodies after their line, then the
// instructions grouped into stages.
#include "build/dockerfile.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>

#include "build/dockerfile_parse.h"
#include "build/shell_words_lexer.h"

namespace berth::build {
namespace detail {

void LogicalLine::append(std::string_view piece, int line, int column) {
  segments_.push_back({text_.size(), line, column});
  text_ += piece;
}

SourceLocation LogicalLine::locate(size_t offset) const {
  SourceLocation where{file_, 0, 0};
  if (segments_.empty()) return where;
  if (offset >= text_.size() && !text_.empty()) offset = text_.size() - 1;
  auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                             [](size_t o, const Segment& s) { return o < s.offset; });
  if (it != segments_.begin()) --it;
  where.line = it->line;
  where.column = it->column + static_cast<int>(offset - it->offset);
  return where;
}

Error error_at(const SourceLocation& where, std::string message) {
  return Error(ErrorKind::invalid_argument, fmt::format("{}: {}", to_string(where), message));
}

namespace {

size_t levenshtein(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string to_lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string to_upper_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::string> suggest(std::string_view value,
                                   const std::vector<std::string_view>& options,
                                   bool case_sensitive) {
  std::string needle = case_sensitive ? std::string(value) : to_lower_ascii(value);
  std::optional<std::string> match;
  size_t best = 3;
  for (std::string_view option : options) {
    std::string candidate = case_sensitive ? std::string(option) : to_lower_ascii(option);
    if (candidate == needle) return std::nullopt;  // the value was fine: the error is elsewhere
    // The distance is at least the difference in length: a long word (a whole line taken for an
    // instruction) is compared with nothing.
    const size_t apart = needle.size() > candidate.size() ? needle.size() - candidate.size()
                                                           : candidate.size() - needle.size();
    if (apart >= best) continue;
    size_t distance = levenshtein(needle, candidate);
    if (distance < best) {
      best = distance;
      match = candidate;
    }
  }
  // As BuildKit: the suggestion takes the case the user wrote in.
  if (match && !case_sensitive && std::string(value) != to_lower_ascii(value) &&
      std::string(value) == to_upper_ascii(value)) {
    *match = to_upper_ascii(*match);
  }
  return match;
}

std::vector<Heredoc> heredocs_in_line(std::string_view line) {
  LexOptions options;
  options.raw_quotes = true;
  options.raw_escapes = true;
  options.skip_unset_env = true;
  auto words = lex(line, nullptr, options, nullptr);
  std::vector<Heredoc> docs;
  if (!words) return docs;
  for (const auto& word : words->words) {
    if (auto doc = parse_heredoc_marker(word)) docs.push_back(std::move(*doc));
  }
  return docs;
}

bool can_contain_heredoc(const Instruction& instruction) {
  const Instruction* node = &instruction;
  if (node->keyword == "ONBUILD" && !node->nested.empty()) node = &node->nested[0];
  std::string keyword = to_upper_ascii(node->keyword);
  return (keyword == "RUN" || keyword == "COPY" || keyword == "ADD") && !node->json;
}

}  // namespace detail

namespace {

using detail::is_space;

std::string_view trim_newline(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

size_t leading_space(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

bool is_comment(std::string_view line) {
  size_t i = leading_space(line);
  return i < line.size() && line[i] == '#';
}

// Parser directives: `# name=value` lines at the very top, before anything else (a blank line,
// a plain comment or an instruction ends them). Only syntax, escape and check are directives.
class Directives {
 public:
  // Whether the line is a directive; an error for a repeated one or a bad escape token.
  Result<bool> read(std::string_view line) {
    if (done_) return false;
    if (line.empty() || line[0] != '#') return finish();
    line.remove_prefix(1);
    line.remove_prefix(leading_space(line));
    size_t i = 0;
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (line.empty() || !alpha(line[0])) return finish();
    while (i < line.size() && (alpha(line[i]) || (line[i] >= '0' && line[i] <= '9'))) ++i;
    std::string key = detail::to_lower_ascii(line.substr(0, i));
    while (i < line.size() && is_space(line[i])) ++i;
    if (i >= line.size() || line[i] != '=') return finish();
    ++i;
    while (i < line.size() && is_space(line[i])) ++i;
    std::string_view value = line.substr(i);
    while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
    if (value.empty()) return finish();
    if (key != "syntax" && key != "escape" && key != "check") return finish();
    if (!seen_.insert(key).second) {
      return Error::make(ErrorKind::invalid_argument, "only one {} parser directive can be used",
                         key);
    }
    if (key == "escape") {
      if (value != "`" && value != "\\") {
        return Error::make(ErrorKind::invalid_argument,
                           "invalid escape token '{}' does not match ` or \\", value);
      }
      escape_ = value[0];
    } else if (key == "syntax") {
      syntax_ = std::string(value);
    }
    return true;
  }

  char escape() const { return escape_; }
  const std::string& syntax() const { return syntax_; }

 private:
  bool finish() {
    done_ = true;
    return false;
  }

  bool done_ = false;
  std::set<std::string> seen_;
  char escape_ = '\\';
  std::string syntax_;
};

// A physical line after BuildKit's processLine: newline trimmed, optionally leading blanks,
// comments emptied; `column` is where the kept text starts (1-based).
struct Processed {
  std::string_view text;
  int column = 1;
};

Result<Processed> process_line(Directives& directives, std::string_view raw, bool strip_left) {
  std::string_view token = trim_newline(raw);
  size_t skip = strip_left ? leading_space(token) : 0;
  token.remove_prefix(skip);
  BERTH_TRY_VOID(directives.read(token));
  if (is_comment(token)) token = {};
  return Processed{token, static_cast<int>(skip) + 1};
}

// Removes a trailing escape character (and the blanks after it); false when the line goes on.
// As BuildKit's regexp, an escape preceded by another escape does not continue the line.
std::pair<std::string_view, bool> trim_continuation(std::string_view line, char escape) {
  std::string_view t = line;
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  if (t.empty() || t.back() != escape) return {line, true};
  t.remove_suffix(1);
  if (!t.empty() && t.back() == escape) return {line, true};
  return {t, false};
}

std::string_view trim_leading_tabs(std::string_view s) {
  s.remove_prefix(std::min(s.find_first_not_of('\t'), s.size()));
  return s;
}

// Reads a heredoc's body, the lines up to its terminator (BuildKit compares the line without
// its ending, and without leading tabs for `<<-`); false when the file ends first.
bool read_heredoc_body(const std::vector<std::string_view>& lines, size_t& next, Heredoc& doc) {
  while (next < lines.size()) {
    std::string_view body_line = lines[next++];
    std::string_view terminator = trim_newline(body_line);
    if (doc.chomp) {
      terminator = trim_leading_tabs(terminator);
      body_line = trim_leading_tabs(body_line);
    }
    if (terminator == doc.name) return true;
    doc.content += body_line;
  }
  return false;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t end = text.find('\n');
    end = end == std::string_view::npos ? text.size() : end + 1;
    lines.push_back(text.substr(0, end));
    text.remove_prefix(end);
  }
  return lines;
}

// Stage names follow docker's ^[a-z][a-z0-9-_.]*$ (checked in check_instruction).
Result<void> add_instruction(Dockerfile& file, Instruction instruction) {
  if (instruction.keyword == "FROM") {
    Stage stage;
    stage.base = instruction.args[0];
    if (instruction.args.size() == 3) stage.name = detail::to_lower_ascii(instruction.args[2]);
    for (const auto& flag : instruction.flags) {
      if (flag.name == "platform") stage.platform = flag.value;
    }
    stage.index = static_cast<int>(file.stages.size());
    if (!stage.name.empty()) {
      for (const auto& other : file.stages) {
        if (other.name == stage.name) {
          return detail::error_at(
              instruction.where,
              fmt::format("duplicate stage name '{}': stage names should be unique", stage.name));
        }
      }
    }
    stage.from = std::move(instruction);
    file.stages.push_back(std::move(stage));
    return {};
  }
  if (file.stages.empty()) {
    if (instruction.keyword == "ARG") {
      file.meta_args.push_back(std::move(instruction));
      return {};
    }
    return detail::error_at(
        instruction.where,
        fmt::format("no build stage in current context: {} comes before the first FROM (only ARG "
                    "may)",
                    instruction.keyword));
  }
  file.stages.back().instructions.push_back(std::move(instruction));
  return {};
}

// Reads the instructions of a text in order, each split and checked, and hands each to `sink`
// (which may fail: stage rules are checked as instructions come, as BuildKit does).
Result<void> read_instructions(std::string_view text, const std::string& file,
                               Directives& directives,
                               const std::function<Result<void>(Instruction)>& sink) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<std::string_view> lines = split_lines(text);
  size_t next = 0;  // index of the next physical line; its number is next + 1
  auto fail_at_line = [&](Error error, size_t line) {
    return detail::error_at({file, static_cast<int>(line), 1}, error.message());
  };

  while (next < lines.size()) {
    auto first = process_line(directives, lines[next], true);
    if (!first) return fail_at_line(std::move(first.error()), next + 1);
    ++next;
    auto [head, ended] = trim_continuation(first->text, directives.escape());
    if (ended && head.empty()) continue;

    detail::LogicalLine line(file, directives.escape());
    line.append(head, static_cast<int>(next), first->column);
    while (!ended && next < lines.size()) {
      std::string_view raw = lines[next];
      auto more = process_line(directives, raw, false);
      if (!more) return fail_at_line(std::move(more.error()), next + 1);
      ++next;
      if (is_comment(raw)) continue;
      // An empty continuation line is skipped (docker warns that it will become an error).
      if (leading_space(trim_newline(more->text)) == more->text.size()) continue;
      auto [piece, end] = trim_continuation(more->text, directives.escape());
      ended = end;
      line.append(piece, static_cast<int>(next), more->column);
    }

    BERTH_TRY(auto parsed, detail::parse_line(line, 0));
    Instruction& instruction = parsed.instruction;
    if (detail::can_contain_heredoc(instruction) && line.text().find("<<") != std::string::npos) {
      for (auto& doc : detail::heredocs_in_line(line.text())) {
        if (!read_heredoc_body(lines, next, doc)) {
          return detail::error_at(instruction.where,
                                  fmt::format("unterminated heredoc {}", doc.name));
        }
        if (instruction.keyword == "ONBUILD" && !instruction.nested.empty()) {
          instruction.nested[0].heredocs.push_back(doc);
        }
        instruction.heredocs.push_back(std::move(doc));
      }
    }
    BERTH_TRY_VOID(detail::check_instruction(parsed));
    BERTH_TRY_VOID(sink(std::move(instruction)));
  }
  return {};
}

}  // namespace

std::optional<Heredoc> parse_heredoc_marker(std::string_view word) {
  // ^(\d*)<<(-?)\s*([^<]*)$
  size_t i = 0;
  while (i < word.size() && word[i] >= '0' && word[i] <= '9') ++i;
  if (word.substr(i, 2) != "<<") return std::nullopt;
  i += 2;
  Heredoc doc;
  if (i < word.size() && word[i] == '-') {
    doc.chomp = true;
    ++i;
  }
  while (i < word.size() && detail::is_space(word[i])) ++i;
  std::string_view rest = word.substr(i);
  if (rest.empty() || rest.find('<') != std::string_view::npos) return std::nullopt;
  // The name is the word unquoted; quotes anywhere in it turn expansion off.
  detail::LexOptions options;
  options.skip_unset_env = true;
  auto plain = detail::lex(rest, nullptr, options, nullptr);
  if (!plain || plain->words.size() != 1) return std::nullopt;
  options.raw_quotes = true;
  auto raw = detail::lex(rest, nullptr, options, nullptr);
  if (!raw || raw->words.size() != 1) return std::nullopt;
  auto quotes = [](std::string_view s) {
    return std::count(s.begin(), s.end(), '\'') + std::count(s.begin(), s.end(), '"');
  };
  doc.name = plain->words[0];
  doc.expand = quotes(plain->words[0]) == quotes(raw->words[0]);
  return doc;
}

std::string to_string(const SourceLocation& where) {
  return fmt::format("{}:{}:{}", where.file, where.line, where.column);
}

const std::vector<std::string_view>& dockerfile_keywords() {
  static const std::vector<std::string_view> keywords = {
      "ADD",    "ARG",   "CMD",         "COPY",  "ENTRYPOINT", "ENV",
      "EXPOSE", "FROM",  "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD",
      "RUN",    "SHELL", "STOPSIGNAL",  "USER",  "VOLUME",     "WORKDIR"};
  return keywords;
}

Result<Dockerfile> parse_dockerfile(std::string_view text, std::string_view file_name) {
  std::string file(file_name);
  Directives directives;
  Dockerfile result;
  bool any_instruction = false;
  BERTH_TRY_VOID(read_instructions(text, file, directives, [&](Instruction instruction) {
    any_instruction = true;
    return add_instruction(result, std::move(instruction));
  }));
  if (!any_instruction) {
    return detail::error_at({file, 1, 1}, "file with no instructions");
  }
  if (result.stages.empty()) {
    return detail::error_at(
        {file, 1, 1}, "no FROM instruction: a Dockerfile starts with FROM (or ARG before FROM)");
  }
  result.syntax = directives.syntax();
  result.escape = directives.escape();
  return result;
}

std::string onbuild_expression(const Instruction& onbuild) {
  if (onbuild.nested.empty()) return {};
  std::string expression = onbuild.nested[0].original;
  for (const auto& doc : onbuild.heredocs) {
    expression += '\n';
    expression += doc.content;
    expression += doc.name;
  }
  return expression;
}

Result<Instruction> parse_onbuild_trigger(std::string_view trigger) {
  const std::string file = "ONBUILD";
  Directives directives;
  std::vector<Instruction> instructions;
  BERTH_TRY_VOID(read_instructions(trigger, file, directives, [&](Instruction instruction) {
    instructions.push_back(std::move(instruction));
    return Result<void>();
  }));
  if (instructions.size() != 1) {
    return detail::error_at({file, 1, 1}, "onbuild trigger should be a single expression");
  }
  const std::string& keyword = instructions[0].keyword;
  if (keyword == "FROM") {
    return detail::error_at(instructions[0].where,
                            fmt::format("{} isn't allowed as an ONBUILD trigger", keyword));
  }
  return std::move(instructions[0]);
}

}  // namespace berth::build
