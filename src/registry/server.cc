// registry/server.cc — the distribution protocol. Routes follow the spec's endpoint table
// (end-1 … end-13); every error carries the spec's JSON body {"errors":[{code,message,detail}]}.
#include "registry/server.h"

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <stop_token>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "base/rate_limit.h"
#include "base/sys.h"
#include "oci/image_spec.h"
#include "registry/gc.h"
#include "registry/manifest.h"
#include "registry/names.h"

namespace berth::registry {
namespace {

using http::Dispatch;
using http::ServerRequest;
using http::ServerResponse;
using nlohmann::json;

ServerResponse error_response(int status, std::string_view code, std::string message,
                              json detail = nullptr) {
  ServerResponse r;
  r.status = status;
  json e = {{"code", code}, {"message", std::move(message)}};
  if (!detail.is_null()) e["detail"] = std::move(detail);
  // The message may quote the request's path, which need not be UTF-8: replaced, not thrown.
  r.body = json{{"errors", json::array({e})}}.dump(-1, ' ', false, json::error_handler_t::replace);
  r.set("Content-Type", "application/json");
  return r;
}

Dispatch reply(ServerResponse r) { return Dispatch{std::move(r), nullptr}; }

// Storage failures other than "not there": the server's own trouble, said as such.
ServerResponse storage_failure(const Error& e) {
  log::error(e.message());
  return error_response(500, "UNKNOWN", e.message());
}

ServerResponse json_response(int status, const json& body,
                             std::string_view content_type = "application/json") {
  ServerResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  r.set("Content-Type", std::string(content_type));
  return r;
}

std::string upload_location(const std::string& repo, const std::string& id) {
  return fmt::format("/v2/{}/blobs/uploads/{}", repo, id);
}

std::string range_header(uint64_t size) { return fmt::format("0-{}", size ? size - 1 : 0); }

// The endpoint a /v2/ path names.
struct Route {
  enum Kind {
    ping,
    catalog,
    manifest,
    blob,
    upload_start,
    upload,
    tags,
    referrers,
    unknown
  } kind = unknown;
  std::string repository;
  std::string reference;  // tag/digest, upload id
};

Route route(std::string_view path) {
  Route r;
  if (path == "/v2" || path == "/v2/") {
    r.kind = Route::ping;
    return r;
  }
  if (path == "/v2/_catalog") {
    r.kind = Route::catalog;
    return r;
  }
  if (!path.starts_with("/v2/")) return r;
  std::string_view rest = path.substr(4);
  for (std::string_view suffix : {"/blobs/uploads/", "/blobs/uploads"}) {
    if (rest.ends_with(suffix)) {
      r.kind = Route::upload_start;
      r.repository = std::string(rest.substr(0, rest.size() - suffix.size()));
      return r;
    }
  }
  // .../<b>/<a>: the name is what comes before.
  auto slash_a = rest.rfind('/');
  if (slash_a == std::string_view::npos || slash_a == 0) return r;
  std::string_view a = rest.substr(slash_a + 1);
  auto slash_b = rest.rfind('/', slash_a - 1);
  if (slash_b == std::string_view::npos) return r;
  std::string_view b = rest.substr(slash_b + 1, slash_a - slash_b - 1);
  std::string_view name = rest.substr(0, slash_b);
  r.reference = std::string(a);
  if (b == "uploads" && name.ends_with("/blobs")) {
    r.kind = Route::upload;
    name.remove_suffix(6);
  } else if (b == "manifests") {
    r.kind = Route::manifest;
  } else if (b == "blobs") {
    r.kind = Route::blob;
  } else if (b == "referrers") {
    r.kind = Route::referrers;
  } else if (b == "tags" && a == "list") {
    r.kind = Route::tags;
    r.reference.clear();
  } else {
    return r;
  }
  if (a.empty()) r.kind = Route::unknown;
  r.repository = std::string(name);
  return r;
}

std::optional<size_t> parse_count(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  size_t v = 0;
  auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || p != text->data() + text->size()) return std::nullopt;
  return v;
}

// n/last pagination of a sorted list (tags, catalog): the page, and the Link to the next one.
std::vector<std::string> paginate(const std::vector<std::string>& all, const ServerRequest& req,
                                  std::string_view base, ServerResponse& response) {
  auto last = req.query_value("last");
  auto n = parse_count(req.query_value("n"));
  auto it = all.begin();
  if (last) it = std::upper_bound(all.begin(), all.end(), *last);
  std::vector<std::string> page;
  for (; it != all.end() && (!n || page.size() < *n); ++it) page.push_back(*it);
  if (n && it != all.end() && !page.empty())
    response.set("Link", fmt::format("<{}?n={}&last={}>; rel=\"next\"", base, *n, page.back()));
  return page;
}

class Busy {
 public:
  Busy() = default;
  Busy(std::mutex* m, std::set<std::string>* set, std::string id)
      : m_(m), set_(set), id_(std::move(id)) {}
  Busy(Busy&& o) noexcept : m_(o.m_), set_(o.set_), id_(std::move(o.id_)) { o.set_ = nullptr; }
  Busy& operator=(Busy&&) = delete;
  ~Busy() {
    if (!set_) return;
    std::lock_guard lock(*m_);
    set_->erase(id_);
  }

 private:
  std::mutex* m_ = nullptr;
  std::set<std::string>* set_ = nullptr;
  std::string id_;
};

// Streams a request body into an upload; `done` answers once all of it arrived.
class UploadSink final : public http::BodySink {
 public:
  UploadSink(std::shared_ptr<Upload> upload, Busy busy, std::optional<uint64_t> expected,
             std::function<ServerResponse(Upload&)> done)
      : upload_(std::move(upload)),
        busy_(std::move(busy)),
        expected_(expected),
        done_(std::move(done)) {}

  Result<void> write(const char* data, size_t size) override {
    if (expected_ && received_ + size > *expected_)
      return Error::make(ErrorKind::invalid_argument,
                         "the chunk is longer than its Content-Range says ({} bytes)", *expected_);
    received_ += size;
    return upload_->append(data, size);
  }

  ServerResponse finish(Result<void> outcome) override {
    if (!outcome) {
      if (outcome.error().kind() == ErrorKind::unavailable)
        return {};  // peer gone: bytes kept, resumable
      if (outcome.error().kind() == ErrorKind::invalid_argument)
        return with_state(error_response(416, "BLOB_UPLOAD_INVALID", outcome.error().message()));
      return storage_failure(outcome.error());
    }
    if (expected_ && received_ != *expected_)
      return with_state(error_response(
          400, "SIZE_INVALID",
          fmt::format("the chunk has {} bytes, its Content-Range says {}", received_, *expected_)));
    return done_(*upload_);
  }

 private:
  ServerResponse with_state(ServerResponse r) {
    r.set("Location", upload_location(upload_->repository(), upload_->id()));
    r.set("Range", range_header(upload_->size()));
    r.set("Docker-Upload-UUID", upload_->id());
    return r;
  }

  std::shared_ptr<Upload> upload_;
  Busy busy_;
  std::optional<uint64_t> expected_;
  uint64_t received_ = 0;
  std::function<ServerResponse(Upload&)> done_;
};

class RegistryHandler final : public http::Handler {
 public:
  RegistryHandler(Storage& storage, AccessControl& access, const HandlerLimits& limits)
      : storage_(storage),
        access_(access),
        max_busy_(limits.max_busy_uploads),
        rate_(limits.requests_per_second_per_client, limits.request_burst_per_client) {
    if (const auto& t = access_.token_settings()) {
      // The token endpoint is served at the realm's path.
      std::string_view realm = t->realm;
      auto scheme = realm.find("://");
      auto slash = realm.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
      token_path_ = slash == std::string_view::npos ? "/token" : std::string(realm.substr(slash));
      if (auto q = token_path_.find('?'); q != std::string::npos) token_path_.resize(q);
    }
  }

  Dispatch handle(const ServerRequest& req) override {
    Dispatch d = over_rate(req) ? reply(too_many_requests()) : dispatch(req);
    d.response.set("Docker-Distribution-API-Version", "registry/2.0");
    if (log::debug_enabled())
      log::debug(fmt::format("{} {} → {}", req.method, req.target, d.sink ? 0 : d.response.status));
    return d;
  }

 private:
  // --rate-limit-per-client, counted by the address in `remote` ("ip:port"), before anything
  // else: a refused request costs no password check and no disk access.
  bool over_rate(const ServerRequest& req) {
    if (!rate_.enabled()) return false;
    auto colon = req.remote.rfind(':');
    if (colon == std::string::npos) return false;
    std::string ip = req.remote.substr(0, colon);
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    std::lock_guard lock(rate_mutex_);
    if (now - rate_pruned_ms_ >= 10'000) {
      rate_.prune(now);
      rate_pruned_ms_ = now;
    }
    return !rate_.allow(ip, now);
  }

  ServerResponse too_many_requests() const {
    ServerResponse r = error_response(
        429, "TOOMANYREQUESTS",
        fmt::format("your address made more requests than the registry allows ({} a second): "
                    "retry in a second",
                    rate_.per_second()));
    r.set("Retry-After", "1");
    return r;
  }

  Dispatch dispatch(const ServerRequest& req) {
    if (!token_path_.empty() && req.path == token_path_) return reply(token(req));
    Route r = route(req.path);
    if (r.kind == Route::unknown)
      return reply(error_response(404, "UNSUPPORTED", fmt::format("no endpoint '{}'", req.path)));
    if (r.kind != Route::ping && r.kind != Route::catalog) {
      if (auto v = validate_repository(r.repository); !v)
        return reply(
            error_response(400, "NAME_INVALID", v.error().message(), json{{"name", r.repository}}));
    }
    auto who = access_.authenticate(req.header("Authorization"));
    if (!who) {
      Refusal refusal = access_.unauthorized(who.error().message(), "");
      return reply(refuse(refusal));
    }
    if (r.kind == Route::ping) {
      // Credentials that name no one (Basic with an empty user) are no sign-in either.
      if (access_.enabled() && who->user.empty() && !who->token)
        return reply(refuse(access_.unauthorized("authentication required", "")));
      return reply(json_response(200, json::object()));
    }
    std::string_view action = action_for(r, req.method);
    if (action.empty())
      return reply(error_response(
          405, "UNSUPPORTED", fmt::format("{} is not supported on '{}'", req.method, req.path)));
    if (auto refusal = access_.check(*who, r.kind == Route::catalog ? "" : r.repository, action))
      return reply(refuse(*refusal));
    switch (r.kind) {
      case Route::catalog:
        return reply(catalog(req, *who));
      case Route::manifest:
        if (req.method == "PUT") return put_manifest(req, r);
        if (req.method == "DELETE") return reply(delete_manifest(r));
        return reply(get_manifest(r));
      case Route::blob:
        if (req.method == "DELETE") return reply(delete_blob(r));
        return reply(get_blob(req, r));
      case Route::upload_start:
        return start_upload(req, r, *who);
      case Route::upload:
        if (req.method == "GET") return reply(upload_status(r));
        if (req.method == "DELETE") return reply(cancel_upload(r));
        return write_upload(req, r);
      case Route::tags:
        return reply(tags(req, r));
      case Route::referrers:
        return reply(referrers(req, r));
      default:
        return reply(error_response(404, "UNSUPPORTED", "no such endpoint"));
    }
  }

  static std::string_view action_for(const Route& r, std::string_view method) {
    bool read = method == "GET" || method == "HEAD";
    switch (r.kind) {
      case Route::catalog:
      case Route::tags:
      case Route::referrers:
        return read ? "pull" : "";
      case Route::manifest:
      case Route::blob:
        if (read) return "pull";
        if (method == "DELETE") return "delete";
        return r.kind == Route::manifest && method == "PUT" ? "push" : "";
      case Route::upload_start:
        return method == "POST" ? "push" : "";
      case Route::upload:
        return method == "GET" || method == "PATCH" || method == "PUT" || method == "DELETE"
                   ? "push"
                   : "";
      default:
        return "";
    }
  }

  ServerResponse refuse(const Refusal& refusal) {
    ServerResponse r = error_response(refusal.status, refusal.code, refusal.message);
    if (!refusal.challenge.empty()) r.set("WWW-Authenticate", refusal.challenge);
    return r;
  }

  // ---- token endpoint --------------------------------------------------------------------
  ServerResponse token(const ServerRequest& req) {
    if (req.method != "GET")
      return error_response(405, "UNSUPPORTED", "the token endpoint answers GET");
    std::string user;
    if (const auto* auth = req.header("Authorization")) {
      if (!std::string_view(*auth).substr(0, 6).starts_with("Basic") &&
          !std::string_view(*auth).starts_with("basic")) {
        return token_refusal("the token endpoint takes Basic credentials or none");
      }
      auto who = access_.authenticate(auth);
      if (!who) return token_refusal(who.error().message());
      user = who->user;
    }
    std::vector<std::string> scopes;
    for (const auto& [k, v] : req.query)
      if (k == "scope") scopes.push_back(v);
    auto body = access_.issue_token(user, req.query_value("service").value_or(""), scopes,
                                    clock::now_ns() / 1'000'000'000);
    if (!body) return error_response(400, "UNSUPPORTED", body.error().message());
    ServerResponse r;
    r.body = std::move(*body);
    r.set("Content-Type", "application/json");
    r.set("Cache-Control", "no-store");
    return r;
  }

  ServerResponse token_refusal(std::string message) {
    ServerResponse r = error_response(401, "UNAUTHORIZED", std::move(message));
    r.set("WWW-Authenticate", "Basic realm=\"berth-registry\"");
    return r;
  }

  // ---- catalog, tags, referrers ------------------------------------------------------------
  // A page size that is not a count is a 400, as distribution answers (it was ignored: the
  // client got every name and believed it had a page).
  static std::optional<ServerResponse> bad_page_size(const ServerRequest& req) {
    if (!req.query_value("n") || parse_count(req.query_value("n"))) return std::nullopt;
    return error_response(400, "UNSUPPORTED",
                          fmt::format("n '{}' is not a count", *req.query_value("n")));
  }

  ServerResponse catalog(const ServerRequest& req, const Identity& who) {
    if (auto bad = bad_page_size(req)) return std::move(*bad);
    auto all = storage_.list_repositories();
    if (!all) return storage_failure(all.error());
    std::vector<std::string> visible;
    for (auto& repo : *all)
      if (!access_.check(who, repo, "pull") ||
          (who.token && !access_.permitted(who.user, repo, {"pull"}).empty()))
        visible.push_back(std::move(repo));
    ServerResponse r;
    auto page = paginate(visible, req, "/v2/_catalog", r);
    ServerResponse out = json_response(200, json{{"repositories", page}});
    for (auto& h : r.headers) out.set(h.name, h.value);
    return out;
  }

  ServerResponse tags(const ServerRequest& req, const Route& route) {
    auto all = storage_.list_tags(route.repository);
    if (!all) {
      if (all.error().kind() == ErrorKind::not_found)
        return error_response(404, "NAME_UNKNOWN", all.error().message(),
                              json{{"name", route.repository}});
      return storage_failure(all.error());
    }
    if (auto bad = bad_page_size(req)) return std::move(*bad);
    ServerResponse r;
    auto page = paginate(*all, req, fmt::format("/v2/{}/tags/list", route.repository), r);
    ServerResponse out = json_response(200, json{{"name", route.repository}, {"tags", page}});
    for (auto& h : r.headers) out.set(h.name, h.value);
    return out;
  }

  ServerResponse referrers(const ServerRequest& req, const Route& route) {
    auto digest = image::Digest::parse(route.reference);
    if (!digest)
      return error_response(400, "DIGEST_INVALID", digest.error().message(),
                            json{{"digest", route.reference}});
    auto list = storage_.referrers(route.repository, *digest);
    if (!list) return storage_failure(list.error());
    auto filter = req.query_value("artifactType");
    json manifests = json::array();
    for (const auto& ref : *list) {
      if (filter && ref.artifact_type != *filter) continue;
      json d = {{"mediaType", ref.media_type}, {"digest", ref.digest.str()}, {"size", ref.size}};
      if (!ref.artifact_type.empty()) d["artifactType"] = ref.artifact_type;
      json ann = json::parse(ref.annotations_json, nullptr, false);
      if (ann.is_object() && !ann.empty()) d["annotations"] = ann;
      manifests.push_back(std::move(d));
    }
    ServerResponse r = json_response(200,
                                     json{{"schemaVersion", 2},
                                          {"mediaType", std::string(oci::media_type::kImageIndex)},
                                          {"manifests", manifests}},
                                     oci::media_type::kImageIndex);
    if (filter) r.set("OCI-Filters-Applied", "artifactType");
    return r;
  }

  // ---- manifests ---------------------------------------------------------------------------
  // What a tag outside the spec's grammar means: a PUT of it is refused, while a GET, HEAD or
  // DELETE names a manifest that cannot exist, which the spec answers with 404 (as distribution
  // does; the conformance suite reads ".INVALID_MANIFEST_NAME").
  enum class MalformedTag { invalid, unknown };

  std::optional<ServerResponse> bad_reference(const std::string& reference,
                                              MalformedTag malformed_tag) {
    if (reference.find(':') != std::string::npos) {
      auto d = image::Digest::parse(reference);
      if (!d)
        return error_response(400, "DIGEST_INVALID", d.error().message(),
                              json{{"digest", reference}});
      if (!d->is_sha256())
        return error_response(400, "DIGEST_INVALID",
                              fmt::format("digest '{}': only sha256 is supported", reference));
      return std::nullopt;
    }
    if (auto t = validate_tag(reference); !t) {
      if (malformed_tag == MalformedTag::unknown)
        return error_response(404, "MANIFEST_UNKNOWN", t.error().message(),
                              json{{"reference", reference}});
      return error_response(400, "MANIFEST_INVALID", t.error().message(), json{{"tag", reference}});
    }
    return std::nullopt;
  }

  ServerResponse get_manifest(const Route& route) {
    if (auto bad = bad_reference(route.reference, MalformedTag::unknown)) return std::move(*bad);
    auto m = storage_.get_manifest(route.repository, route.reference);
    if (!m) {
      if (m.error().kind() != ErrorKind::not_found) return storage_failure(m.error());
      if (!storage_.repository_exists(route.repository))
        return error_response(404, "NAME_UNKNOWN",
                              fmt::format("repository '{}' does not exist", route.repository),
                              json{{"name", route.repository}});
      return error_response(404, "MANIFEST_UNKNOWN", m.error().message(),
                            json{{"reference", route.reference}});
    }
    ServerResponse r;
    r.body = std::move(m->content);
    r.set("Content-Type", m->media_type);
    r.set("Docker-Content-Digest", m->digest.str());
    r.set("ETag", fmt::format("\"{}\"", m->digest.str()));
    return r;
  }

  Dispatch put_manifest(const ServerRequest& req, const Route& route) {
    if (auto bad = bad_reference(route.reference, MalformedTag::invalid))
      return reply(std::move(*bad));
    auto too_large = [] {
      return error_response(413, "SIZE_INVALID",
                            fmt::format("manifests are limited to {} bytes", kMaxManifestSize));
    };
    if (req.content_length && *req.content_length > kMaxManifestSize) return reply(too_large());
    std::string content_type = req.header("Content-Type") ? *req.header("Content-Type") : "";
    Dispatch d;
    d.sink = http::collect_body(
        kMaxManifestSize,
        [this, route, content_type](std::string body) {
          return store_manifest(route, content_type, std::move(body));
        },
        too_large);
    return d;
  }

  ServerResponse store_manifest(const Route& route, const std::string& content_type,
                                std::string body) {
    auto facts = inspect_manifest(body, content_type);
    if (!facts) return error_response(400, "MANIFEST_INVALID", facts.error().message());
    image::Digest digest = image::sha256_of(body);
    std::optional<std::string> tag;
    if (route.reference.find(':') != std::string::npos) {
      if (route.reference != digest.str())
        return error_response(
            400, "DIGEST_INVALID",
            fmt::format("the manifest's digest is {}, not {}", digest.str(), route.reference),
            json{{"digest", route.reference}});
    } else {
      tag = route.reference;
    }
    // Shared with other writers, exclusive of gc: what we check here stays until we wrote.
    auto lock = storage_.lock_shared();
    if (!lock) return storage_failure(lock.error());
    for (const auto& blob : facts->blobs) {
      if (auto s = storage_.stat_blob(route.repository, blob); !s) {
        if (s.error().kind() == ErrorKind::unsupported)
          return error_response(400, "DIGEST_INVALID", s.error().message(),
                                json{{"digest", blob.str()}});
        return error_response(400, "MANIFEST_BLOB_UNKNOWN",
                              fmt::format("blob {} is not in repository '{}': push it first",
                                          blob.str(), route.repository),
                              json{{"digest", blob.str()}});
      }
    }
    for (const auto& child : facts->manifests) {
      if (auto m = storage_.get_manifest(route.repository, child.str()); !m)
        return error_response(400, "MANIFEST_BLOB_UNKNOWN",
                              fmt::format("manifest {} is not in repository '{}': push it first",
                                          child.str(), route.repository),
                              json{{"digest", child.str()}});
    }
    Referrer self{digest, facts->media_type, body.size(), facts->artifact_type,
                  facts->annotations_json};
    ManifestRecord record{digest, facts->media_type, std::move(body)};
    if (auto w = storage_.put_manifest(route.repository, record, tag, facts->subject, self); !w)
      return storage_failure(w.error());
    ServerResponse r;
    r.status = 201;
    r.set("Location", fmt::format("/v2/{}/manifests/{}", route.repository, digest.str()));
    r.set("Docker-Content-Digest", digest.str());
    if (facts->subject) r.set("OCI-Subject", facts->subject->str());
    return r;
  }

  ServerResponse delete_manifest(const Route& route) {
    if (auto bad = bad_reference(route.reference, MalformedTag::unknown)) return std::move(*bad);
    Result<void> done =
        route.reference.find(':') != std::string::npos
            ? storage_.delete_manifest(route.repository, *image::Digest::parse(route.reference))
            : storage_.delete_tag(route.repository, route.reference);
    if (!done) {
      if (done.error().kind() == ErrorKind::not_found)
        return error_response(404, "MANIFEST_UNKNOWN", done.error().message(),
                              json{{"reference", route.reference}});
      return storage_failure(done.error());
    }
    return ServerResponse{202};
  }

  // ---- blobs -------------------------------------------------------------------------------
  std::optional<ServerResponse> bad_digest(const std::string& text, image::Digest& out) {
    auto d = image::Digest::parse(text);
    if (!d)
      return error_response(400, "DIGEST_INVALID", d.error().message(), json{{"digest", text}});
    if (!d->is_sha256())
      return error_response(400, "DIGEST_INVALID",
                            fmt::format("digest '{}': only sha256 is supported", text),
                            json{{"digest", text}});
    out = *d;
    return std::nullopt;
  }

  ServerResponse get_blob(const ServerRequest& req, const Route& route) {
    image::Digest digest;
    if (auto bad = bad_digest(route.reference, digest)) return std::move(*bad);
    auto blob = storage_.open_blob(route.repository, digest);
    if (!blob) {
      if (blob.error().kind() == ErrorKind::not_found)
        return error_response(404, "BLOB_UNKNOWN", blob.error().message(),
                              json{{"digest", digest.str()}});
      return storage_failure(blob.error());
    }
    ServerResponse r;
    r.set("Content-Type", "application/octet-stream");
    r.set("Docker-Content-Digest", digest.str());
    r.set("ETag", fmt::format("\"{}\"", digest.str()));
    r.set("Accept-Ranges", "bytes");
    r.file_offset = 0;
    r.file_length = blob->size;
    if (const auto* range = req.header("Range")) {
      auto parsed = parse_range(*range, blob->size);
      if (!parsed) {
        ServerResponse e = error_response(416, "BLOB_UNKNOWN", parsed.error().message(),
                                          json{{"digest", digest.str()}});
        e.set("Content-Range", fmt::format("bytes */{}", blob->size));
        return e;
      }
      if (*parsed) {
        r.status = 206;
        r.file_offset = (*parsed)->first;
        r.file_length = (*parsed)->size();
        r.set("Content-Range",
              fmt::format("bytes {}-{}/{}", (*parsed)->first, (*parsed)->last, blob->size));
      }
    }
    r.file = std::move(blob->fd);
    return r;
  }

  ServerResponse delete_blob(const Route& route) {
    image::Digest digest;
    if (auto bad = bad_digest(route.reference, digest)) return std::move(*bad);
    if (auto d = storage_.unlink_blob(route.repository, digest); !d) {
      if (d.error().kind() == ErrorKind::not_found)
        return error_response(404, "BLOB_UNKNOWN", d.error().message(),
                              json{{"digest", digest.str()}});
      return storage_failure(d.error());
    }
    ServerResponse r{202};
    r.set("Docker-Content-Digest", digest.str());
    return r;
  }

  // ---- uploads -----------------------------------------------------------------------------
  Result<Busy> claim(const std::string& id) {
    std::lock_guard lock(busy_mutex_);
    if (busy_.size() >= max_busy_)
      return Error::make(ErrorKind::unavailable,
                         "{} uploads are streaming already: try again shortly", busy_.size());
    if (!busy_.insert(id).second)
      return Error::make(ErrorKind::already_exists, "upload '{}' is receiving another request", id);
    return Busy(&busy_mutex_, &busy_, id);
  }

  ServerResponse upload_state(int status, Upload& u) {
    ServerResponse r{status};
    r.set("Location", upload_location(u.repository(), u.id()));
    r.set("Range", range_header(u.size()));
    r.set("Docker-Upload-UUID", u.id());
    return r;
  }

  ServerResponse committed(const std::string& repo, const image::Digest& digest) {
    ServerResponse r{201};
    r.set("Location", fmt::format("/v2/{}/blobs/{}", repo, digest.str()));
    r.set("Docker-Content-Digest", digest.str());
    return r;
  }

  ServerResponse commit(Upload& u, const image::Digest& digest) {
    std::string repo = u.repository();
    std::string id = u.id();
    if (auto c = u.commit(digest); !c) {
      if (c.error().kind() == ErrorKind::invalid_argument ||
          c.error().kind() == ErrorKind::unsupported) {
        // The bytes are not what the client meant: the session is of no further use.
        if (auto x = storage_.cancel_upload(repo, id); !x) log::warn(x.error().message());
        return error_response(400, "DIGEST_INVALID", c.error().message(),
                              json{{"digest", digest.str()}});
      }
      return storage_failure(c.error());
    }
    return committed(repo, digest);
  }

  Dispatch start_upload(const ServerRequest& req, const Route& route, const Identity& who) {
    auto mount = req.query_value("mount");
    auto from = req.query_value("from");
    if (mount && from && validate_repository(*from)) {
      image::Digest digest;
      if (auto bad = bad_digest(*mount, digest)) return reply(std::move(*bad));
      // Mounting needs pull on the source; without it (or without the blob) the spec says to
      // fall back to an ordinary upload session.
      if (!access_.check(who, *from, "pull") &&
          storage_.mount_blob(route.repository, *from, digest))
        return reply(committed(route.repository, digest));
    }
    auto digest_param = req.query_value("digest");
    image::Digest digest;
    if (digest_param)
      if (auto bad = bad_digest(*digest_param, digest)) return reply(std::move(*bad));
    auto upload = storage_.create_upload(route.repository);
    if (!upload) return reply(storage_failure(upload.error()));
    if (!digest_param) return reply(upload_state(202, **upload));
    // Monolithic POST: the body is the blob.
    auto busy = claim((*upload)->id());
    if (!busy) return reply(error_response(429, "TOOMANYREQUESTS", busy.error().message()));
    Dispatch d;
    d.sink = std::make_unique<UploadSink>(*upload, std::move(*busy), req.content_length,
                                          [this, digest](Upload& u) { return commit(u, digest); });
    return d;
  }

  ServerResponse upload_unknown(const Route& route, const Error& e) {
    if (e.kind() != ErrorKind::not_found) return storage_failure(e);
    return error_response(404, "BLOB_UPLOAD_UNKNOWN", e.message(), json{{"uuid", route.reference}});
  }

  ServerResponse upload_status(const Route& route) {
    auto upload = storage_.open_upload(route.repository, route.reference);
    if (!upload) return upload_unknown(route, upload.error());
    return upload_state(204, **upload);
  }

  ServerResponse cancel_upload(const Route& route) {
    auto busy = claim(route.reference);
    if (!busy) return error_response(409, "BLOB_UPLOAD_INVALID", busy.error().message());
    if (auto c = storage_.cancel_upload(route.repository, route.reference); !c)
      return upload_unknown(route, c.error());
    return ServerResponse{204};
  }

  // PATCH (a chunk, or the whole stream) and PUT (the last chunk, if any, and the digest).
  Dispatch write_upload(const ServerRequest& req, const Route& route) {
    bool final = req.method == "PUT";
    image::Digest digest;
    if (final) {
      auto param = req.query_value("digest");
      if (!param)
        return reply(
            error_response(400, "DIGEST_INVALID", "the closing PUT needs ?digest=sha256:…"));
      if (auto bad = bad_digest(*param, digest)) return reply(std::move(*bad));
    }
    auto upload = storage_.open_upload(route.repository, route.reference);
    if (!upload) return reply(upload_unknown(route, upload.error()));
    auto busy = claim(route.reference);
    if (!busy) {
      int status = busy.error().kind() == ErrorKind::unavailable ? 429 : 416;
      ServerResponse r =
          error_response(status, status == 429 ? "TOOMANYREQUESTS" : "BLOB_UPLOAD_INVALID",
                         busy.error().message());
      if (status == 416) r = with_upload_headers(std::move(r), **upload);
      return reply(std::move(r));
    }
    std::optional<uint64_t> expected = req.content_length;
    if (const auto* cr = req.header("Content-Range"); cr && req.has_body) {
      auto range = parse_content_range(*cr);
      if (!range)
        return reply(with_upload_headers(
            error_response(416, "BLOB_UPLOAD_INVALID", range.error().message()), **upload));
      if (range->first != (*upload)->size())
        return reply(with_upload_headers(
            error_response(
                416, "BLOB_UPLOAD_INVALID",
                fmt::format("chunk starts at byte {}, but the upload has {} bytes: resume at {}",
                            range->first, (*upload)->size(), (*upload)->size())),
            **upload));
      if (req.content_length && *req.content_length != range->size())
        return reply(with_upload_headers(
            error_response(416, "BLOB_UPLOAD_INVALID",
                           fmt::format("Content-Range {} is {} bytes, Content-Length {}", *cr,
                                       range->size(), *req.content_length)),
            **upload));
      expected = range->size();
    }
    auto done = [this, final, digest](Upload& u) {
      return final ? commit(u, digest) : upload_state(202, u);
    };
    if (!req.has_body) return reply(done(**upload));
    Dispatch d;
    d.sink = std::make_unique<UploadSink>(*upload, std::move(*busy), expected, done);
    return d;
  }

  ServerResponse with_upload_headers(ServerResponse r, Upload& u) {
    r.set("Location", upload_location(u.repository(), u.id()));
    r.set("Range", range_header(u.size()));
    r.set("Docker-Upload-UUID", u.id());
    return r;
  }

  Storage& storage_;
  AccessControl& access_;
  size_t max_busy_;
  std::mutex rate_mutex_;
  ClientRateLimit rate_;
  int64_t rate_pruned_ms_ = 0;
  std::string token_path_;
  std::mutex busy_mutex_;
  std::set<std::string> busy_;
};

}  // namespace

std::unique_ptr<http::Handler> make_registry_handler(Storage& storage, AccessControl& access,
                                                     const HandlerLimits& limits) {
  return std::make_unique<RegistryHandler>(storage, access, limits);
}

Result<void> serve(const ServeOptions& options,
                   const std::function<void(const std::string&)>& listening) {
  BERTH_TRY(auto storage, open_filesystem_storage(options.root));
  AccessControl access;
  if (!options.config.empty()) {
    BERTH_TRY(auto config, load_access_config(options.config));
    access = AccessControl(std::move(config));
  }
  auto handler = make_registry_handler(*storage, access, options.handler);
  http::ServerOptions http_options;
  http_options.address = options.address;
  http_options.tls_cert = options.tls_cert;
  http_options.tls_key = options.tls_key;
  http_options.threads = options.threads;
  http_options.idle_timeout_ms = options.idle_timeout_ms;
  http_options.header_timeout_ms = options.header_timeout_ms;
  http_options.max_header_bytes = options.max_header_bytes;
  http_options.max_connections = options.max_connections;
  http_options.max_connections_per_client = options.max_connections_per_client;
  BERTH_TRY(auto server, http::Server::listen(http_options, *handler));
  listening(server->address());
  std::jthread purger;
  if (options.upload_purge_interval_seconds > 0)
    purger = std::jthread([&](std::stop_token stop) {
      std::mutex m;
      std::condition_variable_any wake;
      std::unique_lock lock(m);
      while (!wake.wait_for(lock, stop, std::chrono::seconds(options.upload_purge_interval_seconds),
                            [&] { return stop.stop_requested(); })) {
        auto cutoff = clock::now_ns() - options.upload_grace_seconds * 1'000'000'000;
        auto removed = remove_abandoned_uploads(*storage, cutoff);
        if (!removed)
          log::warn(removed.error().context("remove abandoned uploads").message());
        else if (!removed->empty())
          log::debug(fmt::format("removed {} upload(s) untouched for {} s", removed->size(),
                                 options.upload_grace_seconds));
      }
    });
  return server->run();  // the purger stops and is joined on the way out
}

}  // namespace berth::registry
