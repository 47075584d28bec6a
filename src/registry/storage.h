// registry/storage.h — what the distribution server needs from storage: content-addressed
// blobs linked into repositories, resumable uploads, manifests, tags and referrers. The
// protocol code (registry/server.cc) and garbage collection (registry/gc.cc) see only this
// interface, so a backend for an S3-compatible store can be added beside the filesystem one.
//
// Thread-safety: every method may be called from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "image/digest.h"

namespace berth::registry {

struct BlobReader {
  UniqueFd fd;  // positioned nowhere in particular: read with pread/sendfile
  uint64_t size = 0;
};

// An upload session: bytes appended in order, hashed as they arrive. One writer at a time (the
// server refuses a second request on a session that is busy).
class Upload {
 public:
  virtual ~Upload() = default;
  virtual const std::string& id() const = 0;
  virtual const std::string& repository() const = 0;
  virtual uint64_t size() const = 0;
  virtual Result<void> append(const char* data, size_t size) = 0;
  // Verifies the digest of everything appended; on a match the blob becomes visible (durably)
  // in the repository and the session ends. invalid_argument (DIGEST_INVALID) on a mismatch.
  virtual Result<void> commit(const image::Digest& expected) = 0;
};

struct ManifestRecord {
  image::Digest digest;
  std::string media_type;
  std::string content;
};

// One manifest that names another as its `subject`, as the referrers API lists it.
struct Referrer {
  image::Digest digest;
  std::string media_type;
  uint64_t size = 0;
  std::string artifact_type;
  std::string annotations_json;  // "{}" when none
};

struct StoredBlob {
  image::Digest digest;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

struct StoredUpload {
  std::string repository;
  std::string id;
  int64_t mtime_ns = 0;  // last write
};

// Held while a manifest is written (shared) or garbage is collected (exclusive).
class StorageLock {
 public:
  virtual ~StorageLock() = default;
};

class Storage {
 public:
  virtual ~Storage() = default;

  // Repositories: one exists once something was pushed into it.
  virtual bool repository_exists(const std::string& repository) = 0;
  virtual Result<std::vector<std::string>> list_repositories() = 0;  // sorted

  // Blobs, as seen from a repository: not_found unless linked into it.
  virtual Result<uint64_t> stat_blob(const std::string& repository,
                                     const image::Digest& digest) = 0;
  virtual Result<BlobReader> open_blob(const std::string& repository,
                                       const image::Digest& digest) = 0;
  virtual Result<void> unlink_blob(const std::string& repository, const image::Digest& digest) = 0;
  // Links a blob of `from` into `repository`; not_found if `from` does not have it.
  virtual Result<void> mount_blob(const std::string& repository, const std::string& from,
                                  const image::Digest& digest) = 0;

  // Uploads.
  virtual Result<std::shared_ptr<Upload>> create_upload(const std::string& repository) = 0;
  // not_found for an unknown id or one of another repository.
  virtual Result<std::shared_ptr<Upload>> open_upload(const std::string& repository,
                                                      const std::string& id) = 0;
  virtual Result<void> cancel_upload(const std::string& repository, const std::string& id) = 0;

  // Manifests: `reference` is a tag or a digest. not_found when absent.
  virtual Result<ManifestRecord> get_manifest(const std::string& repository,
                                              const std::string& reference) = 0;
  // Stores the manifest (durably), then points `tag` at it when given, and records it as a
  // referrer of `subject` when given. Call with lock_shared() held.
  virtual Result<void> put_manifest(const std::string& repository, const ManifestRecord& manifest,
                                    const std::optional<std::string>& tag,
                                    const std::optional<image::Digest>& subject,
                                    const Referrer& as_referrer) = 0;
  // Removes the manifest and every tag that points at it.
  virtual Result<void> delete_manifest(const std::string& repository,
                                       const image::Digest& digest) = 0;
  virtual Result<void> delete_tag(const std::string& repository, const std::string& tag) = 0;
  virtual Result<std::vector<std::string>> list_tags(const std::string& repository) = 0;  // sorted
  virtual Result<std::vector<image::Digest>> list_manifests(const std::string& repository) = 0;
  virtual Result<std::vector<Referrer>> referrers(const std::string& repository,
                                                  const image::Digest& subject) = 0;

  // For garbage collection.
  virtual Result<std::unique_ptr<StorageLock>> lock_shared() = 0;
  virtual Result<std::unique_ptr<StorageLock>> lock_exclusive() = 0;
  virtual Result<std::vector<StoredBlob>> list_blobs() = 0;
  virtual Result<void> remove_blob(const image::Digest& digest) = 0;
  // Drops repository links to blobs that no longer exist; returns how many.
  virtual Result<size_t> prune_links(const std::string& repository) = 0;
  virtual Result<std::vector<StoredUpload>> list_uploads() = 0;
  // Removes temporary files a crash left behind (a write cut short before its rename) that are
  // older than `older_than_ns`; returns how many.
  virtual Result<size_t> remove_stale_temporaries(int64_t older_than_ns) = 0;
};

// The filesystem backend, rooted at `root` (created if missing):
//   blobs/sha256/<hex>                              content (manifests too), written once
//   repositories/<name>/_blobs/<hex>                empty: the blob belongs to the repository
//   repositories/<name>/_manifests/revisions/<hex>  the manifest's media type
//   repositories/<name>/_manifests/tags/<tag>       "sha256:<hex>"
//   repositories/<name>/_referrers/<subject hex>/<hex>  the referrer's descriptor (JSON)
//   uploads/<id>/{data,repository}                  sessions in progress
//   lock                                            flock: manifest writes (shared) vs gc
// Name components never start with '_', so the '_' entries cannot clash with a repository.
Result<std::unique_ptr<Storage>> open_filesystem_storage(const std::string& root);

}  // namespace berth::registry
