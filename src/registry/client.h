// registry/client.h — the OCI distribution client: pull an image into the content store, push
// one from it, check credentials. Docker schema 2 and OCI media types, image indexes resolved to
// one platform, Basic and Bearer-token auth, layers in parallel, digests verified while they
// stream, interrupted downloads resumed from the store's ingest area.
//
// The engine's image index is not touched here: the caller registers what pull returns.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "image/content_store.h"
#include "image/reference.h"
#include "oci/image_spec.h"
#include "registry/client_auth_config.h"

namespace berth::registry {

// What happens to one blob; reported from worker threads, one call at a time.
struct BlobEvent {
  enum class Kind {
    started,      // transfer begins (resumed_from > 0 when it continues a partial one)
    progress,     // `done` bytes of `size` so far
    finished,     // transferred and verified
    skipped,      // pull: already in the store; push: already in the repository
    mounted,      // push: mounted from `from` (another repository of the registry)
  };
  Kind kind;
  std::string digest;
  std::string media_type;
  int64_t size = 0;
  int64_t done = 0;
  int64_t resumed_from = 0;
  std::string from;
};
using ProgressFn = std::function<void(const BlobEvent&)>;

struct ClientConfig {
  bool tls_verify = true;
  std::optional<Credentials> credentials;  // none: anonymous
  int parallel = 3;                        // blobs at a time
  ProgressFn progress;                     // may be empty
};

struct PlatformWanted {
  std::string os = "linux";
  std::string architecture;  // empty: this machine's (amd64, arm64, ...)
  std::string variant;       // empty: any
  // "linux/arm64/v8" → {linux, arm64, v8}; errors name the text.
  static Result<PlatformWanted> parse(std::string_view text);
  std::string str() const;
};

// The manifest of an index meant for `want`; not_found names the platforms there are.
Result<oci::Descriptor> select_platform(const oci::Index& index, const PlatformWanted& want, std::string_view name);

// Where a registry lives: "127.0.0.1:5000" → http (loopback is trusted like Docker's insecure
// registries), other hosts https; docker.io → registry-1.docker.io.
struct Endpoint {
  std::string scheme;
  std::string authority;  // host[:port]
  std::string base() const { return scheme + "://" + authority; }
  // "/v2/<path>/manifests/<tag or digest>", "/v2/<path>/blobs/<digest>", "/v2/<path>/blobs/uploads/".
  std::string manifest_url(const image::Reference& ref) const;
  std::string blob_url(std::string_view path, std::string_view digest) const;
  std::string uploads_url(std::string_view path) const;
};
// The schemes to try in order: loopback http then https; elsewhere https (and http too when
// `tls_verify` is off).
std::vector<Endpoint> candidate_endpoints(std::string_view domain, bool tls_verify);
// A reference's registry for credentials and messages ("127.0.0.1:5000", "docker.io").
bool is_loopback_host(std::string_view domain);

struct PullOptions {
  ClientConfig client;
  PlatformWanted platform;
};
struct PullResult {
  oci::Descriptor manifest;  // of the platform's image (stored)
  bool index_resolved = false;  // the tag named an index
  std::string index_digest;
  int64_t downloaded = 0;  // bytes transferred
  int blobs_skipped = 0;
};
// Fetches the manifest, config and layers into `store` (nothing becomes visible unless it
// verifies; the manifest last). The caller holds the store's shared GC lock.
Result<PullResult> pull(image::ContentStore& store, const image::Reference& ref, const PullOptions& options);

struct PushOptions {
  ClientConfig client;
  // Other repositories of the same registry known to hold a blob (by digest): tried as
  // cross-repository mounts before uploading.
  std::map<std::string, std::vector<std::string>> mount_sources;
};
struct PushResult {
  std::string digest;  // of the manifest, as the registry acknowledged it
  int64_t size = 0;
  int64_t uploaded = 0;
};
Result<PushResult> push(const image::ContentStore& store, const oci::Descriptor& manifest, const image::Reference& dest,
                        const PushOptions& options);

// Checks credentials against the registry's /v2/ (Basic or the token flow). `unauthenticated`
// when they are refused.
Result<void> login(std::string_view registry, const Credentials& credentials, bool tls_verify);

}  // namespace berth::registry
