// Bounded JSON parsing: a scan for the nesting depth, then nlohmann.
#include "base/json.h"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

namespace berth {

size_t json_too_deep_at(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character, a quote perhaps
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string_view::npos;
}

nlohmann::json parse_json(std::string_view text, bool allow_exceptions) {
  if (const size_t at = json_too_deep_at(text); at != std::string_view::npos) {
    if (!allow_exceptions) return nlohmann::json(nlohmann::json::value_t::discarded);
    throw nlohmann::json::parse_error::create(
        101, at + 1, fmt::format("arrays and objects nested more than {} deep", kMaxJsonDepth),
        nullptr);
  }
  return nlohmann::json::parse(text, nullptr, allow_exceptions);
}

}  // namespace berth
