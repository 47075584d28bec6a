#include "cli/runtime/args.h"

#include "base/sys.h"

namespace berth::cli {

bool ParsedArgs::flag(std::string_view name) const {
  auto it = values.find(std::string(name));
  return it != values.end() && !it->second.empty() && it->second.back() != "false";
}

std::string ParsedArgs::value(std::string_view name, std::string fallback) const {
  auto it = values.find(std::string(name));
  return it == values.end() || it->second.empty() ? fallback : it->second.back();
}

const std::vector<std::string>& ParsedArgs::values_of(std::string_view name) const {
  static const std::vector<std::string> empty;
  auto it = values.find(std::string(name));
  return it == values.end() ? empty : it->second;
}

std::string describe_options(const std::vector<OptionSpec>& specs) {
  std::string out;
  for (const auto& s : specs) {
    if (s.help.empty()) continue;  // accepted for compatibility, not advertised
    std::string names;
    for (const auto& n : sys::split(s.names, ',')) names += (names.empty() ? "" : ", ") + std::string(n.size() == 1 ? "-" : "--") + n;
    if (s.takes_value) names += " VALUE";
    out += fmt::format("  {:<28} {}\n", names, s.help);
  }
  return out;
}

Result<ParsedArgs> parse_args(const std::vector<std::string>& args, size_t begin,
                              const std::vector<OptionSpec>& specs, std::string_view command,
                              size_t max_option_positionals) {
  ParsedArgs out;
  bool options_done = false;
  for (size_t i = begin; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      out.positionals.push_back(arg);
      if (out.positionals.size() >= max_option_positionals) options_done = true;
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    std::string inline_value;
    bool has_inline = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
      has_inline = true;
    }
    const OptionSpec* spec = nullptr;
    std::string canonical;
    for (const auto& s : specs) {
      auto names = sys::split(s.names, ',');
      for (const auto& n : names)
        if (n == name) {
          spec = &s;
          canonical = names.back();
        }
    }
    if (!spec)
      return Error::make(ErrorKind::invalid_argument, "unknown option '{}' for '{}'", arg, command)
          .with_hint(fmt::format("run 'berth-runtime {} --help' for its options", command));
    if (spec->takes_value) {
      if (!has_inline) {
        if (i + 1 >= args.size())
          return Error::make(ErrorKind::invalid_argument, "option '{}' of '{}' needs a value", arg, command);
        inline_value = args[++i];
      }
      out.values[canonical].push_back(inline_value);
    } else {
      out.values[canonical].push_back(has_inline ? inline_value : "true");
    }
  }
  return out;
}

}  // namespace berth::cli
