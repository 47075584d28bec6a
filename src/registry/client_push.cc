// registry::push: blobs first (skipped when the repository has them, mounted from another
// repository of the registry when one is known to hold them, else uploaded and resumed from what
// the registry received when a transfer breaks), the manifest last.
#include <sys/stat.h>

#include <atomic>
#include <charconv>

#include "base/crash_point.h"
#include "registry/client.h"
#include "registry/client_session.h"

namespace berth::registry {
namespace {

constexpr int kUploadAttempts = 3;

Error status_error(std::string_view what, const http::Response& res) {
  std::string why = registry_error_text(res.body);
  return Error::make(res.status >= 500 ? ErrorKind::unavailable : ErrorKind::failed_precondition, "{}: status {}{}",
                     what, res.status, why.empty() ? "" : ": " + why);
}

Result<std::string> location_of(const http::Response& res, std::string_view what) {
  auto location = res.headers.get("Location");
  if (!location || location->empty())
    return Error::make(ErrorKind::unavailable, "{}: the registry gave no upload Location", what);
  BERTH_TRY(auto next, res.url.resolve(*location));
  return next.str();
}

std::string with_query(const std::string& url, std::string_view query) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + std::string(query);
}

struct BlobPush {
  Session& session;
  http::Client& client;
  const image::Reference& dest;
  const oci::Descriptor& d;
  const std::string& scope;
  int fd;

  Error denied(const http::Response& res) { return session.access_denied("push to", dest.repository(), res); }

  Result<std::string> start_upload(std::string query, const std::string& scope_used, http::Response* answer) {
    http::Request req;
    req.method = "POST";
    req.url = session.endpoint().uploads_url(dest.path());
    if (!query.empty()) req.url = with_query(req.url, query);
    BERTH_TRY(auto res, session.send(client, req, scope_used));
    if (answer) *answer = res;
    if (res.status == 201) return std::string();  // mounted
    if (res.status == 401 || res.status == 403) return denied(res);
    if (res.status != 202) return status_error(fmt::format("start upload of {}", d.digest), res);
    return location_of(res, fmt::format("start upload of {}", d.digest));
  }

  // Where the registry's upload session stands: the offset to continue from, or nullopt when
  // the session is gone.
  std::optional<int64_t> upload_offset(const std::string& location) {
    http::Request req;
    req.url = location;
    auto res = session.send(client, req, scope);
    if (!res || (res->status != 204 && res->status != 200)) return std::nullopt;
    auto range = res->headers.get("Range");
    if (!range) return int64_t{0};
    auto dash = range->find('-');
    if (dash == std::string::npos) return std::nullopt;
    int64_t last = 0;
    auto tail = std::string_view(*range).substr(dash + 1);
    auto [end, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), last);
    if (ec != std::errc() || end != tail.data() + tail.size()) return std::nullopt;
    return last + 1;
  }

  // PATCH the bytes from `offset`, then PUT with the digest. Returns the error of the first
  // failing step; `location` follows what the registry says.
  Result<void> send_from(std::string& location, int64_t offset, int64_t& sent_total) {
    http::Request patch;
    patch.method = "PATCH";
    patch.url = location;
    patch.headers.set("Content-Type", "application/octet-stream");
    if (offset > 0) patch.headers.set("Content-Range", fmt::format("{}-{}", offset, d.size - 1));
    patch.body.fd = fd;
    patch.body.offset = offset;
    patch.body.length = d.size - offset;
    BlobEvent ev{BlobEvent::Kind::progress, d.digest, d.media_type, d.size, offset};
    patch.body.progress = [&](int64_t sent) {
      ev.done = offset + sent;
      session.report(ev);
    };
    if (d.size > offset) {
      BERTH_TRY(auto res, session.send(client, patch, scope));
      if (res.status == 401 || res.status == 403) return denied(res);
      if (res.status != 202 && res.status != 204)
        return status_error(fmt::format("upload {}", d.digest), res);
      sent_total += d.size - offset;
      BERTH_TRY(location, location_of(res, fmt::format("upload {}", d.digest)));
    }
    http::Request put;
    put.method = "PUT";
    put.url = with_query(location, "digest=" + d.digest);
    put.headers.set("Content-Type", "application/octet-stream");
    BERTH_TRY(auto res, session.send(client, put, scope));
    if (res.status == 401 || res.status == 403) return denied(res);
    if (res.status != 201 && res.status != 204) return status_error(fmt::format("finish upload of {}", d.digest), res);
    return {};
  }

  Result<int64_t> run(const std::map<std::string, std::vector<std::string>>& mount_sources) {
    BlobEvent ev{BlobEvent::Kind::skipped, d.digest, d.media_type, d.size};
    http::Request head;
    head.method = "HEAD";
    head.url = session.endpoint().blob_url(dest.path(), d.digest);
    BERTH_TRY(auto exists, session.send(client, head, scope));
    if (exists.status == 200) {
      session.report(ev);
      return 0;
    }
    if (exists.status == 401 || exists.status == 403) return denied(exists);
    std::string location;
    if (auto it = mount_sources.find(d.digest); it != mount_sources.end())
      for (const auto& from : it->second) {
        if (from == dest.path()) continue;
        auto mount_scope = fmt::format("{} repository:{}:pull", scope, from);
        http::Response answer;
        auto started = start_upload(fmt::format("mount={}&from={}", d.digest, from), mount_scope, &answer);
        if (!started) continue;  // not allowed to read there: upload instead
        if (started->empty()) {
          ev.kind = BlobEvent::Kind::mounted;
          ev.from = from;
          session.report(ev);
          return 0;
        }
        location = std::move(*started);  // the registry could not mount: it opened an upload
        break;
      }
    ev.kind = BlobEvent::Kind::started;
    session.report(ev);
    int64_t sent = 0;
    std::optional<Error> last;
    for (int attempt = 0; attempt < kUploadAttempts; ++attempt) {
      int64_t offset = 0;
      if (location.empty()) {
        BERTH_TRY(location, start_upload("", scope, nullptr));
      } else if (attempt > 0) {
        // Continue the session from what the registry has, or start the blob again.
        auto have = upload_offset(location);
        if (!have || *have > d.size) {
          BERTH_TRY(location, start_upload("", scope, nullptr));
        } else {
          offset = *have;
        }
      }
      auto r = send_from(location, offset, sent);
      if (r) {
        ev.kind = BlobEvent::Kind::finished;
        ev.done = d.size;
        session.report(ev);
        return sent;
      }
      // Refusals and bad content do not get better by sending again.
      auto kind = r.error().kind();
      if (kind != ErrorKind::io && kind != ErrorKind::unavailable) return std::move(r).error();
      last = std::move(r).error();
    }
    return std::move(*last);
  }
};

}  // namespace

Result<PushResult> push(const image::ContentStore& store, const oci::Descriptor& manifest_descriptor,
                        const image::Reference& dest, const PushOptions& options) {
  std::string display = dest.to_string();
  std::string ctx = fmt::format("push {}", display);
  BERTH_TRY(auto manifest_digest, image::Digest::parse(manifest_descriptor.digest));
  BERTH_TRY(auto manifest_bytes, store.read(manifest_digest).context(ctx));
  BERTH_TRY(auto manifest, oci::parse_manifest(manifest_bytes, "manifest " + manifest_digest.str()));
  std::vector<oci::Descriptor> blobs = manifest.layers;
  blobs.push_back(manifest.config);
  std::vector<oci::Descriptor> unique;
  for (const auto& b : blobs) {
    // As docker: a layer clients fetch from its urls stays where it is.
    if (!b.urls.empty() && oci::media_type::is_non_distributable(b.media_type)) continue;
    if (std::none_of(unique.begin(), unique.end(), [&](const auto& u) { return u.digest == b.digest; }))
      unique.push_back(b);
  }

  http::ClientOptions co;
  co.tls_verify = options.client.tls_verify;
  http::Client client(co);
  BERTH_TRY_CTX(auto session, Session::open(dest.domain(), options.client, client), ctx);
  std::string scope = fmt::format("repository:{}:pull,push", dest.path());
  std::atomic<int64_t> uploaded{0};
  BERTH_TRY_VOID(session
                     ->for_each_parallel(unique.size(),
                                         [&](size_t i, http::Client& c) -> Result<void> {
                                           const auto& d = unique[i];
                                           BERTH_TRY(auto digest, image::Digest::parse(d.digest));
                                           BERTH_TRY(auto fd, store.open_blob(digest));
                                           BlobPush p{*session, c, dest, d, scope, fd.get()};
                                           BERTH_TRY(int64_t n, p.run(options.mount_sources));
                                           uploaded += n;
                                           return {};
                                         })
                     .context(ctx));

  crash_point("push:after-blobs");
  http::Request put;
  put.method = "PUT";
  put.url = session->endpoint().manifest_url(dest);
  put.headers.set("Content-Type", manifest.media_type.empty() ? manifest_descriptor.media_type : manifest.media_type);
  put.body.data = manifest_bytes;
  BERTH_TRY(auto res, session->send(client, put, scope).context(ctx));
  if (res.status == 401 || res.status == 403) return session->access_denied("push to", dest.repository(), res);
  if (res.status != 201 && res.status != 200 && res.status != 204)
    return status_error(fmt::format("{}: put manifest", ctx), res);
  PushResult out;
  out.digest = manifest_digest.str();
  if (auto claimed = res.headers.get("Docker-Content-Digest"); claimed && *claimed != out.digest)
    return Error::make(ErrorKind::corrupt, "{}: the registry stored the manifest as {}, not {}", ctx, *claimed,
                       out.digest);
  out.size = static_cast<int64_t>(manifest_bytes.size());
  out.uploaded = uploaded;
  return out;
}

}  // namespace berth::registry
