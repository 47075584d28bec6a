// monitor/log_writer.h — the container's output as JSON lines, rotated by size.
// Not thread-safe: the monitor's single loop owns it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/unique_fd.h"

namespace berth::monitor {

struct LogOptions {
  std::string path;                  // .../log.jsonl
  uint64_t max_size = 10 << 20;      // rotate when the file would grow past this
  unsigned max_files = 3;            // log.jsonl + log.jsonl.1 .. .(max_files-1)
};

class LogWriter {
 public:
  static Result<LogWriter> open(LogOptions options);

  // Appends `data` read from `stream` ("stdout"/"stderr"); splits it into lines, keeping a
  // partial last line until its newline arrives (or flush()). `time` is RFC 3339.
  Result<void> write(std::string_view stream, std::string_view data, std::string_view time);
  // Writes out partial lines (at container exit).
  Result<void> flush(std::string_view time);

 private:
  explicit LogWriter(LogOptions options) : options_(std::move(options)) {}
  Result<void> emit(std::string_view stream, std::string_view line, std::string_view time);
  Result<void> rotate();

  LogOptions options_;
  UniqueFd fd_;
  uint64_t size_ = 0;
  std::string partial_[2];  // stdout, stderr
};

// The JSON line for one record (exposed for tests).
std::string log_record(std::string_view stream, std::string_view line, std::string_view time);

}  // namespace berth::monitor
