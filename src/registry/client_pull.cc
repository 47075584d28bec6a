// registry::pull, platform selection and login.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "base/crash_point.h"
#include "base/json.h"
#include "base/sys.h"
#include "registry/client.h"
#include "registry/client_session.h"

namespace berth::registry {
namespace {

constexpr const char* kManifestAccept =
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

// Start writing back every this many bytes, so the fsync at the end has little left to do.
constexpr int64_t kWritebackChunk = 16 << 20;
constexpr int kBlobAttempts = 3;

struct Fetched {
  std::string bytes;
  std::string media_type;
  image::Digest digest;
};

Result<Fetched> fetch_manifest(Session& session, http::Client& client, const image::Reference& ref,
                               const std::string& scope, const std::string& display) {
  http::Request req;
  req.url = session.endpoint().manifest_url(ref);
  req.headers.set("Accept", kManifestAccept);
  BERTH_TRY(auto res, session.send(client, req, scope));
  if (res.status == 404)
    return Error::make(ErrorKind::not_found, "manifest unknown: {} not found", display)
        .with_hint(fmt::format("check the name and tag (or the digest) of the image in {}", session.domain()));
  if (res.status == 401 || res.status == 403) return session.access_denied("pull from", ref.repository(), res);
  if (res.status != 200) {
    std::string why = registry_error_text(res.body);
    return Error::make(ErrorKind::unavailable, "get manifest {}: status {}{}", display, res.status,
                       why.empty() ? "" : ": " + why);
  }
  Fetched f;
  f.digest = image::sha256_of(res.body);
  if (ref.digest() && ref.digest()->is_sha256() && *ref.digest() != f.digest)
    return Error::make(ErrorKind::corrupt, "manifest {}: the registry sent content that hashes to {}; nothing stored",
                       display, f.digest.str());
  if (auto header = res.headers.get("Docker-Content-Digest"))
    if (auto claimed = image::Digest::parse(*header); claimed && claimed->is_sha256() && *claimed != f.digest)
      return Error::make(ErrorKind::corrupt, "manifest {}: the registry says its digest is {} but it hashes to {}",
                         display, claimed->str(), f.digest.str());
  std::string type = res.headers.get("Content-Type").value_or("");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (!oci::media_type::is_manifest(type) && !oci::media_type::is_index(type)) {
    // Some servers answer application/json: the document says what it is.
    auto doc = parse_json(res.body, false);
    type = doc.is_object() && doc.contains("mediaType") && doc["mediaType"].is_string()
               ? doc["mediaType"].get<std::string>()
               : "";
    if (type.empty() && doc.is_object())
      type = doc.contains("manifests") ? oci::media_type::kImageIndex : oci::media_type::kImageManifest;
  }
  if (!oci::media_type::is_manifest(type) && !oci::media_type::is_index(type))
    return Error::make(ErrorKind::unsupported, "manifest {}: media type '{}' is not an image manifest or index",
                       display, type);
  f.media_type = type;
  f.bytes = std::move(res.body);
  return f;
}

Result<void> fsync_dir(const std::string& path) {
  BERTH_TRY(auto fd, sys::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (::fsync(fd.get()) < 0) return Error::from_errno("fsync '{}'", path);
  return {};
}

// Downloads one blob into the store, continuing a partial download left in the ingest area.
// Only bytes that hash to the digest (and have the manifest's size) become visible.
Result<int64_t> fetch_blob(Session& session, http::Client& client, image::ContentStore& store,
                           const image::Reference& ref, const oci::Descriptor& d, const std::string& scope) {
  BERTH_TRY(auto digest, image::Digest::parse(d.digest));
  if (!digest.is_sha256())
    return Error::make(ErrorKind::unsupported, "blob {}: only sha256 digests are supported", d.digest);
  BlobEvent ev{BlobEvent::Kind::skipped, d.digest, d.media_type, d.size};
  if (store.exists(digest)) {
    session.report(ev);
    return 0;
  }
  std::string partial = fmt::format("{}/ingest/pull-{}.partial", store.root(), digest.encoded());
  BERTH_TRY(auto fd, sys::open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  // Another pull of the same blob holds the lock until it is done: wait, then look again.
  while (::flock(fd.get(), LOCK_EX) < 0)
    if (errno != EINTR) return Error::from_errno("lock '{}'", partial);
  if (store.exists(digest)) {
    // The other pull renamed its file into place: ours may be a new, empty one at that name.
    struct stat mine, named;
    if (::fstat(fd.get(), &mine) == 0 && ::stat(partial.c_str(), &named) == 0 && mine.st_ino == named.st_ino &&
        mine.st_size == 0)
      ::unlink(partial.c_str());
    session.report(ev);
    return 0;
  }
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) return Error::from_errno("stat '{}'", partial);
  int64_t have = st.st_size;
  image::Sha256 hasher;
  if (have > d.size) {
    if (::ftruncate(fd.get(), 0) < 0) return Error::from_errno("truncate '{}'", partial);
    have = 0;
  }
  if (have > 0) {
    std::string buf(1 << 20, '\0');
    for (int64_t off = 0; off < have;) {
      ssize_t n = ::pread(fd.get(), buf.data(), static_cast<size_t>(std::min<int64_t>(have - off, buf.size())), off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Error::from_errno("read '{}'", partial);
      hasher.update(buf.data(), static_cast<size_t>(n));
      off += n;
    }
  }
  ev.kind = BlobEvent::Kind::started;
  ev.resumed_from = have;
  ev.done = have;
  session.report(ev);
  int64_t written = have;
  int64_t synced = have;
  int64_t transferred = 0;
  if (have < d.size || d.size == 0) {
    http::Request req;
    req.url = session.endpoint().blob_url(ref.path(), d.digest);
    if (have > 0) req.headers.set("Range", fmt::format("bytes={}-", have));
    req.want_stream = [&](const http::Response& r) {
      if (r.status == 200 && written > 0) {
        // The server ignored the range: start over.
        if (::ftruncate(fd.get(), 0) == 0) {
          hasher = image::Sha256();
          written = synced = 0;
        }
      }
      return r.status == 200 || r.status == 206;
    };
    ev.kind = BlobEvent::Kind::progress;
    req.sink = [&](std::string_view piece) -> Result<void> {
      if (written + static_cast<int64_t>(piece.size()) > d.size)
        return Error::make(ErrorKind::corrupt, "blob {} from {}: more than the {} bytes the manifest says; refused",
                           d.digest, session.domain(), d.size);
      for (size_t off = 0; off < piece.size();) {
        ssize_t n = ::pwrite(fd.get(), piece.data() + off, piece.size() - off, written + static_cast<int64_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::from_errno("write '{}'", partial);
        off += static_cast<size_t>(n);
      }
      hasher.update(piece.data(), piece.size());
      written += static_cast<int64_t>(piece.size());
      transferred += static_cast<int64_t>(piece.size());
      if (written - synced >= kWritebackChunk) {
        ::sync_file_range(fd.get(), synced, written - synced, SYNC_FILE_RANGE_WRITE);
        synced = written;
      }
      ev.done = written;
      session.report(ev);
      return {};
    };
    auto res = session.send(client, req, scope);
    // A non-distributable ("foreign") layer the registry does not hold: from the URLs its
    // descriptor names, without the registry's credentials. The digest check is the same.
    for (size_t u = 0; res && res->status == 404 && u < d.urls.size(); ++u) {
      http::Request foreign;
      foreign.url = d.urls[u];
      if (auto range = req.headers.get("Range")) foreign.headers.set("Range", *range);
      foreign.want_stream = req.want_stream;
      foreign.sink = req.sink;
      res = client.send(foreign);
      if (!res && res.error().kind() != ErrorKind::corrupt && u + 1 < d.urls.size())
        res = http::Response{.status = 404};  // try the next URL
    }
    if (!res) {
      if (res.error().kind() == ErrorKind::corrupt) ::unlink(partial.c_str());
      return std::move(res).error();
    }
    if (res->status == 404)
      return d.urls.empty() ? Error::make(ErrorKind::not_found, "blob {} unknown in {}", d.digest, ref.repository())
                            : Error::make(ErrorKind::not_found, "foreign layer {}: not in {} nor at {}", d.digest,
                                          ref.repository(), fmt::join(d.urls, ", "));
    if (res->status == 401 || res->status == 403) return session.access_denied("pull from", ref.repository(), *res);
    if (res->status != 200 && res->status != 206) {
      std::string why = registry_error_text(res->body);
      return Error::make(ErrorKind::unavailable, "get blob {}: status {}{}", d.digest, res->status,
                         why.empty() ? "" : ": " + why);
    }
  }
  image::Digest actual = hasher.finish();
  if (written != d.size || actual != digest) {
    ::unlink(partial.c_str());
    if (written != d.size)
      return Error::make(ErrorKind::corrupt, "blob {} from {}: {} bytes where the manifest says {}; refused, nothing stored",
                         d.digest, session.domain(), written, d.size);
    return Error::make(ErrorKind::corrupt, "blob {} from {}: digest mismatch (the content hashes to {}); refused, nothing stored",
                       d.digest, session.domain(), actual.str());
  }
  if (::fsync(fd.get()) < 0) return Error::from_errno("fsync '{}'", partial);
  std::string target = store.blob_path(digest);
  if (::rename(partial.c_str(), target.c_str()) < 0) return Error::from_errno("rename '{}' to '{}'", partial, target);
  BERTH_TRY_VOID(fsync_dir(store.root() + "/blobs/sha256"));
  ev.kind = BlobEvent::Kind::finished;
  ev.done = d.size;
  session.report(ev);
  return transferred;
}

// A transfer cut short is continued from its partial file, a few times, before the pull fails.
Result<int64_t> fetch_blob_retrying(Session& session, http::Client& client, image::ContentStore& store,
                                    const image::Reference& ref, const oci::Descriptor& d, const std::string& scope) {
  for (int attempt = 1;; ++attempt) {
    auto n = fetch_blob(session, client, store, ref, d, scope);
    if (n) return n;
    auto kind = n.error().kind();
    if (attempt >= kBlobAttempts || (kind != ErrorKind::io && kind != ErrorKind::unavailable))
      return std::move(n).error();
  }
}

std::string host_architecture() {
  struct utsname u;
  if (::uname(&u) < 0) return "amd64";
  std::string_view m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64" || m == "arm64") return "arm64";
  if (m.starts_with("armv")) return "arm";
  if (m == "i386" || m == "i686") return "386";
  return std::string(m);
}

}  // namespace

Result<PlatformWanted> PlatformWanted::parse(std::string_view text) {
  auto parts = sys::split(text, '/');
  if (parts.size() < 2 || parts.size() > 3)
    return Error::make(ErrorKind::invalid_argument, "platform '{}': use OS/ARCH or OS/ARCH/VARIANT (linux/arm64)", text);
  PlatformWanted p;
  p.os = parts[0];
  p.architecture = parts[1];
  if (parts.size() == 3) p.variant = parts[2];
  return p;
}

std::string PlatformWanted::str() const {
  std::string arch = architecture.empty() ? host_architecture() : architecture;
  return os + "/" + arch + (variant.empty() ? "" : "/" + variant);
}

Result<oci::Descriptor> select_platform(const oci::Index& index, const PlatformWanted& want, std::string_view name) {
  std::string arch = want.architecture.empty() ? host_architecture() : want.architecture;
  std::vector<std::string> offered;
  const oci::Descriptor* without_variant = nullptr;
  const oci::Descriptor* any_variant = nullptr;
  for (const auto& m : index.manifests) {
    if (!oci::media_type::is_manifest(m.media_type) && !m.media_type.empty()) continue;
    if (!m.platform) continue;
    const auto& p = *m.platform;
    if (p.os == "unknown") continue;  // attestations and signatures, not images
    offered.push_back(p.os + "/" + p.architecture + (p.variant.empty() ? "" : "/" + p.variant));
    if (p.os != want.os || p.architecture != arch) continue;
    if (!want.variant.empty()) {
      // arm64's only variant is v8, which indexes often leave out.
      if (p.variant == want.variant || (p.variant.empty() && arch == "arm64" && want.variant == "v8")) return m;
      continue;
    }
    if (p.variant.empty() && !without_variant) without_variant = &m;
    if (!any_variant) any_variant = &m;
  }
  if (without_variant) return *without_variant;
  if (any_variant) return *any_variant;
  // An index of one image that does not say its platform (common in OCI layouts).
  if (index.manifests.size() == 1 && !index.manifests[0].platform) return index.manifests[0];
  PlatformWanted w = want;
  w.architecture = arch;
  return Error::make(ErrorKind::not_found, "no {} image in {}: it has {}", w.str(), name,
                     offered.empty() ? std::string("none with a platform") : fmt::format("{}", fmt::join(offered, ", ")))
      .with_hint("choose one with --platform OS/ARCH");
}

Result<PullResult> pull(image::ContentStore& store, const image::Reference& ref, const PullOptions& options) {
  std::string display = ref.to_string();
  std::string ctx = fmt::format("pull {}", display);
  http::ClientOptions co;
  co.tls_verify = options.client.tls_verify;
  http::Client client(co);
  BERTH_TRY_CTX(auto session, Session::open(ref.domain(), options.client, client), ctx);
  std::string scope = fmt::format("repository:{}:pull", ref.path());
  BERTH_TRY(auto fetched, fetch_manifest(*session, client, ref, scope, display));
  PullResult out;
  if (oci::media_type::is_index(fetched.media_type)) {
    BERTH_TRY(auto index, oci::parse_index(fetched.bytes, "index " + display));
    BERTH_TRY(auto chosen, select_platform(index, options.platform, display));
    BERTH_TRY(auto chosen_digest, image::Digest::parse(chosen.digest));
    out.index_resolved = true;
    out.index_digest = fetched.digest.str();
    image::Reference by_digest = ref;
    BERTH_TRY(by_digest, image::Reference::parse(ref.repository() + "@" + chosen_digest.str()));
    BERTH_TRY(fetched, fetch_manifest(*session, client, by_digest, scope, by_digest.to_string()));
    if (!oci::media_type::is_manifest(fetched.media_type))
      return Error::make(ErrorKind::unsupported, "{}: the index entry for {} is not an image manifest ({})", ctx,
                         options.platform.str(), fetched.media_type);
  }
  BERTH_TRY(auto manifest, oci::parse_manifest(fetched.bytes, "manifest " + fetched.digest.str()));
  std::vector<oci::Descriptor> blobs{manifest.config};
  for (const auto& layer : manifest.layers)
    if (std::none_of(blobs.begin(), blobs.end(), [&](const auto& b) { return b.digest == layer.digest; }))
      blobs.push_back(layer);
  std::atomic<int64_t> downloaded{0};
  std::atomic<int> skipped{0};
  BERTH_TRY_VOID(session
                     ->for_each_parallel(blobs.size(),
                                         [&](size_t i, http::Client& c) -> Result<void> {
                                           BERTH_TRY(int64_t n, fetch_blob_retrying(*session, c, store, ref, blobs[i], scope));
                                           if (n == 0 && blobs[i].size > 0) ++skipped;
                                           downloaded += n;
                                           return {};
                                         })
                     .context(ctx));
  crash_point("pull:after-blobs");
  image::IngestOptions io;
  io.media_type = fetched.media_type;
  io.expected_digest = fetched.digest;
  BERTH_TRY(out.manifest, store.ingest(fetched.bytes, io).context(ctx));
  out.downloaded = downloaded;
  out.blobs_skipped = skipped;
  return out;
}

Result<void> login(std::string_view registry, const Credentials& credentials, bool tls_verify) {
  std::string ctx = fmt::format("login to {}", registry);
  ClientConfig config;
  config.tls_verify = tls_verify;
  config.credentials = credentials;
  http::ClientOptions co;
  co.tls_verify = tls_verify;
  http::Client client(co);
  BERTH_TRY_CTX(auto session, Session::open(registry, config, client), ctx);
  return session->verify_credentials(client).context(ctx);
}

}  // namespace berth::registry
