// cli/berth/count_option.h — `--NAME N` options that take a count (connections, bytes).
#pragma once

#include <cstdlib>
#include <string>

#include "cli/berth/command.h"

namespace berth::cli {

// When `--NAME` is given: a whole number from `min` to `max` into `out` (else `out` is kept).
inline Result<void> count_option(const ParsedArgs& args, const char* name, size_t min, size_t max,
                                 size_t& out) {
  if (!args.flag(name)) return {};
  const std::string text = args.value(name);
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end || text[0] == '-' || n < min || n > max)
    return Error::make(ErrorKind::invalid_argument, "--{} '{}': give a number from {} to {}", name,
                       text, min, max);
  out = static_cast<size_t>(n);
  return {};
}

}  // namespace berth::cli
