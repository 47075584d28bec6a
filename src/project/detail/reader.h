// project/detail/reader.h — typed reads from the JSON tree with errors that name the file, the
// path and the value: `compose.yaml: services.web.ports[1]: "80:80:80" is not a port mapping`.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "project/detail/json.h"

namespace berth::project::detail {

struct Ctx {
  std::string file;
  std::vector<std::string>* warnings = nullptr;
  bool unknown_is_error = false;  // JSON project files; Compose files only warn
};

std::string show(const nlohmann::json& v);  // "\"text\"", 80, {...}
Error invalid(const Ctx& ctx, std::string_view path, const nlohmann::json& v, std::string_view why);
Error invalid_at(const Ctx& ctx, std::string_view path, std::string_view why);

// Every key of `obj` must be in `known` (x-* always allowed where `extensions`).
Result<void> check_keys(const Ctx& ctx, std::string_view path, const nlohmann::json& obj,
                        std::initializer_list<std::string_view> known, bool extensions = true);
Result<void> expect_object(const Ctx& ctx, std::string_view path, const nlohmann::json& v);

Result<std::string> read_string(const Ctx& ctx, std::string_view path, const nlohmann::json& v);
Result<int64_t> read_int(const Ctx& ctx, std::string_view path, const nlohmann::json& v,
                         int64_t min, int64_t max);
Result<double> read_number(const Ctx& ctx, std::string_view path, const nlohmann::json& v);
Result<bool> read_bool(const Ctx& ctx, std::string_view path, const nlohmann::json& v);
// A string or a list of strings.
Result<std::vector<std::string>> read_strings(const Ctx& ctx, std::string_view path,
                                              const nlohmann::json& v);
// A map, or a list of "KEY=VALUE" ("KEY" alone: value null). Values null stay nullopt.
Result<std::map<std::string, std::optional<std::string>>> read_key_values(const Ctx& ctx,
                                                                          std::string_view path,
                                                                          const nlohmann::json& v);
// A computed amount (milliseconds, bytes) as an integer: at most 2^53 (exact in a double, and
// beyond any real duration or size), else "is too large" (casting a larger double is undefined).
inline constexpr double kMaxAmount = 9007199254740992.0;
Result<int64_t> checked_amount(const Ctx& ctx, std::string_view path, const nlohmann::json& v,
                               double amount);
// "1m30s", "10s", "500ms", "1h", a plain number of seconds.
Result<int64_t> read_duration_ms(const Ctx& ctx, std::string_view path, const nlohmann::json& v);
// "64m", "1g", "512MB", bytes.
Result<int64_t> read_size(const Ctx& ctx, std::string_view path, const nlohmann::json& v);

std::string join(std::string_view path,
                 std::string_view key);              // "services" + "web" → "services.web"
std::string index(std::string_view path, size_t i);  // "ports" + 1 → "ports[1]"

// `path` against the directory `base` ("/srv/app" + "../x" → "/srv/x"), "." and ".." resolved;
// an absolute path is only normalised.
std::string resolve_path(std::string_view base, std::string_view path);

// Splits a command string as a POSIX shell would split words (quotes, backslashes), no expansion.
Result<std::vector<std::string>> shell_split(std::string_view text);

}  // namespace berth::project::detail
