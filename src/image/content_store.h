// image/content_store.h — content-addressed blobs in an OCI image layout directory:
//   <root>/oci-layout, <root>/blobs/sha256/<hex>, and <root>/ingest/ for blobs being written.
// A blob becomes visible only after its bytes are on disk (fsync) and hash to its digest.
//
// Thread- and process-safety: any number of threads and processes may ingest, open and list at
// once; two writers of the same blob both succeed (each renames identical content into place).
// remove() of a blob that another process is reading is safe (open fds stay valid); deciding
// what is unreferenced is the caller's job (GC).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "image/digest.h"
#include "oci/image_spec.h"

namespace berth::image {

struct IngestOptions {
  std::string media_type = "application/octet-stream";
  // When given, a blob whose bytes hash otherwise (or have another size) is discarded with a
  // `corrupt` error and nothing becomes visible.
  std::optional<Digest> expected_digest;
  std::optional<int64_t> expected_size;
};

class ContentStore;

// One blob being written: write() in pieces, then commit(). Dropping it without commit()
// deletes the temporary file.
class BlobWriter {
 public:
  BlobWriter(BlobWriter&&) noexcept;
  BlobWriter& operator=(BlobWriter&&) noexcept;
  ~BlobWriter();

  Result<void> write(std::string_view data);
  int64_t written() const { return size_; }
  // Verifies, fsyncs and renames the blob into place; returns its descriptor.
  Result<oci::Descriptor> commit();

 private:
  friend class ContentStore;
  BlobWriter(std::string blobs_dir, std::string temp_path, UniqueFd fd, IngestOptions options);
  void discard();

  std::string blobs_dir_;
  std::string temp_path_;
  UniqueFd fd_;
  IngestOptions options_;
  std::unique_ptr<Sha256> hasher_;
  int64_t size_ = 0;
};

class ContentStore {
 public:
  // Creates the layout (directories, oci-layout file) when missing.
  static Result<ContentStore> open(std::string root);

  const std::string& root() const { return root_; }
  std::string blob_path(const Digest& digest) const;

  Result<BlobWriter> writer(IngestOptions options = {});
  // Reads fd to its end.
  Result<oci::Descriptor> ingest(int fd, IngestOptions options = {});
  Result<oci::Descriptor> ingest(std::string_view data, IngestOptions options = {});

  // not_found when the blob is missing; unsupported for digests other than sha256.
  Result<UniqueFd> open_blob(const Digest& digest) const;
  Result<std::string> read(const Digest& digest) const;  // whole blob; for small JSON documents
  bool exists(const Digest& digest) const;
  Result<int64_t> size(const Digest& digest) const;
  // Re-hashes the stored bytes: `corrupt` if they no longer match.
  Result<void> verify(const Digest& digest) const;
  // Succeeds when the blob is already gone.
  Result<void> remove(const Digest& digest);
  Result<std::vector<Digest>> list() const;

 private:
  explicit ContentStore(std::string root) : root_(std::move(root)) {}
  Result<std::string> checked_path(const Digest& digest) const;
  std::string root_;
};

}  // namespace berth::image
