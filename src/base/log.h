// base/log.h — diagnostics to stderr and, when asked (--log), to a file as text or JSON lines.
#pragma once

#include <string>
#include <string_view>

namespace berth::log {

enum class Format { text, json };

// Opens the log file; messages still go to stderr. Safe to call once at start-up.
void set_file(const std::string& path, Format format);
void set_debug(bool on);
bool debug_enabled();

void error(std::string_view message);
void warn(std::string_view message);
void debug(std::string_view message);

}  // namespace berth::log
