#include "registry/names.h"

#include <fnmatch.h>

#include <charconv>

namespace berth::registry {
namespace {

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`. Returns what is wrong, or empty.
std::string component_problem(std::string_view c) {
  if (c.empty()) return "an empty path component";
  if (c == "." || c == "..") return fmt::format("the path component '{}'", c);
  for (size_t i = 0; i < c.size(); ++i) {
    char ch = c[i];
    if (ch >= 'A' && ch <= 'Z')
      return fmt::format("an upper-case letter '{}' (names are lower case)", ch);
    if (alnum(ch)) continue;
    if (ch != '.' && ch != '_' && ch != '-') return fmt::format("the character '{}'", ch);
    if (i == 0 || i + 1 == c.size()) return fmt::format("'{}' at the start or end of '{}'", ch, c);
    // A separator run: ".", "_", "__" or "-+".
    size_t j = i;
    while (j < c.size() && !alnum(c[j])) ++j;
    std::string_view run = c.substr(i, j - i);
    bool ok = run == "." || run == "_" || run == "__" ||
              run.find_first_not_of('-') == std::string_view::npos;
    if (!ok) return fmt::format("the separator '{}' in '{}'", run, c);
    i = j - 1;
  }
  return "";
}

Result<uint64_t> to_u64(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    return Error::make(ErrorKind::invalid_argument, "'{}' is not a number", s);
  return v;
}

}  // namespace

Result<void> validate_repository(std::string_view name) {
  if (name.empty()) return Error(ErrorKind::invalid_argument, "repository name is empty");
  if (name.size() > 255)
    return Error::make(ErrorKind::invalid_argument,
                       "repository name '{}…' is longer than 255 characters", name.substr(0, 32));
  size_t start = 0;
  for (;;) {
    auto slash = name.find('/', start);
    std::string_view c = name.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (auto problem = component_problem(c); !problem.empty())
      return Error::make(ErrorKind::invalid_argument, "repository name '{}' has {}", name, problem);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return {};
}

Result<void> validate_tag(std::string_view tag) {
  auto ok_char = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (!first && (c == '.' || c == '-'));
  };
  if (tag.empty() || tag.size() > 128)
    return Error::make(ErrorKind::invalid_argument, "tag '{}' must have 1 to 128 characters", tag);
  for (size_t i = 0; i < tag.size(); ++i)
    if (!ok_char(tag[i], i == 0))
      return Error::make(ErrorKind::invalid_argument,
                         "tag '{}' has '{}' at {}: tags are [A-Za-z0-9_][A-Za-z0-9._-]*", tag,
                         tag[i], i);
  return {};
}

Result<ByteRange> parse_content_range(std::string_view value) {
  std::string_view v = value;
  if (v.starts_with("bytes ")) v.remove_prefix(6);
  if (v.starts_with("bytes=")) v.remove_prefix(6);
  if (auto slash = v.find('/'); slash != std::string_view::npos) v = v.substr(0, slash);
  auto dash = v.find('-');
  auto bad = [&] {
    return Error::make(ErrorKind::invalid_argument,
                       "Content-Range '{}': use <first>-<last>, e.g. 0-1023", value);
  };
  if (dash == std::string_view::npos) return bad();
  auto first = to_u64(v.substr(0, dash));
  auto last = to_u64(v.substr(dash + 1));
  if (!first || !last || *last < *first) return bad();
  return ByteRange{*first, *last};
}

Result<std::optional<ByteRange>> parse_range(std::string_view value, uint64_t size) {
  if (!value.starts_with("bytes=")) return std::optional<ByteRange>();
  std::string_view v = value.substr(6);
  if (v.find(',') != std::string_view::npos) return std::optional<ByteRange>();
  auto dash = v.find('-');
  auto unsatisfiable = [&] {
    return Error::make(ErrorKind::failed_precondition, "range '{}' is outside the blob's {} bytes",
                       value, size);
  };
  auto backwards = [&] {
    return Error::make(ErrorKind::failed_precondition, "range '{}' ends before it starts", value);
  };
  if (dash == std::string_view::npos) return std::optional<ByteRange>();
  std::string_view a = v.substr(0, dash), b = v.substr(dash + 1);
  if (a.empty()) {  // the last N bytes
    auto n = to_u64(b);
    if (!n) return std::optional<ByteRange>();
    if (*n == 0 || size == 0) return unsatisfiable();
    uint64_t count = std::min(*n, size);
    return std::optional<ByteRange>(ByteRange{size - count, size - 1});
  }
  auto first = to_u64(a);
  if (!first) return std::optional<ByteRange>();
  uint64_t last = size ? size - 1 : 0;
  if (!b.empty()) {
    auto l = to_u64(b);
    if (!l) return std::optional<ByteRange>();
    if (*l < *first) return backwards();
    last = std::min(*l, last);
  }
  if (*first >= size) return unsatisfiable();
  return std::optional<ByteRange>(ByteRange{*first, last});
}

bool glob_match(std::string_view pattern, std::string_view text) {
  return ::fnmatch(std::string(pattern).c_str(), std::string(text).c_str(), 0) == 0;
}

}  // namespace berth::registry
