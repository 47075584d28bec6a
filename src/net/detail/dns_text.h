// net/detail/dns_text.h — line and field splitting shared by the names file and resolv.conf
// readers.
#pragma once

#include <string_view>
#include <vector>

namespace berth::net::dns::detail {

// Takes the next line (without its '\n', and without what follows `comment_chars`) off `text`.
// False when no line is left.
inline bool take_line(std::string_view& text, std::string_view& line,
                      std::string_view comment_chars = "#") {
  if (text.empty()) return false;
  const size_t newline = text.find('\n');
  line = text.substr(0, newline);
  text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
  line = line.substr(0, line.find_first_of(comment_chars));
  return true;
}

// The fields of a line, split at spaces, tabs and carriage returns.
inline std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> fields;
  constexpr std::string_view kSpace = " \t\r";
  size_t at = line.find_first_not_of(kSpace);
  while (at != std::string_view::npos) {
    const size_t end = line.find_first_of(kSpace, at);
    fields.push_back(line.substr(at, end == std::string_view::npos ? end : end - at));
    at = line.find_first_not_of(kSpace, end == std::string_view::npos ? line.size() : end);
  }
  return fields;
}

}  // namespace berth::net::dns::detail
