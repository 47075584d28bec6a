#include "registry/gc.h"

#include <set>

#include "base/crash_point.h"
#include "base/log.h"
#include "registry/manifest.h"

namespace berth::registry {

Result<GcReport> collect_garbage(Storage& storage, const GcOptions& options, int64_t now_ns) {
  BERTH_TRY(auto lock, storage.lock_exclusive());
  GcReport report;
  // Mark: every manifest of every repository, and what it refers to.
  std::set<image::Digest> live;
  BERTH_TRY(auto repositories, storage.list_repositories());
  for (const auto& repo : repositories) {
    BERTH_TRY(auto manifests, storage.list_manifests(repo));
    for (const auto& digest : manifests) {
      live.insert(digest);
      auto m = storage.get_manifest(repo, digest.str());
      if (!m) {
        log::warn(fmt::format("gc: read manifest {} of '{}': {}", digest.str(), repo,
                              m.error().message()));
        continue;
      }
      auto facts = inspect_manifest(m->content, m->media_type);
      if (!facts) {
        // Accepted once, so unreadable now means damage: keep everything rather than guess.
        return Error::make(ErrorKind::corrupt, "gc: manifest {} of '{}' cannot be read: {}",
                           digest.str(), repo, facts.error().message())
            .with_hint("nothing was removed; delete that manifest (or repair it) and run gc again");
      }
      live.insert(facts->blobs.begin(), facts->blobs.end());
      live.insert(facts->foreign_layers.begin(), facts->foreign_layers.end());
    }
  }
  // Sweep blobs.
  int64_t blob_cutoff = now_ns - options.grace_seconds * 1'000'000'000;
  BERTH_TRY(auto blobs, storage.list_blobs());
  for (const auto& blob : blobs) {
    if (live.count(blob.digest)) {
      ++report.kept_blobs;
      continue;
    }
    if (blob.mtime_ns > blob_cutoff) {
      ++report.young_blobs;
      continue;
    }
    if (!options.dry_run) BERTH_TRY_VOID(storage.remove_blob(blob.digest));
    crash_point("registry-gc:after-first-blob");
    report.removed_blobs.push_back(blob.digest);
    report.removed_bytes += blob.size;
  }
  if (!options.dry_run)
    for (const auto& repo : repositories) {
      BERTH_TRY(auto n, storage.prune_links(repo));
      report.pruned_links += n;
    }
  int64_t upload_cutoff = now_ns - options.upload_grace_seconds * 1'000'000'000;
  BERTH_TRY(report.removed_uploads,
            remove_abandoned_uploads(storage, upload_cutoff, options.dry_run));
  if (!options.dry_run) {
    BERTH_TRY(report.removed_temporaries, storage.remove_stale_temporaries(upload_cutoff));
  }
  return report;
}

Result<std::vector<std::string>> remove_abandoned_uploads(Storage& storage, int64_t older_than_ns,
                                                          bool dry_run) {
  std::vector<std::string> removed;
  BERTH_TRY(auto uploads, storage.list_uploads());
  for (const auto& u : uploads) {
    if (u.mtime_ns > older_than_ns) continue;
    if (!dry_run)
      if (auto c = storage.cancel_upload(u.repository, u.id); !c) {
        log::warn(fmt::format("remove abandoned upload '{}': {}", u.id, c.error().message()));
        continue;
      }
    removed.push_back(u.id);
  }
  return removed;
}

}  // namespace berth::registry
