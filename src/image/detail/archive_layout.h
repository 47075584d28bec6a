// image/detail/archive_layout.h — what reading and writing image archives share: the names of
// an archive's files and blobs, the chunk size, corrupt-content errors, and byte sources.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "image/digest.h"

namespace berth::image::detail {

inline constexpr size_t kChunk = 1 << 16;
inline constexpr std::string_view kOciLayout = "oci-layout";
inline constexpr std::string_view kIndexJson = "index.json";
inline constexpr std::string_view kDockerManifestJson = "manifest.json";

// The archive's content is broken (as opposed to the machine failing).
inline Error corrupt(std::string message) { return Error(ErrorKind::corrupt, std::move(message)); }

// "blobs/<algorithm>/<hex>": a blob's file in an archive.
inline std::string blob_member(const Digest& digest) {
  return fmt::format("blobs/{}/{}", digest.algorithm(), digest.encoded());
}

// Fills buf; 0 at the end.
using Source = std::function<Result<size_t>(char* buf, size_t size)>;

// Reads a file descriptor (not owned), retrying EINTR; `path` names it in errors.
Source fd_source(int fd, std::string path);

}  // namespace berth::image::detail
