// monitor/detail/json_text.h — JSON string escaping for the records the monitor writes
// (log.jsonl, health.json): the monitor links no JSON library, to stay small.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace berth::monitor::detail {

// Appends `text` to `out` as the inside of a JSON string (no quotes added).
inline void append_json_escaped(std::string& out, std::string_view text) {
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
  }
}

}  // namespace berth::monitor::detail
