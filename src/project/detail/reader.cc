#include "project/detail/reader.h"

#include <cctype>
#include <cmath>

namespace berth::project::detail {

std::string show(const nlohmann::json& v) {
  std::string s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return s.size() > 120 ? s.substr(0, 117) + "..." : s;
}

Error invalid(const Ctx& ctx, std::string_view path, const nlohmann::json& v,
              std::string_view why) {
  return Error::make(ErrorKind::invalid_argument, "{}: {}: {} {}", ctx.file, path, show(v), why);
}

Error invalid_at(const Ctx& ctx, std::string_view path, std::string_view why) {
  return Error::make(ErrorKind::invalid_argument, "{}: {}: {}", ctx.file, path, why);
}

std::string join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}
std::string index(std::string_view path, size_t i) { return fmt::format("{}[{}]", path, i); }

Result<void> expect_object(const Ctx& ctx, std::string_view path, const nlohmann::json& v) {
  if (!v.is_object()) return invalid(ctx, path, v, "is not a mapping");
  return {};
}

Result<void> check_keys(const Ctx& ctx, std::string_view path, const nlohmann::json& obj,
                        std::initializer_list<std::string_view> known, bool extensions) {
  BERTH_TRY_VOID(expect_object(ctx, path, obj));
  for (auto& [k, v] : obj.items()) {
    bool ok = false;
    for (auto name : known) ok |= name == k;
    if (ok || (extensions && k.starts_with("x-"))) continue;
    if (ctx.unknown_is_error)
      return Error::make(ErrorKind::invalid_argument, "{}: {}: unknown field", ctx.file,
                         join(path, k));
    if (ctx.warnings)
      ctx.warnings->push_back(
          fmt::format("{}: {}: unknown field, ignored", ctx.file, join(path, k)));
  }
  return {};
}

Result<std::string> read_string(const Ctx& ctx, std::string_view path, const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return fmt::format("{}", v.get<double>());
  if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
  return invalid(ctx, path, v, "is not a string");
}

Result<int64_t> read_int(const Ctx& ctx, std::string_view path, const nlohmann::json& v,
                         int64_t min, int64_t max) {
  int64_t n = 0;
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
  } else if (v.is_string() && !v.get<std::string>().empty()) {
    const std::string& s = v.get_ref<const std::string&>();
    size_t start = s[0] == '-' ? 1 : 0;
    if (start == s.size() || s.size() > 18 ||
        s.find_first_not_of("0123456789", start) != std::string::npos)
      return invalid(ctx, path, v, "is not an integer");
    n = std::stoll(s);
  } else {
    return invalid(ctx, path, v, "is not an integer");
  }
  if (n < min || n > max) return invalid(ctx, path, v, fmt::format("is not in {}..{}", min, max));
  return n;
}

Result<double> read_number(const Ctx& ctx, std::string_view path, const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == 0 && std::isfinite(d)) return d;
  }
  return invalid(ctx, path, v, "is not a number");
}

Result<bool> read_bool(const Ctx& ctx, std::string_view path, const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s == "true" || s == "yes" || s == "1") return true;
    if (s == "false" || s == "no" || s == "0") return false;
  }
  return invalid(ctx, path, v, "is not true or false");
}

Result<std::vector<std::string>> read_strings(const Ctx& ctx, std::string_view path,
                                              const nlohmann::json& v) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (!v.is_array()) {
    BERTH_TRY(auto s, read_string(ctx, path, v));
    out.push_back(s);
    return out;
  }
  for (size_t i = 0; i < v.size(); ++i) {
    BERTH_TRY(auto s, read_string(ctx, index(path, i), v[i]));
    out.push_back(s);
  }
  return out;
}

Result<std::map<std::string, std::optional<std::string>>> read_key_values(const Ctx& ctx,
                                                                          std::string_view path,
                                                                          const nlohmann::json& v) {
  std::map<std::string, std::optional<std::string>> out;
  if (v.is_null()) return out;
  if (v.is_object()) {
    for (auto& [k, val] : v.items()) {
      if (val.is_null()) {
        out[k] = std::nullopt;
        continue;
      }
      if (val.is_object() || val.is_array())
        return invalid(ctx, join(path, k), val, "is not a string");
      BERTH_TRY(auto s, read_string(ctx, join(path, k), val));
      out[k] = s;
    }
    return out;
  }
  if (!v.is_array()) return invalid(ctx, path, v, "is neither a mapping nor a list of KEY=VALUE");
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) return invalid(ctx, index(path, i), v[i], "is not KEY=VALUE");
    std::string s = v[i].get<std::string>();
    auto eq = s.find('=');
    if (eq == 0 || s.empty()) return invalid(ctx, index(path, i), v[i], "is not KEY=VALUE");
    if (eq == std::string::npos)
      out[s] = std::nullopt;
    else
      out[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return out;
}

Result<int64_t> checked_amount(const Ctx& ctx, std::string_view path, const nlohmann::json& v,
                               double amount) {
  if (!(amount >= 0 && amount <= kMaxAmount)) return invalid(ctx, path, v, "is too large");
  return static_cast<int64_t>(amount);
}

Result<int64_t> read_duration_ms(const Ctx& ctx, std::string_view path, const nlohmann::json& v) {
  if (v.is_number()) {
    double d = v.get<double>();
    if (d < 0) return invalid(ctx, path, v, "is not a duration");
    return checked_amount(ctx, path, v, d * 1000);
  }
  if (!v.is_string()) return invalid(ctx, path, v, "is not a duration (\"1m30s\", \"500ms\")");
  const std::string& s = v.get_ref<const std::string&>();
  double total = 0;
  size_t i = 0;
  if (s.empty()) return invalid(ctx, path, v, "is not a duration (\"1m30s\", \"500ms\")");
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (start == i) return invalid(ctx, path, v, "is not a duration (\"1m30s\", \"500ms\")");
    double n = std::strtod(s.substr(start, i - start).c_str(), nullptr);
    size_t ustart = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    std::string unit = s.substr(ustart, i - ustart);
    double scale = unit == "h"    ? 3600e3
                   : unit == "m"  ? 60e3
                   : unit == "s"  ? 1e3
                   : unit == "ms" ? 1
                   : unit == "us" ? 1e-3
                                  : -1;
    if (unit.empty() && i == s.size() && start == 0) scale = 1e3;  // a bare number: seconds
    if (scale < 0) return invalid(ctx, path, v, "is not a duration (\"1m30s\", \"500ms\")");
    total += n * scale;
  }
  return checked_amount(ctx, path, v, total);
}

Result<int64_t> read_size(const Ctx& ctx, std::string_view path, const nlohmann::json& v) {
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<int64_t>();
  if (!v.is_string()) return invalid(ctx, path, v, "is not a size (\"64m\", \"1g\")");
  std::string s = v.get<std::string>();
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return invalid(ctx, path, v, "is not a size (\"64m\", \"1g\")");
  double n = std::strtod(s.substr(0, i).c_str(), nullptr);
  std::string unit = s.substr(i);
  if (unit.size() == 2 && unit[1] == 'b') unit.pop_back();
  if (unit == "b") unit.clear();
  double scale = unit.empty()  ? 1
                 : unit == "k" ? 1024.0
                 : unit == "m" ? 1024.0 * 1024
                 : unit == "g" ? 1024.0 * 1024 * 1024
                               : -1;
  if (scale < 0) return invalid(ctx, path, v, "is not a size (\"64m\", \"1g\")");
  return checked_amount(ctx, path, v, n * scale);
}

std::string resolve_path(std::string_view base, std::string_view path) {
  std::vector<std::string_view> parts;
  auto add = [&](std::string_view text) {
    size_t start = 0;
    while (start <= text.size()) {
      size_t slash = text.find('/', start);
      std::string_view part = text.substr(
          start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
      if (part == "..") {
        if (!parts.empty()) parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.push_back(part);
      }
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
  };
  if (path.empty() || path[0] != '/') add(base);
  add(path);
  std::string out;
  for (auto p : parts) out += fmt::format("/{}", p);
  return out.empty() ? "/" : out;
}

Result<std::vector<std::string>> shell_split(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) out.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      size_t end = text.find('\'', i + 1);
      if (end == std::string_view::npos)
        return Error::make(ErrorKind::invalid_argument, "unterminated ' in \"{}\"", text);
      word += text.substr(i + 1, end - i - 1);
      i = end;
      in_word = true;
    } else if (c == '"') {
      size_t k = i + 1;
      for (; k < text.size() && text[k] != '"'; ++k) {
        if (text[k] == '\\' && k + 1 < text.size() &&
            std::string_view("\"\\$`").find(text[k + 1]) != std::string_view::npos)
          ++k;
        word += text[k];
      }
      if (k >= text.size())
        return Error::make(ErrorKind::invalid_argument, "unterminated \" in \"{}\"", text);
      i = k;
      in_word = true;
    } else if (c == '\\' && i + 1 < text.size()) {
      word += text[++i];
      in_word = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(std::move(word));
  return out;
}

}  // namespace berth::project::detail
