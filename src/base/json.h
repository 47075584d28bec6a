// base/json.h — JSON that comes from outside berth (API bodies, manifests, image configs,
// archives, project files, tokens), parsed with its nesting bounded.
//
// nlohmann's parser does not recurse, but copying, comparing and dumping a value do, once per
// level: 200,000 '[' in a container's Cmd overflowed the stack of the API server that copied
// it, and of `compose config` that walked a JSON project file. No format berth reads nests past
// a few levels; kMaxJsonDepth leaves room to spare.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

namespace berth {

inline constexpr size_t kMaxJsonDepth = 512;

// As nlohmann::json::parse(text, nullptr, allow_exceptions), but a text whose arrays and
// objects nest deeper than kMaxJsonDepth is malformed: nlohmann's parse_error (101, at the
// byte that opened the level too many) is thrown, or a discarded value is returned.
nlohmann::json parse_json(std::string_view text, bool allow_exceptions = true);

// The offset of the '[' or '{' that opens level max_depth + 1 (outside strings), or npos.
size_t json_too_deep_at(std::string_view text, size_t max_depth = kMaxJsonDepth);

}  // namespace berth
