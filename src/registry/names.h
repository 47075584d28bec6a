// registry/names.h — the distribution spec's grammars: repository names, tags, Content-Range of
// chunked uploads, Range of blob reads; and the glob patterns access rules are written in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace berth::registry {

// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255 bytes.
// The error (invalid_argument) names the name and what is wrong with it.
Result<void> validate_repository(std::string_view name);
// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
Result<void> validate_tag(std::string_view tag);

struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
  uint64_t size() const { return last - first + 1; }
};

// A chunk's `Content-Range: <first>-<last>` (the spec's form; "bytes " prefix and "/total"
// suffix tolerated). invalid_argument when malformed or last < first.
Result<ByteRange> parse_content_range(std::string_view value);

// A blob read's `Range: bytes=<first>-[<last>]` or `bytes=-<suffix>` against a blob of `size`
// bytes: the range to send (last clamped to the end). nullopt for a syntax the server ignores
// (several ranges); failed_precondition when it cannot be satisfied or ends before it starts
// (→ 416, RFC 9110 14.2).
Result<std::optional<ByteRange>> parse_range(std::string_view value, uint64_t size);

// Shell-style glob ('*' matches any run of characters, '/' included; '?' one character).
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace berth::registry
