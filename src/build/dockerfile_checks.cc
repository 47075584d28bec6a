// build/dockerfile_checks.cc — the per-keyword rules of BuildKit's instructions package
// (instructions/parse.go, bflag.go): argument counts, flags and their values, stage names, with
// docker's messages; and Go's duration syntax for HEALTHCHECK.
#include <algorithm>
#include <limits>
#include <map>

#include "build/dockerfile.h"
#include "build/dockerfile_parse.h"
#include "build/shell_words_lexer.h"

namespace berth::build::detail {
namespace {

enum class FlagType { kBool, kString, kStrings };
using FlagSpec = std::vector<std::pair<std::string_view, FlagType>>;

const FlagSpec& flags_for(std::string_view keyword) {
  static const std::map<std::string_view, FlagSpec> specs = {
      {"FROM", {{"platform", FlagType::kString}}},
      {"RUN",
       {{"mount", FlagType::kStrings},
        {"network", FlagType::kString},
        {"security", FlagType::kString},
        {"device", FlagType::kStrings}}},
      {"COPY",
       {{"from", FlagType::kString},
        {"chown", FlagType::kString},
        {"chmod", FlagType::kString},
        {"link", FlagType::kBool},
        {"parents", FlagType::kBool},
        {"exclude", FlagType::kStrings}}},
      {"ADD",
       {{"chown", FlagType::kString},
        {"chmod", FlagType::kString},
        {"link", FlagType::kBool},
        {"keep-git-dir", FlagType::kBool},
        {"checksum", FlagType::kString},
        {"unpack", FlagType::kBool},
        {"exclude", FlagType::kStrings}}},
      {"HEALTHCHECK",
       {{"interval", FlagType::kString},
        {"timeout", FlagType::kString},
        {"start-period", FlagType::kString},
        {"start-interval", FlagType::kString},
        {"retries", FlagType::kString}}},
  };
  static const FlagSpec none;
  auto it = specs.find(keyword);
  return it == specs.end() ? none : it->second;
}

// BuildKit's BFlags.Parse: known names, no repeats but for list flags, values where needed.
Result<void> check_flags(const ParsedLine& parsed) {
  const Instruction& in = parsed.instruction;
  const FlagSpec& spec = flags_for(in.keyword);
  std::vector<std::string_view> names;
  for (const auto& [name, type] : spec) names.push_back(name);
  std::vector<std::string_view> seen;
  for (size_t i = 0; i < in.flags.size(); ++i) {
    const Flag& flag = in.flags[i];
    const SourceLocation& where = parsed.flag_where[i];
    auto known = std::find_if(spec.begin(), spec.end(),
                              [&](const auto& entry) { return entry.first == flag.name; });
    if (known == spec.end()) {
      std::string message = fmt::format("unknown flag for {}: --{}", in.keyword, flag.name);
      if (auto match = suggest(flag.name, names, true)) {
        message += fmt::format(" (did you mean --{}?)", *match);
      }
      return error_at(where, message);
    }
    FlagType type = known->second;
    if (std::find(seen.begin(), seen.end(), known->first) != seen.end() &&
        type != FlagType::kStrings) {
      return error_at(where, fmt::format("duplicate flag specified: --{}", flag.name));
    }
    if (std::find(seen.begin(), seen.end(), known->first) == seen.end()) {
      seen.push_back(known->first);
    }
    if (type == FlagType::kBool) {
      if (flag.has_value && flag.value.empty()) {
        return error_at(where, fmt::format("missing a value on flag: --{}", flag.name));
      }
      std::string value = to_lower_ascii(flag.value);
      if (value != "true" && value != "false" && value != "") {
        return error_at(where, fmt::format("expecting boolean value for flag --{}, not: {}",
                                           flag.name, flag.value));
      }
    } else if (!flag.has_value) {
      return error_at(where, fmt::format("missing a value on flag: --{}", flag.name));
    }
  }
  return {};
}

const Flag* find_flag(const Instruction& in, std::string_view name) {
  const Flag* found = nullptr;
  for (const auto& flag : in.flags) {
    if (flag.name == name) found = &flag;
  }
  return found;
}

// Go's strconv.ParseInt(s, 10, 32), for --retries.
Result<long long> parse_int32(std::string_view s) {
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Error::make(ErrorKind::invalid_argument,
                       "strconv.ParseInt: parsing \"{}\": invalid syntax", s);
  }
  long long value = 0;
  for (char c : digits) {
    value = value * 10 + (c - '0');
    if (value > (1LL << 31)) {
      return Error::make(ErrorKind::invalid_argument,
                         "strconv.ParseInt: parsing \"{}\": value out of range", s);
    }
  }
  if (!negative && value == (1LL << 31)) {
    return Error::make(ErrorKind::invalid_argument,
                       "strconv.ParseInt: parsing \"{}\": value out of range", s);
  }
  return negative ? -value : value;
}

Result<void> check_healthcheck(const ParsedLine& parsed) {
  const Instruction& in = parsed.instruction;
  const SourceLocation& where = in.where;
  if (in.args.empty()) return error_at(where, "HEALTHCHECK requires at least one argument");
  std::string type = to_upper_ascii(in.args[0]);
  if (type == "NONE") {
    // BuildKit reads no flags for NONE.
    if (in.args.size() > 1) return error_at(where, "HEALTHCHECK NONE takes no arguments");
    return {};
  }
  BERTH_TRY_VOID(check_flags(parsed));
  if (type != "CMD") {
    return error_at(where, fmt::format("Unknown type \"{}\" in HEALTHCHECK (try CMD)", type));
  }
  if (in.nested.empty() || in.nested[0].args.empty()) {
    return error_at(where, "Missing command after HEALTHCHECK CMD");
  }
  for (size_t i = 0; i < in.flags.size(); ++i) {
    const Flag& flag = in.flags[i];
    const SourceLocation& flag_where = parsed.flag_where[i];
    if (flag.name == "retries") {
      if (flag.value.empty()) continue;
      auto retries = parse_int32(flag.value);
      if (!retries) return error_at(flag_where, retries.error().message());
      if (*retries < 0) {
        return error_at(flag_where, fmt::format("--retries cannot be negative ({})", *retries));
      }
      continue;
    }
    if (flag.value.empty()) continue;
    auto duration = parse_go_duration(flag.value);
    if (!duration) return error_at(flag_where, duration.error().message());
    if (*duration != 0 && *duration < 1'000'000) {
      return error_at(flag_where,
                      fmt::format("Interval \"{}\" cannot be less than 1ms", flag.name));
    }
  }
  return {};
}

Result<void> check_from(const ParsedLine& parsed) {
  const Instruction& in = parsed.instruction;
  const auto& args = in.args;
  if (args.size() == 3 && to_lower_ascii(args[1]) == "as") {
    std::string name = to_lower_ascii(args[2]);
    bool valid = !name.empty() && name[0] >= 'a' && name[0] <= 'z' &&
                 std::all_of(name.begin(), name.end(), [](char c) {
                   return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                          c == '_' || c == '.';
                 });
    if (!valid) {
      return error_at(in.where, fmt::format("invalid name for build stage: \"{}\", name can't "
                                            "start with a number or contain symbols",
                                            args[2]));
    }
  } else if (args.size() != 1) {
    return error_at(in.where, "FROM requires either one or three arguments");
  }
  return check_flags(parsed);
}

}  // namespace

Result<void> check_instruction(const ParsedLine& parsed) {
  const Instruction& in = parsed.instruction;
  const std::string& k = in.keyword;
  const SourceLocation& where = in.where;
  auto fail = [&](std::string message) -> Result<void> { return error_at(where, message); };
  auto exactly_one = [&]() -> Result<void> {
    if (in.args.size() != 1) return fail(fmt::format("{} requires exactly one argument", k));
    return {};
  };
  auto at_least_one = [&]() -> Result<void> {
    if (in.args.empty() && in.pairs.empty()) {
      return fail(fmt::format("{} requires at least one argument", k));
    }
    return {};
  };

  if (k == "FROM") return check_from(parsed);
  if (k == "HEALTHCHECK") return check_healthcheck(parsed);
  if (k == "ENV" || k == "LABEL") {
    BERTH_TRY_VOID(check_flags(parsed));
    BERTH_TRY_VOID(at_least_one());
    for (const auto& [key, value] : in.pairs) {
      if (key.empty()) return fail(fmt::format("{} names can not be blank", k));
    }
    return {};
  }
  if (k == "ARG") {
    BERTH_TRY_VOID(at_least_one());
    for (const auto& [key, value] : in.pairs) {
      if (key.empty()) return fail("ARG names can not be blank");
    }
    return check_flags(parsed);
  }
  if (k == "COPY" || k == "ADD") {
    if (in.args.size() < 2) {
      return fail(
          fmt::format("{} requires at least two arguments, but only one was provided. "
                      "Destination could not be determined",
                      k));
    }
    BERTH_TRY_VOID(check_flags(parsed));
    if (parse_heredoc_marker(in.args.back())) {
      return fail(fmt::format("{} cannot accept a heredoc as a destination", k));
    }
    return {};
  }
  if (k == "RUN") {
    BERTH_TRY_VOID(check_flags(parsed));
    if (const Flag* network = find_flag(in, "network")) {
      if (network->value != "default" && network->value != "none" && network->value != "host") {
        return fail(fmt::format("invalid network mode \"{}\"", network->value));
      }
    }
    if (const Flag* security = find_flag(in, "security")) {
      if (security->value != "insecure" && security->value != "sandbox") {
        return fail(fmt::format("security \"{}\" is not valid", security->value));
      }
    }
    return {};
  }
  if (k == "CMD" || k == "ENTRYPOINT") return check_flags(parsed);
  if (k == "SHELL") {
    BERTH_TRY_VOID(check_flags(parsed));
    BERTH_TRY_VOID(at_least_one());
    if (!in.json) return fail("SHELL requires the arguments to be in JSON form");
    return {};
  }
  if (k == "MAINTAINER" || k == "WORKDIR" || k == "USER" || k == "STOPSIGNAL") {
    BERTH_TRY_VOID(exactly_one());
    return check_flags(parsed);
  }
  if (k == "EXPOSE") {
    BERTH_TRY_VOID(at_least_one());
    return check_flags(parsed);
  }
  if (k == "VOLUME") {
    BERTH_TRY_VOID(at_least_one());
    BERTH_TRY_VOID(check_flags(parsed));
    for (const auto& volume : in.args) {
      if (trim_space(volume).empty()) return fail("VOLUME specified can not be an empty string");
    }
    return {};
  }
  if (k == "ONBUILD") {
    BERTH_TRY_VOID(at_least_one());
    BERTH_TRY_VOID(check_flags(parsed));
    std::string trigger = in.nested.empty() ? "" : in.nested[0].keyword;
    if (trigger == "ONBUILD") return fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (trigger == "MAINTAINER" || trigger == "FROM") {
      return fail(fmt::format("{} isn't allowed as an ONBUILD trigger", trigger));
    }
    return {};
  }
  std::string message = fmt::format("unknown instruction: {}", parsed.keyword_as_written);
  if (auto match = suggest(parsed.keyword_as_written, dockerfile_keywords(), false)) {
    message += fmt::format(" (did you mean {}?)", *match);
  }
  return fail(message);
}

}  // namespace berth::build::detail

namespace berth::build {

// Go's time.ParseDuration: a sign, then numbers with units (ns, us, µs, μs, ms, s, m, h).
Result<std::int64_t> parse_go_duration(std::string_view text) {
  auto invalid = [&] {
    return Error::make(ErrorKind::invalid_argument, "time: invalid duration \"{}\"", text);
  };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::int64_t{0};
  if (s.empty()) return invalid();
  constexpr std::uint64_t kMax = std::uint64_t{1} << 63;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::uint64_t total = 0;
  while (!s.empty()) {
    if (s[0] != '.' && !digit(s[0])) return invalid();
    std::uint64_t whole = 0;
    size_t i = 0;
    for (; i < s.size() && digit(s[i]); ++i) {
      if (whole > (kMax - 9) / 10) return invalid();
      whole = whole * 10 + static_cast<std::uint64_t>(s[i] - '0');
    }
    bool had_whole = i > 0;
    s.remove_prefix(i);
    std::uint64_t fraction = 0;
    double scale = 1;
    bool had_fraction = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflow = false;
      for (; j < s.size() && digit(s[j]); ++j) {
        if (overflow || fraction > (kMax - 9) / 10) {
          overflow = true;
          continue;
        }
        fraction = fraction * 10 + static_cast<std::uint64_t>(s[j] - '0');
        scale *= 10;
      }
      had_fraction = j > 0;
      s.remove_prefix(j);
    }
    if (!had_whole && !had_fraction) return invalid();
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !digit(s[u])) ++u;
    if (u == 0) {
      return Error::make(ErrorKind::invalid_argument, "time: missing unit in duration \"{}\"",
                         text);
    }
    std::string_view unit_name = s.substr(0, u);
    s.remove_prefix(u);
    static const std::map<std::string_view, std::uint64_t> units = {
        {"ns", 1},         {"us", 1'000},        {"\xC2\xB5s", 1'000},  {"\xCE\xBCs", 1'000},
        {"ms", 1'000'000}, {"s", 1'000'000'000}, {"m", 60'000'000'000}, {"h", 3'600'000'000'000}};
    auto unit = units.find(unit_name);
    if (unit == units.end()) {
      return Error::make(ErrorKind::invalid_argument,
                         "time: unknown unit \"{}\" in duration \"{}\"", unit_name, text);
    }
    if (whole > kMax / unit->second) return invalid();
    whole *= unit->second;
    if (fraction > 0) {
      whole += static_cast<std::uint64_t>(static_cast<double>(fraction) *
                                          (static_cast<double>(unit->second) / scale));
      if (whole > kMax) return invalid();
    }
    total += whole;
    if (total > kMax) return invalid();
  }
  if (negative) {
    return total == kMax ? std::numeric_limits<std::int64_t>::min()
                         : -static_cast<std::int64_t>(total);
  }
  if (total == kMax) return invalid();
  return static_cast<std::int64_t>(total);
}

}  // namespace berth::build
