// cli/template/detail/tree.h — the parsed form of a template, shared by the parser and the
// executor (private to cli/template/).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth::cli::tmpl::detail {

struct Pos {
  int line = 1;
  int col = 1;
};

struct Pipeline;

// One argument of a command: a term, then the fields read from it (`$x.A.B`, `(…).Name`).
struct Operand {
  enum class Kind { dot, field, variable, literal, function, pipeline };
  Kind kind = Kind::dot;
  std::string name;                // the variable ("$", "$x") or the function
  std::vector<std::string> chain;  // .A.B after the term (for `field`, the fields from the dot)
  nlohmann::json literal;
  std::shared_ptr<const Pipeline> pipe;
  Pos pos;
  std::string text;  // as written, for errors
};

struct Command {
  std::vector<Operand> args;
  Pos pos;
};

struct Pipeline {
  std::vector<std::string> decl;  // $i, $e := …
  bool assign = false;            // `=` rather than `:=`
  std::vector<Command> commands;  // joined by |
  Pos pos;
  std::string text;
};

struct Node;
using NodeList = std::vector<Node>;

struct Node {
  enum class Kind { text, action, if_, range, with, break_, continue_ };
  Kind kind = Kind::text;
  std::string text;
  std::shared_ptr<const Pipeline> pipe;
  NodeList list;
  NodeList else_list;  // {{else if}} and {{else with}} are an if/with node alone in here
  Pos pos;
};

struct Tree {
  NodeList root;
};

// Whether `name` is a function templates may call (checked while parsing, as Go does).
bool is_function(const std::string& name);

}  // namespace berth::cli::tmpl::detail
