// image/layers.h — unpacking layer tars into directories that overlayfs stacks, and chain ids.
//
// A layer directory is what overlayfs expects of a lower layer: the OCI whiteout `.wh.NAME`
// becomes a 0/0 character device NAME, and `.wh..wh..opq` the xattr trusted.overlay.opaque=y on
// its directory. No entry or hard-link target may name a path outside the directory, and no
// symlink inside it is ever followed while unpacking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "image/digest.h"

struct archive;

namespace berth::image {

// Lets libarchive reader `a` read gzip, zstd, xz and bzip2 (those Docker reads), with
// libarchive's own decoders. Not archive_read_support_filter_all: for data that starts with
// their magic numbers, it runs lrzip, lzop, grzip and others as programs on bytes a registry,
// an archive or a build context sent.
void support_compressions(archive* a);

struct UnpackResult {
  Digest diff_id;             // sha256 of the uncompressed tar
  int64_t tar_size = 0;       // bytes of the uncompressed tar
  int64_t entries = 0;
  // What could not be applied and was skipped: device nodes where mknod is not permitted,
  // ownership and xattrs a non-root user may not set. The caller shows them to the user.
  std::vector<std::string> warnings;
};

// Unpacks the (gzip, zstd or uncompressed) layer tar read from fd into `dir`, which must not
// exist. Works in `<dir>.tmp-<pid>` and renames it to `dir` only when every entry was applied,
// so `dir` is either complete or absent. A malicious entry fails the whole unpack with an
// invalid_argument error naming the entry, and the partial directory is removed. When `dir`
// appears meanwhile (another process unpacked the same chain id), fails with already_exists.
Result<UnpackResult> unpack_layer(int fd, const std::string& dir);

// Reads a layer tar to its end without unpacking it: its diff id and size.
Result<UnpackResult> diff_id_of(int fd);

// chain id 1 = diff id 1; chain id n = sha256(chain id n-1 + " " + diff id n).
Digest chain_id(const Digest& parent_chain_id, const Digest& diff_id);
std::vector<Digest> chain_ids(const std::vector<Digest>& diff_ids);

}  // namespace berth::image
