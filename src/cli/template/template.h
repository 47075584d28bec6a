// cli/template/template.h — Go's text/template language, as `docker … --format` speaks it,
// over JSON values: text and {{actions}} with {{- -}} trimming, field chains (.A.B, $x.A),
// variables, pipelines, if/else if/with/range/break/continue, Go's built-in functions (and,
// or, not, len, index, slice, eq…ge, print, printf, println) and docker's (json, split, join,
// title, lower, upper, pad, truncate). Not supported: define, template, block, call, html, js,
// urlquery.
//
// Values print as Go's fmt %v prints what encoding/json decodes: strings bare, arrays as
// [a b], objects as map[k:v] (keys sorted), null as <nil>, a missing map key as <no value>.
// An object whose keys all look like Go's exported field names (A–Z first) stands for a
// struct: a field it lacks is an error that lists the fields it has, and a field that differs
// only in case is found (.Time finds "time", as docker's typed structs do). Other objects are
// maps (labels, attributes). A Template is immutable once parsed; execute() is const and may
// run on many threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::cli::tmpl {

namespace detail {
struct Tree;
}

// A method of the dot: `{{.Label "com.example.x"}}` calls "Label" with ["com.example.x"].
// A method without arguments also reads as a field (`{{.Status}}`).
using Method = std::function<Result<nlohmann::json>(const std::vector<nlohmann::json>& args)>;

struct Context {
  std::string name;                       // "ps": errors say "(ps has: …)"
  std::vector<std::string> fields;        // the dot's fields in the order errors list them
  std::map<std::string, Method> methods;  // on the top-level dot only
  // Docker renders a table's header by running the template on a map of column names with the
  // text functions (json, split, join, title, lower, upper, truncate) returning their input.
  bool header = false;
  // Bounds on one execution, so that no format spins or fills memory (Go's text/template has
  // none): the nodes it may walk (a range walks its body once per element, so nested ranges
  // multiply) and the bytes of its output or of any value a function makes.
  size_t max_steps = 10'000'000;
  size_t max_text = 8 << 20;
};

class Template {
 public:
  // Parses `text`. A syntax error names its place: "template: 1:9: unclosed action".
  [[nodiscard]] static Result<Template> parse(std::string_view text);

  // Runs the template with `dot` as `.` and `$`. Errors read "template: no field 'Nmae' (ps
  // has: ID, Image, …)" or "template: 1:3: <index .X 5>: index 5 out of range".
  [[nodiscard]] Result<std::string> execute(const nlohmann::json& dot,
                                            const Context& context = {}) const;

 private:
  explicit Template(std::shared_ptr<const detail::Tree> tree) : tree_(std::move(tree)) {}
  std::shared_ptr<const detail::Tree> tree_;
};

// How Go's fmt %v prints a JSON value (see above).
std::string to_text(const nlohmann::json& value);

}  // namespace berth::cli::tmpl
