// project/detail/json.h — the readers' shared tree: YAML is turned into nlohmann JSON once, so
// both formats are read, merged and validated by the same code. Private to project/.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "base/error.h"

namespace berth::project::detail {

// YAML 1.2 core schema scalars: plain true/false, null/~/empty, integers and floats become JSON
// types; quoted scalars stay strings. `<<` merge keys are applied. Errors: "file:3:7: message".
Result<nlohmann::json> yaml_to_json(std::string_view text, std::string_view file);

// What yaml_to_json makes of an unquoted scalar: null, a bool, a number or the string itself.
// The YAML writer quotes every string that would not read back as itself.
nlohmann::json plain_scalar(const std::string& s);

// nlohmann parse without exceptions: "file: line 3, column 7: message".
Result<nlohmann::json> parse_json(std::string_view text, std::string_view file);

}  // namespace berth::project::detail
