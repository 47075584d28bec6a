#include "image/detail/tar_stream.h"

#include <archive.h>
#include <archive_entry.h>

#include <optional>

#include "base/sys.h"
#include "image/layers.h"

namespace berth::image::detail {

namespace {
// libarchive leaves the message null for some failures (a truncated zstd frame after a gzip
// member): fmt throws on a null char pointer.
const char* error_text(archive* a) {
  const char* msg = archive_error_string(a);
  return msg ? msg : "unknown error";
}
}  // namespace

struct TarStream::Pipe {
  archive* raw = nullptr;
  Tap tap;
  std::optional<Error> error;
  std::string buf = std::string(1 << 16, '\0');

  // Next chunk of uncompressed bytes, tapped; 0 at the end, -1 on error (stored in `error`).
  la_ssize_t pull(const void** out) {
    la_ssize_t n = archive_read_data(raw, buf.data(), buf.size());
    if (n < 0) {
      const char* msg = archive_error_string(raw);
      error = Error(ErrorKind::corrupt, fmt::format("decompress: {}", msg ? msg : "unknown error"));
      return -1;
    }
    if (n > 0 && tap) {
      if (auto r = tap(std::string_view(buf.data(), static_cast<size_t>(n))); !r) {
        error = std::move(r).error();
        return -1;
      }
    }
    *out = buf.data();
    return n;
  }
};

namespace {
la_ssize_t read_callback(archive* a, void* data, const void** out) {
  auto* pipe = static_cast<TarStream::Pipe*>(data);
  la_ssize_t n = pipe->pull(out);
  if (n < 0) archive_set_error(a, EIO, "%s", pipe->error->message().c_str());
  return n;
}
}  // namespace

Result<std::unique_ptr<TarStream>> TarStream::open(int fd, Tap tap) {
  std::unique_ptr<TarStream> s(new TarStream());
  s->pipe_ = std::make_unique<Pipe>();
  s->pipe_->tap = std::move(tap);
  s->raw_ = archive_read_new();
  s->tar_ = archive_read_new();
  if (!s->raw_ || !s->tar_) return Error(ErrorKind::internal, "archive_read_new: out of memory");
  s->pipe_->raw = s->raw_;
  support_compressions(s->raw_);
  archive_read_support_format_raw(s->raw_);
  if (archive_read_open_fd(s->raw_, fd, 1 << 16) != ARCHIVE_OK)
    return Error(ErrorKind::corrupt, fmt::format("open stream: {}", error_text(s->raw_)));
  archive_entry* entry = nullptr;
  int r = archive_read_next_header(s->raw_, &entry);
  if (r == ARCHIVE_EOF) return Error(ErrorKind::corrupt, "empty stream: not a tar archive");
  if (r < ARCHIVE_WARN)
    return Error(ErrorKind::corrupt, fmt::format("read stream: {}", error_text(s->raw_)));
  archive_read_support_format_tar(s->tar_);
  if (archive_read_open(s->tar_, s->pipe_.get(), nullptr, read_callback, nullptr) != ARCHIVE_OK)
    return s->error("open tar");
  return s;
}

TarStream::~TarStream() {
  if (tar_) archive_read_free(tar_);
  if (raw_) archive_read_free(raw_);
}

Error TarStream::error(std::string_view what) {
  if (pipe_->error) return Error(*pipe_->error).context(what);
  const char* msg = archive_error_string(tar_);
  return Error(ErrorKind::corrupt, fmt::format("{}: {}", what, msg ? msg : "not a tar archive"));
}

Result<archive_entry*> TarStream::next() {
  archive_entry* entry = nullptr;
  int r = archive_read_next_header(tar_, &entry);
  if (r == ARCHIVE_EOF) return static_cast<archive_entry*>(nullptr);
  if (r < ARCHIVE_WARN) return error("read tar header");
  return entry;
}

Result<void> TarStream::drain() {
  const void* out = nullptr;
  for (;;) {
    la_ssize_t n = pipe_->pull(&out);
    if (n < 0) return Error(*pipe_->error).context("read tar");
    if (n == 0) return {};
  }
}

Result<std::vector<std::string>> entry_components(std::string_view path, std::string_view what) {
  if (!path.empty() && path.front() == '/')
    return Error::make(ErrorKind::invalid_argument,
                       "{}: absolute path: a layer may only name paths inside itself", what);
  std::vector<std::string> out;
  for (auto& part : sys::split(path, '/')) {
    if (part == ".") continue;
    if (part == "..")
      return Error::make(ErrorKind::invalid_argument,
                         "{}: '..' component: the path escapes the layer", what);
    out.push_back(std::move(part));
  }
  return out;
}

}  // namespace berth::image::detail
