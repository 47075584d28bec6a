#include "base/trace.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace berth::trace {
namespace {

int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Static initialisation: as close to the process's start as code of ours runs.
const int64_t g_started = monotonic_ns();
int g_enabled = -1;  // not read yet

struct Phase {
  std::string name;
  int64_t end_ns;
};
std::vector<Phase>& phases() {
  static std::vector<Phase> list;
  return list;
}

std::string json_escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", c);
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

bool enabled() {
  if (g_enabled < 0) {
    const char* value = std::getenv("BERTH_TRACE");
    g_enabled = value && *value && std::strcmp(value, "0") != 0;
  }
  return g_enabled;
}

void mark(std::string_view phase) {
  if (!enabled()) return;
  if (phases().empty()) std::atexit(report);
  phases().push_back({std::string(phase), monotonic_ns()});
}

void report() {
  static bool reported = false;
  if (!enabled() || reported || phases().empty()) return;
  reported = true;
  int64_t end = monotonic_ns();
  const char* target = std::getenv("BERTH_TRACE");
  bool to_file = target[0] == '/';
  std::string out;
  int64_t previous = g_started;
  double total_ms = static_cast<double>(end - g_started) / 1e6;
  if (to_file) {
    out = fmt::format("{{\"total_ms\":{:.3f},\"phases\":[", total_ms);
  } else {
    out = fmt::format("berth trace: {:.1f} ms from start to exit, pid {}\n{:>9} {:>9}  phase\n", total_ms,
                      ::getpid(), "ms", "at");
  }
  auto add = [&](std::string_view name, int64_t at, bool first) {
    double ms = static_cast<double>(at - previous) / 1e6;
    double since_start = static_cast<double>(at - g_started) / 1e6;
    if (to_file)
      out += fmt::format("{}{{\"name\":\"{}\",\"ms\":{:.3f}}}", first ? "" : ",", json_escaped(name), ms);
    else
      out += fmt::format("{:9.2f} {:9.2f}  {}\n", ms, since_start, name);
    previous = at;
  };
  bool first = true;
  for (const auto& p : phases()) {
    add(p.name, p.end_ns, first);
    first = false;
  }
  add("exit", end, false);
  if (to_file) {
    out += "]}\n";
    int fd = ::open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    (void)!::write(fd, out.data(), out.size());
    ::close(fd);
    return;
  }
  (void)!::write(2, out.data(), out.size());
}

}  // namespace berth::trace
