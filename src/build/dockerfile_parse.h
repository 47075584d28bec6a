// build/dockerfile_parse.h — the pieces of the Dockerfile parser shared by its .cc files:
// logical lines that remember where each character came from, the per-instruction line
// parsers, and the per-keyword checks. Internal to the front end: not part of its contract.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "build/dockerfile.h"

namespace berth::build::detail {

// A logical line: physical lines joined at continuations, each run of characters remembering
// the line and column it came from, so errors can point into the file.
class LogicalLine {
 public:
  LogicalLine(std::string file, char escape) : file_(std::move(file)), escape_(escape) {}

  void append(std::string_view piece, int line, int column);
  const std::string& text() const { return text_; }
  char escape() const { return escape_; }
  const std::string& file() const { return file_; }
  // Where the character at `offset` of text() was written (the end maps to the last one).
  SourceLocation locate(size_t offset) const;

 private:
  struct Segment {
    size_t offset;
    int line;
    int column;
  };
  std::string file_;
  char escape_;
  std::string text_;
  std::vector<Segment> segments_;
};

// One instruction as the line parsers split it, with where each flag was written.
struct ParsedLine {
  Instruction instruction;
  std::string keyword_as_written;
  std::vector<SourceLocation> flag_where;
};

// Splits the instruction that starts at `offset` of the line into keyword, flags and arguments
// (BuildKit's parser phase: only JSON arrays of non-strings are errors here). An ONBUILD
// trigger (`trigger` true) that is itself ONBUILD is not split further: that is an error anyway,
// and `ONBUILD ONBUILD ONBUILD ...` must not recurse without bound.
Result<ParsedLine> parse_line(const LogicalLine& line, size_t offset, bool trigger = false);

// The per-keyword rules (BuildKit's instructions phase): argument counts, flags and their
// values, stage names.
Result<void> check_instruction(const ParsedLine& parsed);

// Whether the instruction may carry heredocs (RUN, COPY, ADD in shell form, also as ONBUILD's
// trigger).
bool can_contain_heredoc(const Instruction& instruction);

// The heredoc markers of a line, in order, with empty contents.
std::vector<Heredoc> heredocs_in_line(std::string_view line);

// "did you mean X?" over the candidates: Levenshtein distance below 3, as BuildKit's suggest.
std::optional<std::string> suggest(std::string_view value,
                                   const std::vector<std::string_view>& options,
                                   bool case_sensitive);

Error error_at(const SourceLocation& where, std::string message);

std::string to_lower_ascii(std::string_view s);
std::string to_upper_ascii(std::string_view s);

}  // namespace berth::build::detail
