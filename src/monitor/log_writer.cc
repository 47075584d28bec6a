#include "monitor/log_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sys.h"
#include "monitor/detail/json_text.h"

namespace berth::monitor {

std::string log_record(std::string_view stream, std::string_view line, std::string_view time) {
  std::string out = "{\"stream\":\"";
  out += stream;
  out += "\",\"time\":\"";
  out += time;
  out += "\",\"log\":\"";
  detail::append_json_escaped(out, line);
  out += "\"}\n";
  return out;
}

Result<LogWriter> LogWriter::open(LogOptions options) {
  LogWriter w(std::move(options));
  int fd = ::open(w.options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return Error::from_errno("open log '{}'", w.options_.path);
  w.fd_.reset(fd);
  struct stat st;
  if (::fstat(fd, &st) == 0) w.size_ = static_cast<uint64_t>(st.st_size);
  return w;
}

Result<void> LogWriter::rotate() {
  for (unsigned i = options_.max_files - 1; i >= 1; --i) {
    std::string from = i == 1 ? options_.path : fmt::format("{}.{}", options_.path, i - 1);
    std::string to = fmt::format("{}.{}", options_.path, i);
    if (::rename(from.c_str(), to.c_str()) < 0 && errno != ENOENT) return Error::from_errno("rotate log to '{}'", to);
  }
  if (options_.max_files <= 1 && ::truncate(options_.path.c_str(), 0) < 0) return Error::from_errno("truncate log");
  int fd = ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return Error::from_errno("open log '{}'", options_.path);
  fd_.reset(fd);
  size_ = 0;
  return {};
}

Result<void> LogWriter::emit(std::string_view stream, std::string_view line, std::string_view time) {
  std::string record = log_record(stream, line, time);
  if (size_ > 0 && size_ + record.size() > options_.max_size) BERTH_TRY_VOID(rotate());
  BERTH_TRY_VOID(sys::write_all(fd_.get(), record).context("write log"));
  size_ += record.size();
  return {};
}

Result<void> LogWriter::write(std::string_view stream, std::string_view data, std::string_view time) {
  std::string& partial = partial_[stream == "stderr" ? 1 : 0];
  while (!data.empty()) {
    auto nl = data.find('\n');
    if (nl == std::string_view::npos) {
      partial.append(data);
      // A line longer than a fraction of the file is written in pieces, as docker does at 16 KiB.
      if (partial.size() >= 16384) {
        BERTH_TRY_VOID(emit(stream, partial, time));
        partial.clear();
      }
      return {};
    }
    partial.append(data.substr(0, nl + 1));
    BERTH_TRY_VOID(emit(stream, partial, time));
    partial.clear();
    data.remove_prefix(nl + 1);
  }
  return {};
}

Result<void> LogWriter::flush(std::string_view time) {
  for (int i = 0; i < 2; ++i) {
    if (partial_[i].empty()) continue;
    BERTH_TRY_VOID(emit(i == 0 ? "stdout" : "stderr", partial_[i], time));
    partial_[i].clear();
  }
  return {};
}

}  // namespace berth::monitor
