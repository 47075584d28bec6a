#include "base/log.h"

#include "base/clock.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <string>

namespace berth::log {
namespace {
int g_fd = -1;
Format g_format = Format::text;
bool g_debug = false;

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

void emit(std::string_view level, std::string_view message, bool to_stderr) {
  if (to_stderr) {
    std::string line = level == "error" ? "berth-runtime: " : std::string("berth-runtime: ") + std::string(level) + ": ";
    line += message;
    line += '\n';
    (void)!::write(2, line.data(), line.size());
  }
  if (g_fd < 0) return;
  const std::string when = clock::rfc3339_now();
  std::string line;
  if (g_format == Format::json) {
    line = std::string("{\"level\":\"") + std::string(level) + "\",\"msg\":\"" + json_escape(message) +
           "\",\"time\":\"" + when + "\"}\n";
  } else {
    line = std::string(when) + " " + std::string(level) + ": " + std::string(message) + "\n";
  }
  (void)!::write(g_fd, line.data(), line.size());
}
}  // namespace

void set_file(const std::string& path, Format format) {
  g_format = format;
  if (path.empty()) return;
  g_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}
void set_debug(bool on) { g_debug = on; }
bool debug_enabled() { return g_debug; }
void error(std::string_view message) { emit("error", message, true); }
void warn(std::string_view message) { emit("warning", message, true); }
void debug(std::string_view message) {
  if (g_debug) emit("debug", message, true);
}

}  // namespace berth::log
