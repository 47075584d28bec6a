// build/dockerfile_instructions.cc — one instruction's line: the keyword, the `--flags`, and
// the arguments split as BuildKit's line parsers do per keyword (parser/line_parsers.go,
// split_command.go).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "build/dockerfile.h"
#include "build/dockerfile_parse.h"
#include "build/shell_words_lexer.h"

namespace berth::build::detail {
namespace {

// Go's regexp [\t\v\f\r ] (reWhitespace): the separators of words on an instruction line.
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; }

std::vector<std::string> split_blanks(std::string_view s) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_blank(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !is_blank(s[i])) ++i;
    if (i > start) words.emplace_back(s.substr(start, i - start));
  }
  return words;
}

// Leading `--flag[=value]` words (quotes and escapes removed, as BuildKit's
// extractBuilderFlags), each with its offset in the line; returns where the arguments start.
size_t extract_flags(std::string_view text, size_t begin, char escape,
                     std::vector<std::pair<std::string, size_t>>& flags) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::string word;
  size_t word_start = begin;
  char quote = 0;
  bool blank_ok = false;
  for (size_t pos = begin; pos <= text.size(); ++pos) {
    char c = pos < text.size() ? text[pos] : 0;
    if (phase == kSpaces) {
      if (pos == text.size()) break;
      if (is_space(c)) continue;
      if (c != '-' || pos + 1 == text.size() || text[pos + 1] != '-') return pos;
      phase = kWord;
      word_start = pos;
    }
    if (pos == text.size()) {
      if (word != "--" && (blank_ok || !word.empty())) flags.emplace_back(word, word_start);
      break;
    }
    if (phase == kWord) {
      if (is_space(c)) {
        phase = kSpaces;
        if (word == "--") return pos;
        if (blank_ok || !word.empty()) flags.emplace_back(word, word_start);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (c == '\'' || c == '"') {
        quote = c;
        blank_ok = true;
        phase = kQuote;
        continue;
      }
      if (c == escape) {
        if (pos + 1 == text.size()) continue;
        c = text[++pos];
      }
      word += c;
      continue;
    }
    // kQuote
    if (c == quote) {
      phase = kWord;
      continue;
    }
    if (c == escape) {
      if (pos + 1 == text.size()) {
        phase = kWord;
        continue;
      }
      c = text[++pos];
    }
    word += c;
  }
  return text.size();
}

// Words with quotes and escapes kept (BuildKit's parseWords, for ENV, LABEL and ARG).
std::vector<std::string> parse_words(std::string_view rest, char escape) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  for (size_t pos = 0; pos <= rest.size(); ++pos) {
    char c = pos < rest.size() ? rest[pos] : 0;
    if (phase == kSpaces) {
      if (pos == rest.size()) break;
      if (is_space(c)) continue;
      phase = kWord;
    }
    if (pos == rest.size()) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    if (phase == kWord) {
      if (is_space(c)) {
        phase = kSpaces;
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (c == '\'' || c == '"') {
        quote = c;
        blank_ok = true;
        phase = kQuote;
      }
      if (c == escape) {
        if (pos + 1 == rest.size()) continue;  // an escape at the end is dropped
        word += c;
        c = rest[++pos];
      }
      word += c;
      continue;
    }
    // kQuote: the escape character works inside double quotes only.
    if (c == quote) phase = kWord;
    if (c == escape && quote != '\'') {
      if (pos + 1 == rest.size()) {
        phase = kWord;
        continue;
      }
      word += c;
      c = rest[++pos];
    }
    word += c;
  }
  return words;
}

constexpr std::string_view kNotStringArray =
    "when using JSON array syntax, arrays must be comprised of strings only";

// A JSON array of strings; nullopt when the text is not a JSON array (shell form instead), an
// error when it is one with something else than strings in it.
Result<std::optional<std::vector<std::string>>> parse_json_array(std::string_view rest) {
  rest = trim_space(rest);
  if (rest.empty() || rest[0] != '[') return std::optional<std::vector<std::string>>();
  auto json = parse_json(rest, false);
  if (json.is_discarded() || !json.is_array()) return std::optional<std::vector<std::string>>();
  std::vector<std::string> out;
  for (const auto& item : json) {
    if (!item.is_string()) return Error(ErrorKind::invalid_argument, std::string(kNotStringArray));
    out.push_back(item.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

// parseMaybeJSON (RUN, CMD, ENTRYPOINT, SHELL): JSON, or the whole rest as one string.
Result<void> maybe_json(Instruction& out, std::string_view rest) {
  if (rest.empty()) return {};
  BERTH_TRY(auto json, parse_json_array(rest));
  if (json) {
    out.args = std::move(*json);
    out.json = true;
  } else {
    out.args = {std::string(rest)};
  }
  return {};
}

// parseMaybeJSONToList (COPY, ADD, VOLUME): JSON, or the blank-separated words.
Result<void> maybe_json_to_list(Instruction& out, std::string_view rest) {
  BERTH_TRY(auto json, parse_json_array(rest));
  if (json) {
    out.args = std::move(*json);
    out.json = true;
  } else {
    out.args = split_blanks(rest);
  }
  return {};
}

// ENV and LABEL: `name=value ...`, or the old `name value` (the value is the rest, as written).
Result<void> name_values(Instruction& out, std::string_view rest, char escape) {
  auto words = parse_words(rest, escape);
  if (words.empty()) return {};
  if (words[0].find('=') == std::string::npos) {
    size_t i = 0;
    while (i < rest.size() && !is_blank(rest[i])) ++i;
    size_t j = i;
    while (j < rest.size() && is_blank(rest[j])) ++j;
    if (i == rest.size()) {
      return Error::make(ErrorKind::invalid_argument, "{} must have two arguments", out.keyword);
    }
    out.pairs.emplace_back(std::string(rest.substr(0, i)), std::string(rest.substr(j)));
    return {};
  }
  for (auto& word : words) {
    size_t eq = word.find('=');
    if (eq == std::string::npos) {
      return Error::make(ErrorKind::invalid_argument,
                         "Syntax error - can't find = in \"{}\". Must be of the form: name=value",
                         word);
    }
    out.pairs.emplace_back(word.substr(0, eq), word.substr(eq + 1));
  }
  return {};
}

}  // namespace

Result<ParsedLine> parse_line(const LogicalLine& line, size_t offset, bool trigger) {
  std::string_view text = line.text();
  size_t end = text.size();
  while (end > offset && is_space(text[end - 1])) --end;
  text = text.substr(0, end);
  size_t begin = offset;
  while (begin < end && is_space(text[begin])) ++begin;
  size_t keyword_end = begin;
  while (keyword_end < end && !is_blank(text[keyword_end])) ++keyword_end;

  ParsedLine parsed;
  Instruction& out = parsed.instruction;
  parsed.keyword_as_written = std::string(text.substr(begin, keyword_end - begin));
  out.keyword = to_upper_ascii(parsed.keyword_as_written);
  out.original = std::string(text.substr(begin));
  out.where = line.locate(begin);

  size_t rest_begin = keyword_end;
  while (rest_begin < end && is_blank(text[rest_begin])) ++rest_begin;
  std::vector<std::pair<std::string, size_t>> flags;
  size_t args_begin =
      rest_begin < end ? extract_flags(text, rest_begin, line.escape(), flags) : end;
  for (auto& [word, at] : flags) {
    Flag flag;
    std::string_view body = std::string_view(word).substr(std::min<size_t>(2, word.size()));
    size_t eq = body.find('=');
    flag.name = std::string(body.substr(0, eq));
    flag.has_value = eq != std::string_view::npos;
    if (flag.has_value) flag.value = std::string(body.substr(eq + 1));
    out.flags.push_back(std::move(flag));
    parsed.flag_where.push_back(line.locate(at));
  }
  while (args_begin < end && is_space(text[args_begin])) ++args_begin;
  std::string_view rest = text.substr(args_begin);

  const std::string& k = out.keyword;
  Result<void> split;
  if (k == "ADD" || k == "COPY" || k == "VOLUME") {
    split = maybe_json_to_list(out, rest);
  } else if (k == "RUN" || k == "CMD" || k == "ENTRYPOINT" || k == "SHELL") {
    split = maybe_json(out, rest);
  } else if (k == "ENV" || k == "LABEL") {
    split = name_values(out, rest, line.escape());
  } else if (k == "ARG") {
    for (auto& word : parse_words(rest, line.escape())) {
      size_t eq = word.find('=');
      if (eq == std::string::npos) {
        out.pairs.emplace_back(word, std::nullopt);
      } else {
        out.pairs.emplace_back(word.substr(0, eq), word.substr(eq + 1));
      }
    }
  } else if (k == "EXPOSE" || k == "FROM") {
    out.args = split_blanks(rest);
  } else if (k == "MAINTAINER" || k == "STOPSIGNAL" || k == "USER" || k == "WORKDIR") {
    if (!rest.empty()) out.args = {std::string(rest)};
  } else if (k == "ONBUILD") {
    if (!rest.empty()) {
      out.args = {std::string(rest)};
      if (!trigger) {
        BERTH_TRY(auto nested, parse_line(line, args_begin, true));
        out.nested.push_back(std::move(nested.instruction));
      }
    }
  } else if (k == "HEALTHCHECK") {
    size_t type_end = 0;
    while (type_end < rest.size() && !is_space(rest[type_end])) ++type_end;
    if (type_end > 0) {
      std::string_view type = rest.substr(0, type_end);
      size_t cmd_begin = type_end;
      while (cmd_begin < rest.size() && is_space(rest[cmd_begin])) ++cmd_begin;
      std::string_view cmd = rest.substr(cmd_begin);
      out.args = {std::string(type)};
      if (to_upper_ascii(type) == "CMD") {
        Instruction nested;
        nested.keyword = "CMD";
        nested.original = std::string(rest);
        nested.where = line.locate(args_begin);
        split = maybe_json(nested, cmd);
        out.json = nested.json;
        out.nested.push_back(std::move(nested));
      } else if (!cmd.empty()) {
        out.args.emplace_back(cmd);
      }
    }
  }
  if (!split) return error_at(out.where, split.error().message());
  return parsed;
}

}  // namespace berth::build::detail
