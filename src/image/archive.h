// image/archive.h — image archives in and out of the content store: `load` and `save`.
//
// Formats:
//  - docker-archive, as `docker save` / `podman save` / `skopeo copy docker-archive:` write it:
//    manifest.json [{Config, RepoTags, Layers}], the config file, one tar per layer (plain, gzip
//    or zstd); `repositories`, VERSION and the legacy per-layer `json` files are ignored.
//  - OCI archive: a tar of an OCI image layout (oci-layout, index.json, blobs/<alg>/<hex>).
//  - OCI layout directory: the same, unpacked.
// Any tar may be compressed as a whole (gzip, zstd, ...): libarchive detects it.
//
// Loading is all-or-nothing for the archive's metadata: every member path, JSON document,
// digest and (for docker-archive) every layer's diff id is checked before the first blob is
// ingested. Blobs enter the store only through ContentStore::writer with their expected digest,
// so even a failure half-way (the archive changing under us, a disk error) leaves nothing but
// verified, unreferenced blobs behind, which GC removes. Nothing is named or tagged here: the
// caller records LoadResult::images in its image index.
//
// Round trips: save → load keeps each image's config digest (its id), every diff id and, for
// OCI archives and layout dirs, the manifest digest. A docker-archive keeps the layer blobs
// byte-identical and load rebuilds the manifest canonically (oci::to_json), so an image whose
// manifest berth wrote (import, load, build) also keeps its manifest digest; one pulled from a
// registry, whose manifest bytes differ from berth's serialisation, gets a new manifest digest.
//
// Thread-safety: the functions share no state; concurrent loads into one store are safe (the
// content store is).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "image/content_store.h"
#include "oci/image_spec.h"

namespace berth::image {

enum class ArchiveFormat { docker_archive, oci_archive, oci_layout_dir };

// "docker-archive", "oci-archive", "oci-dir"; parse_archive_format also accepts "oci" and
// "docker" (invalid_argument otherwise).
std::string_view archive_format_name(ArchiveFormat format);
Result<ArchiveFormat> parse_archive_format(std::string_view name);

// Called after each blob is stored (load) or written (save); `what` is the blob's digest.
using ArchiveProgressFn = std::function<void(std::string_view what, int64_t bytes)>;

struct LoadedImage {
  oci::Descriptor manifest;  // an OCI image manifest, stored in the content store
  // Normalised references ("docker.io/library/busybox:latest", "localhost/app:1"); may be empty.
  // docker-archive RepoTags use Docker's rules: "busybox:1" is docker.io/library/busybox:1.
  // OCI ref.name annotations: io.containerd.image.name wins when present; a full reference
  // (one with '/', ':' or '@') is normalised with Reference::parse (short names become
  // localhost/...); a bare tag ("latest") names `localhost/<archive base name>:<tag>`, the base
  // name being the file or directory name without extensions (`busybox.oci.tar` → busybox);
  // from stdin a bare tag gives no name and a warning.
  std::vector<std::string> names;
};

struct LoadResult {
  ArchiveFormat format = ArchiveFormat::docker_archive;
  std::vector<LoadedImage> images;
  std::vector<std::string> warnings;  // skipped entries (foreign layers, other platforms, ...)
};

struct LoadOptions {
  // Platform picked from an image index; empty: linux and the host's architecture.
  std::string os;
  std::string architecture;
  ArchiveProgressFn progress;
};

// Loads the archive at `path` ("-": read stdin, spooled to an unlinked file under the store's
// ingest/ directory first). A directory holding `oci-layout` is an OCI layout; a tar holding
// oci-layout and index.json is an OCI archive (also Docker 25+'s `docker save`); a tar holding
// manifest.json is a docker-archive. Errors name the archive member and the problem:
// corrupt (truncated tar, digest or diff id mismatch, malformed JSON), not_found (a member the
// metadata names is missing), invalid_argument (a path escaping the archive, not an archive).
// JSON documents (manifests, indexes, configs) must be at most 4 MiB.
Result<LoadResult> load_archive(ContentStore& store, const std::string& path,
                                const LoadOptions& options = {});

struct SaveItem {
  oci::Descriptor manifest;  // an image manifest in the store (OCI or Docker schema 2)
  // References to record (RepoTags, ref.name annotations). Docker-archive RepoTags use Docker's
  // short form for docker.io ("busybox:latest", "user/app:1"); other names stay as they are.
  std::vector<std::string> names;
};

// Writes the images to `path` ("-": stdout). A tar is written to a temporary file beside `path`
// and renamed over it when complete (fsync'd); an oci_layout_dir is written into `path`
// (created when missing; blobs added, index.json replaced atomically). Every blob is read from
// the store as it is, so layers stay byte-identical.
Result<void> save_archive(const ContentStore& store, const std::vector<SaveItem>& images,
                          ArchiveFormat format, const std::string& path,
                          const ArchiveProgressFn& progress = {});
// Streams a tar archive (docker_archive or oci_archive) to fd, which is not closed.
Result<void> save_archive_to_fd(const ContentStore& store, const std::vector<SaveItem>& images,
                                ArchiveFormat format, int fd,
                                const ArchiveProgressFn& progress = {});

}  // namespace berth::image
