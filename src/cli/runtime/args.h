// cli/runtime/args.h — runc-style arguments: "--name value", "--name=value", "-n value", flags
// anywhere before the first positional that ends option parsing (exec and ps take a command).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::cli {

struct OptionSpec {
  std::string_view names;  // "b,bundle": short and long spellings
  bool takes_value;
  std::string_view help = {};
};

// "  -b, --bundle VALUE   the bundle directory" lines for a command's --help.
std::string describe_options(const std::vector<OptionSpec>& specs);

struct ParsedArgs {
  std::map<std::string, std::vector<std::string>> values;  // by the option's last (long) name
  std::vector<std::string> positionals;

  bool flag(std::string_view name) const;
  std::string value(std::string_view name, std::string fallback = {}) const;
  const std::vector<std::string>& values_of(std::string_view name) const;
};

// Parses argv[begin..end). Options stop at "--", or after `max_option_positionals` positionals
// (so `exec ID ls -l` leaves "-l" to the command). A bad option is an invalid_argument error.
Result<ParsedArgs> parse_args(const std::vector<std::string>& args, size_t begin,
                              const std::vector<OptionSpec>& specs, std::string_view command,
                              size_t max_option_positionals = SIZE_MAX);

}  // namespace berth::cli
