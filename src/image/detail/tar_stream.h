// image/detail/tar_stream.h — a tar reader over a possibly compressed stream that lets the
// caller see every uncompressed byte (to hash it into a diff id, or to store it), and the entry
// path rules every layer reader applies. libarchive's types are only forward-declared here.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

struct archive;
struct archive_entry;

namespace berth::image::detail {

// Receives the uncompressed tar stream in order, each byte exactly once.
using Tap = std::function<Result<void>(std::string_view)>;

class TarStream {
 public:
  // Reads from fd (not owned): gzip, zstd, xz, bzip2 or no compression, detected from the data.
  static Result<std::unique_ptr<TarStream>> open(int fd, Tap tap);
  ~TarStream();
  TarStream(const TarStream&) = delete;
  TarStream& operator=(const TarStream&) = delete;

  // The next entry, or nullptr at the end of the archive.
  Result<archive_entry*> next();
  archive* tar() const { return tar_; }
  // Passes the rest of the uncompressed stream (the tar's end padding) through the tap. Call
  // after next() returned nullptr so the tap has seen the whole tar.
  Result<void> drain();
  // An error for the last libarchive failure on the tar, with the tap's error if it caused it.
  Error error(std::string_view what);

  struct Pipe;

 private:
  TarStream() = default;
  archive* raw_ = nullptr;
  archive* tar_ = nullptr;
  std::unique_ptr<Pipe> pipe_;
};

// Splits an entry path into components: "./a//b/" → {"a","b"}; "." or "./" → {} (the root).
// Rejects absolute paths and ".." components: a layer may not name anything outside itself.
// `what` names the entry in the error ("entry '../x'", "hard link target of 'a'").
Result<std::vector<std::string>> entry_components(std::string_view path, std::string_view what);

}  // namespace berth::image::detail
