// build/dockerfile.h — Dockerfiles as BuildKit's frontend parses them: parser directives
// (`# syntax=`, `# escape=`), comments, line continuations, heredocs, JSON and shell forms,
// flags, stages. Pure text → data, no I/O; errors name the file, line and column.
//
// Nothing is expanded here: variables are substituted later (build/shell_words.h), per
// instruction and with the environment in force at that step, exactly where docker does it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace berth::build {

struct SourceLocation {
  std::string file;  // as given to parse_dockerfile ("Dockerfile", "-")
  int line = 0;      // 1-based: the instruction's first line
  int column = 0;    // 1-based
};

// "Dockerfile:3:5: ..." as the prefix of every error about a place in the file.
std::string to_string(const SourceLocation& where);

// `<<EOF` (expand = true), `<<"EOF"` / `<<'EOF'` (expand = false), `<<-EOF` (chomp = true:
// leading tabs are removed from each line). `content` holds the body lines as written, each
// with its line ending (the last one has none if the file ends there), already chomped when
// chomp is true (chomping again changes nothing); the terminator line is not included.
struct Heredoc {
  std::string name;
  std::string content;
  bool expand = true;
  bool chomp = false;
};

// `--name=value` or a bare `--name` (value empty, has_value false), in the order written.
struct Flag {
  std::string name;
  std::string value;
  bool has_value = true;
};

struct Instruction {
  std::string keyword;  // upper case: "RUN", "COPY", ... (the parser accepts any case)
  std::vector<Flag> flags;
  // The arguments, as docker's parser splits them for this keyword (quotes are kept; the
  // shell-words expander removes them where docker does):
  //  - JSON (exec) form, when `json` is true: the array's strings, already unescaped.
  //  - RUN, CMD, ENTRYPOINT, SHELL (shell form), HEALTHCHECK's CMD, MAINTAINER, ONBUILD's
  //    trigger, and (as docker's parseString) WORKDIR, USER, STOPSIGNAL: one string, the rest
  //    of the logical line (continuations joined): `WORKDIR /my dir` is {"/my dir"}.
  //  - ENV and LABEL: `pairs`, key and value (the old `ENV key value` form gives one pair).
  //  - ARG: `pairs`, name and the default when there is one (`ARG name` → nullopt).
  //  - everything else (FROM, COPY, ADD, EXPOSE, VOLUME): the whitespace-separated words of
  //    the line (COPY/ADD/VOLUME may also be JSON). Heredoc markers stay among the words
  //    (`COPY <<EOF /dst` has args {"<<EOF", "/dst"}).
  //  - HEALTHCHECK: {"NONE"}, or {"CMD"} with the command in `nested` (json set as its).
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::optional<std::string>>> pairs;
  bool json = false;
  std::vector<Heredoc> heredocs;  // in the order the `<<` markers appear on the line
  // HEALTHCHECK CMD ... and ONBUILD INSTRUCTION: the nested instruction, split the same way
  // (HEALTHCHECK NONE has args {"NONE"} and no nested instruction). As docker, an ONBUILD
  // trigger's own flags and arguments are checked only when it runs, in the child build; its
  // heredocs are on both the trigger and the ONBUILD instruction.
  std::vector<Instruction> nested;
  std::string original;  // the logical line as written (continuations joined), for history
  SourceLocation where;
};

struct Stage {
  std::string base;                       // FROM's image, stage name or "scratch", not yet expanded
  std::string name;                       // AS name, lower-cased; empty when unnamed
  std::optional<std::string> platform;    // FROM --platform=
  int index = 0;                          // position among the stages
  Instruction from;                       // the FROM instruction itself
  std::vector<Instruction> instructions;  // after FROM
};

struct Dockerfile {
  std::string syntax;  // `# syntax=` (recorded; berth always uses its own frontend)
  char escape = '\\';
  std::vector<Instruction> meta_args;  // ARGs before the first FROM
  std::vector<Stage> stages;
};

// Parses a whole Dockerfile. Errors (invalid_argument) say where and what, e.g.
//   "Dockerfile:4:1: unknown instruction: RUNN (did you mean RUN?)"
//   "Dockerfile:2:1: COPY requires at least two arguments"
//   "Dockerfile:1:1: no FROM instruction: a Dockerfile starts with FROM (or ARG before FROM)"
//   "Dockerfile:7:13: unknown flag for COPY: --form (did you mean --from?)"
// Each keyword's flags are checked here (names, and values where the set is fixed); an empty
// file and instructions before the first FROM other than ARG are errors.
Result<Dockerfile> parse_dockerfile(std::string_view text, std::string_view file_name);

// The heredoc a word stands for, if it is a marker (`<<EOF`, `<<-"EOF"`, `2<<EOF`, `<< EOF`):
// its name unquoted, expand and chomp set, content empty. As BuildKit's ParseHeredoc, which its
// executor uses to tell COPY/ADD heredoc sources from paths and a RUN that is one heredoc.
std::optional<Heredoc> parse_heredoc_marker(std::string_view word);

// ONBUILD: the trigger as docker stores it in the image config's OnBuild list: the instruction
// after ONBUILD, then for each heredoc "\n", its body and its name ("RUN <<EOF\nhi\nEOF").
std::string onbuild_expression(const Instruction& onbuild);

// One ONBUILD trigger from a base image's config, parsed as a child build runs it: a single
// instruction (with its heredocs), checked as one of a stage's; FROM is refused (as docker, a
// trigger may be anything a stage may hold). Locations read "ONBUILD:1:1".
Result<Instruction> parse_onbuild_trigger(std::string_view trigger);

// A Go duration ("30s", "1m30s", "1.5h", "0"), as HEALTHCHECK's flags take them, in
// nanoseconds. Errors read as Go's: `time: invalid duration "x"`.
Result<std::int64_t> parse_go_duration(std::string_view text);

// The keywords of the Dockerfile reference (upper case), for "did you mean" and fuzzing.
const std::vector<std::string_view>& dockerfile_keywords();

}  // namespace berth::build
