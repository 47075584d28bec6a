// registry/gc.h — `berth registry gc`: removes blobs that no manifest in any repository refers
// to, and upload sessions abandoned long ago. Safe while servers run on the same storage: it holds
// the storage's exclusive lock (manifest PUTs wait for it), and spares blobs younger than the
// grace period, which covers a blob pushed (or mounted) whose manifest is still to come.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "image/digest.h"
#include "registry/storage.h"

namespace berth::registry {

struct GcOptions {
  bool dry_run = false;
  int64_t grace_seconds = 3600;              // unreferenced blobs younger than this stay
  int64_t upload_grace_seconds = 24 * 3600;  // uploads untouched for this long go
};

struct GcReport {
  std::vector<image::Digest> removed_blobs;  // or that would be, with dry_run
  uint64_t removed_bytes = 0;
  std::vector<std::string> removed_uploads;  // ids
  size_t kept_blobs = 0;
  size_t young_blobs = 0;  // unreferenced but within the grace period
  size_t pruned_links = 0;
  size_t removed_temporaries = 0;  // files a crash left half-written
};

Result<GcReport> collect_garbage(Storage& storage, const GcOptions& options, int64_t now_ns);

// Cancels the upload sessions untouched since `older_than_ns` (or only names them, with
// dry_run); returns their ids. `collect_garbage` calls it, and `serve` every so often.
Result<std::vector<std::string>> remove_abandoned_uploads(Storage& storage, int64_t older_than_ns,
                                                          bool dry_run = false);

}  // namespace berth::registry
