// oci/detail/json_fields.h — reading spec JSON with errors that name the field path
// ("process.rlimits[1].hard: expected a non-negative integer, got -1"). Private to oci/: only
// its .cc files include it (it brings nlohmann in).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/json.h"

namespace berth::oci::detail {

using nlohmann::json;

// Thrown only inside oci/*.cc and turned into an Error by parse_with().
struct FieldError {
  std::string path;
  std::string message;
};

[[noreturn]] inline void fail(const std::string& path, std::string message) {
  throw FieldError{path, std::move(message)};
}

inline std::string child(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
inline std::string index(const std::string& path, size_t i) { return fmt::format("{}[{}]", path, i); }

inline std::string as_string(const json& j, const std::string& path) {
  if (!j.is_string()) fail(path, fmt::format("expected a string, got {}", j.type_name()));
  return j.get<std::string>();
}
inline bool as_bool(const json& j, const std::string& path) {
  if (!j.is_boolean()) fail(path, fmt::format("expected true or false, got {}", j.type_name()));
  return j.get<bool>();
}
inline int64_t as_int(const json& j, const std::string& path) {
  if (!j.is_number_integer()) fail(path, fmt::format("expected an integer, got {}", j.dump()));
  return j.get<int64_t>();
}
inline uint64_t as_uint(const json& j, const std::string& path) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer() && j.get<int64_t>() >= 0) return static_cast<uint64_t>(j.get<int64_t>());
  fail(path, fmt::format("expected a non-negative integer, got {}", j.dump()));
}
inline uint32_t as_u32(const json& j, const std::string& path) {
  uint64_t v = as_uint(j, path);
  if (v > UINT32_MAX) fail(path, fmt::format("value {} is out of range", v));
  return static_cast<uint32_t>(v);
}
inline uint16_t as_u16(const json& j, const std::string& path) {
  uint64_t v = as_uint(j, path);
  if (v > UINT16_MAX) fail(path, fmt::format("value {} is out of range", v));
  return static_cast<uint16_t>(v);
}

inline const json& object(const json& j, const std::string& path) {
  if (!j.is_object()) fail(path, fmt::format("expected an object, got {}", j.type_name()));
  return j;
}
inline const json& array(const json& j, const std::string& path) {
  if (!j.is_array()) fail(path, fmt::format("expected an array, got {}", j.type_name()));
  return j;
}

// Calls fn(value, path) for a present, non-null member.
template <typename Fn>
void opt(const json& obj, std::string_view key, const std::string& path, Fn fn) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;
  const std::string at = child(path, key);
  fn(*it, at);
}
inline const json& required(const json& obj, std::string_view key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) fail(child(path, key), "required field missing");
  return *it;
}

inline std::vector<std::string> strings(const json& j, const std::string& path) {
  array(j, path);
  std::vector<std::string> out;
  for (size_t i = 0; i < j.size(); ++i) out.push_back(as_string(j[i], index(path, i)));
  return out;
}

template <typename T, typename Fn>
std::vector<T> list(const json& j, const std::string& path, Fn fn) {
  array(j, path);
  std::vector<T> out;
  for (size_t i = 0; i < j.size(); ++i) out.push_back(fn(j[i], index(path, i)));
  return out;
}

inline std::map<std::string, std::string> string_map(const json& j, const std::string& path) {
  object(j, path);
  std::map<std::string, std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out[it.key()] = as_string(it.value(), child(path, it.key()));
  return out;
}

// Parses `text` and hands it to fn; malformed JSON names `source` and the position, a
// FieldError names `source` and the field path.
template <typename T, typename Fn>
Result<T> parse_with(std::string_view text, std::string_view source, Fn fn) {
  json j = parse_json(text, false);
  if (j.is_discarded()) {
    // Re-parse with exceptions to get the position of the first error.
    try {
      auto unused = parse_json(text);
      (void)unused;
    } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e309
      std::string what = e.what();
      auto pos = what.find("] ");
      return Error::make(ErrorKind::invalid_argument, "{}: malformed JSON: {}", source,
                         pos == std::string::npos ? what : what.substr(pos + 2));
    }
    return Error::make(ErrorKind::invalid_argument, "{}: malformed JSON", source);
  }
  try {
    return fn(j);
  } catch (const FieldError& e) {
    return Error::make(ErrorKind::invalid_argument, "{}: {}: {}", source, e.path.empty() ? "(top)" : e.path,
                       e.message);
  }
}

}  // namespace berth::oci::detail
