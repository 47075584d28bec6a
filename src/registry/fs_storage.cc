// registry/fs_storage.cc — the filesystem backend of registry::Storage (layout in storage.h).
//
// Crash safety: an upload's bytes live only under uploads/<id>/ until its digest is verified;
// then the file is fsynced and renamed to blobs/sha256/<hex> (atomic; two uploads of the same
// blob rename identical content over each other) and only after that is the repository link
// written. Manifests, revisions, tags and referrer entries are written to a unique temporary
// name, fsynced and renamed. So after a crash at any point every visible name is complete, and
// what is left over is an upload directory (resumable, or removed by gc) or an unlinked blob
// (removed by gc after the grace period).
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "base/crash_point.h"
#include "base/sys.h"
#include "registry/storage.h"

namespace berth::registry {
namespace {

constexpr uint64_t kWritebackChunk = 32ull << 20;

bool is_hex(std::string_view s, size_t len) {
  return s.size() == len && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

Result<void> require_sha256(const image::Digest& d) {
  if (!d.is_sha256())
    return Error::make(ErrorKind::unsupported,
                       "digest algorithm '{}' is not supported (only sha256)", d.algorithm());
  return {};
}

Result<void> fsync_dir(const std::string& dir) {
  BERTH_TRY(auto fd, sys::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (::fsync(fd.get()) < 0) return Error::from_errno("fsync '{}'", dir);
  return {};
}

// temp + fsync + rename, with a temporary name of its own: several threads and processes may
// write the same path at once (two pushes of one tag).
Result<void> write_durably(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp-" + sys::random_hex(8);
  {
    BERTH_TRY(auto fd, sys::open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (auto r = sys::write_all(fd.get(), data); !r) {
      ::unlink(tmp.c_str());
      return std::move(r).context(fmt::format("write '{}'", tmp));
    }
    if (::fsync(fd.get()) < 0) {
      Error e = Error::from_errno("fsync '{}'", tmp);
      ::unlink(tmp.c_str());
      return e;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) < 0) {
    Error e = Error::from_errno("rename '{}' to '{}'", tmp, path);
    ::unlink(tmp.c_str());
    return e;
  }
  return {};
}

Result<void> touch_empty(const std::string& path) {
  BERTH_TRY(auto fd, sys::open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  return {};
}

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

class FlockLock final : public StorageLock {
 public:
  explicit FlockLock(UniqueFd fd) : fd_(std::move(fd)) {}
  ~FlockLock() override { ::flock(fd_.get(), LOCK_UN); }

 private:
  UniqueFd fd_;
};

class FsStorage;

class FsUpload final : public Upload {
 public:
  FsUpload(FsStorage& storage, std::string id, std::string repository, UniqueFd fd)
      : storage_(storage),
        id_(std::move(id)),
        repository_(std::move(repository)),
        fd_(std::move(fd)) {}

  const std::string& id() const override { return id_; }
  const std::string& repository() const override { return repository_; }
  uint64_t size() const override {
    std::lock_guard lock(mutex_);
    return size_;
  }

  // Brings the hash up to the file's bytes: after a restart (or a failed request that wrote
  // part of a chunk), the file on disk is the truth.
  Result<void> resync(const std::string& path) {
    std::lock_guard lock(mutex_);
    struct stat st;
    if (::fstat(fd_.get(), &st) < 0) return Error::from_errno("stat '{}'", path);
    auto on_disk = static_cast<uint64_t>(st.st_size);
    if (on_disk == size_ && hash_valid_) return {};
    hasher_ = image::Sha256();
    std::vector<char> buf(1 << 20);
    uint64_t off = 0;
    while (off < on_disk) {
      ssize_t n = ::pread(fd_.get(), buf.data(), buf.size(), static_cast<off_t>(off));
      if (n < 0) return Error::from_errno("read '{}'", path);
      if (n == 0) break;
      hasher_.update(buf.data(), static_cast<size_t>(n));
      off += static_cast<uint64_t>(n);
    }
    size_ = off;
    synced_ = off;
    hash_valid_ = true;
    return {};
  }

  Result<void> append(const char* data, size_t size) override {
    std::lock_guard lock(mutex_);
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::pwrite(fd_.get(), data + done, size - done, static_cast<off_t>(size_ + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        Error e = Error::from_errno("write upload '{}'", id_);
        // What was written stays (the client resumes from the Range we report): keep the hash
        // in step with the file.
        hasher_.update(data, done);
        size_ += done;
        return e;
      }
      done += static_cast<size_t>(n);
    }
    hasher_.update(data, size);
    size_ += size;
    // Start writeback as we go, so the fsync at commit has little left to do.
    if (size_ - synced_ >= kWritebackChunk) {
      ::sync_file_range(fd_.get(), static_cast<off_t>(synced_), static_cast<off_t>(size_ - synced_),
                        SYNC_FILE_RANGE_WRITE);
      synced_ = size_;
    }
    return {};
  }

  Result<void> commit(const image::Digest& expected) override;

 private:
  FsStorage& storage_;
  std::string id_;
  std::string repository_;
  UniqueFd fd_;
  image::Sha256 hasher_;
  uint64_t size_ = 0;
  uint64_t synced_ = 0;
  bool hash_valid_ = false;
  // The server lets one request write a session at a time, but a status GET (or a second server
  // process's view) may look at it meanwhile.
  mutable std::mutex mutex_;
};

class FsStorage final : public Storage {
 public:
  explicit FsStorage(std::string root) : root_(std::move(root)) {}

  Result<void> init() {
    for (const char* d : {"blobs/sha256", "repositories", "uploads"})
      BERTH_TRY_VOID(sys::mkdir_all(path(d)));
    return {};
  }

  std::string path(std::string_view rel) const { return sys::join_path(root_, rel); }
  std::string blob_path(const image::Digest& d) const {
    return fmt::format("{}/blobs/sha256/{}", root_, d.encoded());
  }
  std::string repo_path(const std::string& repo) const {
    return fmt::format("{}/repositories/{}", root_, repo);
  }
  std::string link_path(const std::string& repo, const image::Digest& d) const {
    return fmt::format("{}/_blobs/{}", repo_path(repo), d.encoded());
  }
  std::string upload_dir(const std::string& id) const {
    return fmt::format("{}/uploads/{}", root_, id);
  }

  bool repository_exists(const std::string& repository) override {
    std::string r = repo_path(repository);
    return sys::exists(r + "/_manifests") || sys::exists(r + "/_blobs");
  }

  Result<std::vector<std::string>> list_repositories() override {
    std::vector<std::string> out;
    walk_repositories(path("repositories"), "", out);
    std::sort(out.begin(), out.end());
    return out;
  }

  Result<uint64_t> stat_blob(const std::string& repository, const image::Digest& digest) override {
    BERTH_TRY_VOID(require_sha256(digest));
    struct stat st;
    if (::access(link_path(repository, digest).c_str(), F_OK) < 0 ||
        ::stat(blob_path(digest).c_str(), &st) < 0)
      return Error::make(ErrorKind::not_found, "blob '{}' is not in repository '{}'", digest.str(),
                         repository);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<BlobReader> open_blob(const std::string& repository,
                               const image::Digest& digest) override {
    BERTH_TRY_VOID(require_sha256(digest));
    if (::access(link_path(repository, digest).c_str(), F_OK) < 0)
      return Error::make(ErrorKind::not_found, "blob '{}' is not in repository '{}'", digest.str(),
                         repository);
    int fd = ::open(blob_path(digest).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT)
        return Error::make(ErrorKind::not_found, "blob '{}' is not in repository '{}'",
                           digest.str(), repository);
      return Error::from_errno("open blob '{}'", blob_path(digest));
    }
    BlobReader r{UniqueFd(fd), 0};
    struct stat st;
    if (::fstat(fd, &st) < 0) return Error::from_errno("stat blob '{}'", blob_path(digest));
    r.size = static_cast<uint64_t>(st.st_size);
    return r;
  }

  Result<void> unlink_blob(const std::string& repository, const image::Digest& digest) override {
    BERTH_TRY_VOID(require_sha256(digest));
    if (::unlink(link_path(repository, digest).c_str()) < 0) {
      if (errno == ENOENT)
        return Error::make(ErrorKind::not_found, "blob '{}' is not in repository '{}'",
                           digest.str(), repository);
      return Error::from_errno("unlink '{}'", link_path(repository, digest));
    }
    return {};
  }

  Result<void> mount_blob(const std::string& repository, const std::string& from,
                          const image::Digest& digest) override {
    BERTH_TRY_VOID(stat_blob(from, digest));
    // A fresh mtime keeps gc's grace period from removing it before a manifest refers to it.
    ::utimensat(AT_FDCWD, blob_path(digest).c_str(), nullptr, 0);
    return link_blob(repository, digest);
  }

  Result<void> link_blob(const std::string& repository, const image::Digest& digest) {
    std::string dir = repo_path(repository) + "/_blobs";
    BERTH_TRY_VOID(sys::mkdir_all(dir));
    BERTH_TRY_VOID(touch_empty(link_path(repository, digest)));
    return fsync_dir(dir);
  }

  Result<std::shared_ptr<Upload>> create_upload(const std::string& repository) override {
    std::string id = sys::random_hex(16);
    std::string dir = upload_dir(id);
    BERTH_TRY_VOID(sys::mkdir_all(dir));
    BERTH_TRY_VOID(write_durably(dir + "/repository", repository));
    BERTH_TRY(auto fd, sys::open(dir + "/data", O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    auto upload = std::make_shared<FsUpload>(*this, id, repository, std::move(fd));
    BERTH_TRY_VOID(upload->resync(dir + "/data"));
    std::lock_guard lock(mutex_);
    remember_upload(id, upload);
    return std::shared_ptr<Upload>(upload);
  }

  Result<std::shared_ptr<Upload>> open_upload(const std::string& repository,
                                              const std::string& id) override {
    auto unknown = [&] {
      return Error::make(ErrorKind::not_found, "upload '{}' is not in progress in repository '{}'",
                         id, repository);
    };
    if (!is_hex(id, 32)) return unknown();
    std::shared_ptr<FsUpload> upload;
    {
      std::lock_guard lock(mutex_);
      if (auto it = uploads_.find(id); it != uploads_.end()) {
        upload = it->second.upload;
        it->second.used = ++use_clock_;
      }
    }
    std::string dir = upload_dir(id);
    if (!upload) {
      auto owner = sys::read_file(dir + "/repository");
      if (!owner) return unknown();
      int fd = ::open((dir + "/data").c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) return unknown();
      upload = std::make_shared<FsUpload>(*this, id, *owner, UniqueFd(fd));
      std::lock_guard lock(mutex_);
      if (auto it = uploads_.find(id); it != uploads_.end())
        upload = it->second.upload;
      else
        remember_upload(id, upload);
    }
    if (upload->repository() != repository || !sys::exists(dir + "/data")) return unknown();
    BERTH_TRY_VOID(upload->resync(dir + "/data"));
    return std::shared_ptr<Upload>(upload);
  }

  // Also removes what a crash left of a session: a directory whose data was already renamed into
  // blobs/ (crash before the cleanup), or whose repository file was never written.
  Result<void> cancel_upload(const std::string& repository, const std::string& id) override {
    auto unknown = Error::make(ErrorKind::not_found,
                               "upload '{}' is not in progress in repository '{}'", id, repository);
    if (!is_hex(id, 32)) return unknown;
    std::string dir = upload_dir(id);
    auto owner = sys::read_file(dir + "/repository");
    if (!sys::exists(dir) || (owner && *owner != repository)) return unknown;
    forget_upload(id);
    return sys::remove_all(dir);
  }

  void forget_upload(const std::string& id) {
    std::lock_guard lock(mutex_);
    uploads_.erase(id);
  }

  // Keeps a session's open file and running hash for its next request. At most kOpenUploads are
  // kept: the least recently used is let go (its file is closed once no request holds it; the
  // next request reopens it and hashes what is on disk). Every session ever started kept its
  // file open: a client starting uploads and leaving them took the process's descriptors, and
  // the server could accept no connection (found by fuzzing http_server: "accept: Too many
  // open files" after 20,000 inputs). Called with mutex_ held.
  void remember_upload(const std::string& id, std::shared_ptr<FsUpload> upload) {
    if (uploads_.size() >= kOpenUploads) {
      auto oldest = std::min_element(
          uploads_.begin(), uploads_.end(),
          [](const auto& a, const auto& b) { return a.second.used < b.second.used; });
      uploads_.erase(oldest);
    }
    uploads_[id] = {std::move(upload), ++use_clock_};
  }

  Result<void> finish_upload(FsUpload& upload, int data_fd, const image::Digest& digest) {
    std::string data = upload_dir(upload.id()) + "/data";
    if (::fdatasync(data_fd) < 0) return Error::from_errno("fsync '{}'", data);
    if (::rename(data.c_str(), blob_path(digest).c_str()) < 0)
      return Error::from_errno("rename '{}' to '{}'", data, blob_path(digest));
    BERTH_TRY_VOID(fsync_dir(path("blobs/sha256")));
    crash_point("registry-upload:after-blob");
    BERTH_TRY_VOID(link_blob(upload.repository(), digest));
    forget_upload(upload.id());
    return sys::remove_all(upload_dir(upload.id()));
  }

  Result<ManifestRecord> get_manifest(const std::string& repository,
                                      const std::string& reference) override {
    auto unknown = [&] {
      return Error::make(ErrorKind::not_found, "manifest '{}' is not in repository '{}'", reference,
                         repository);
    };
    std::string rp = repo_path(repository) + "/_manifests";
    std::string digest_text = reference;
    if (reference.find(':') == std::string::npos) {
      auto tag = sys::read_file(rp + "/tags/" + reference);
      if (!tag) return unknown();
      digest_text = *tag;
    }
    BERTH_TRY(auto digest, image::Digest::parse(digest_text));
    BERTH_TRY_VOID(require_sha256(digest));
    auto media_type = sys::read_file(fmt::format("{}/revisions/{}", rp, digest.encoded()));
    if (!media_type) return unknown();
    BERTH_TRY(auto content, sys::read_file(blob_path(digest)));
    return ManifestRecord{digest, *media_type, std::move(content)};
  }

  Result<void> put_manifest(const std::string& repository, const ManifestRecord& manifest,
                            const std::optional<std::string>& tag,
                            const std::optional<image::Digest>& subject,
                            const Referrer& as_referrer) override {
    BERTH_TRY_VOID(require_sha256(manifest.digest));
    std::string rp = repo_path(repository) + "/_manifests";
    BERTH_TRY_VOID(sys::mkdir_all(rp + "/revisions"));
    BERTH_TRY_VOID(sys::mkdir_all(rp + "/tags"));
    if (!sys::exists(blob_path(manifest.digest)))
      BERTH_TRY_VOID(write_durably(blob_path(manifest.digest), manifest.content));
    BERTH_TRY_VOID(write_durably(fmt::format("{}/revisions/{}", rp, manifest.digest.encoded()),
                                 manifest.media_type));
    if (subject && subject->is_sha256()) {
      std::string dir = fmt::format("{}/_referrers/{}", repo_path(repository), subject->encoded());
      BERTH_TRY_VOID(sys::mkdir_all(dir));
      nlohmann::json d = {
          {"mediaType", as_referrer.media_type},
          {"digest", as_referrer.digest.str()},
          {"size", as_referrer.size},
          {"annotations", nlohmann::json::parse(as_referrer.annotations_json, nullptr, false)}};
      if (!as_referrer.artifact_type.empty()) d["artifactType"] = as_referrer.artifact_type;
      if (d["annotations"].is_discarded() || d["annotations"].empty()) d.erase("annotations");
      BERTH_TRY_VOID(write_durably(fmt::format("{}/{}", dir, manifest.digest.encoded()), d.dump()));
    }
    if (tag) BERTH_TRY_VOID(write_durably(rp + "/tags/" + *tag, manifest.digest.str()));
    return fsync_dir(rp + "/revisions");
  }

  Result<void> delete_manifest(const std::string& repository,
                               const image::Digest& digest) override {
    BERTH_TRY_VOID(require_sha256(digest));
    std::string rp = repo_path(repository) + "/_manifests";
    std::string revision = fmt::format("{}/revisions/{}", rp, digest.encoded());
    if (!sys::exists(revision))
      return Error::make(ErrorKind::not_found, "manifest '{}' is not in repository '{}'",
                         digest.str(), repository);
    for (const auto& tag : sys::list_dir(rp + "/tags"))
      if (auto d = sys::read_file(rp + "/tags/" + tag); d && *d == digest.str())
        ::unlink((rp + "/tags/" + tag).c_str());
    std::string refs = repo_path(repository) + "/_referrers";
    for (const auto& subject : sys::list_dir(refs)) {
      std::string entry = fmt::format("{}/{}/{}", refs, subject, digest.encoded());
      ::unlink(entry.c_str());
      ::rmdir(fmt::format("{}/{}", refs, subject).c_str());  // fails (harmlessly) unless empty
    }
    if (::unlink(revision.c_str()) < 0) return Error::from_errno("unlink '{}'", revision);
    return {};
  }

  Result<void> delete_tag(const std::string& repository, const std::string& tag) override {
    std::string p = repo_path(repository) + "/_manifests/tags/" + tag;
    if (::unlink(p.c_str()) < 0) {
      if (errno == ENOENT)
        return Error::make(ErrorKind::not_found, "tag '{}' is not in repository '{}'", tag,
                           repository);
      return Error::from_errno("unlink '{}'", p);
    }
    return {};
  }

  Result<std::vector<std::string>> list_tags(const std::string& repository) override {
    if (!repository_exists(repository))
      return Error::make(ErrorKind::not_found, "repository '{}' does not exist", repository);
    std::vector<std::string> tags;
    for (auto& t : sys::list_dir(repo_path(repository) + "/_manifests/tags"))
      if (t.find(".tmp-") == std::string::npos) tags.push_back(std::move(t));
    std::sort(tags.begin(), tags.end());
    return tags;
  }

  Result<std::vector<image::Digest>> list_manifests(const std::string& repository) override {
    std::vector<image::Digest> out;
    for (const auto& hex : sys::list_dir(repo_path(repository) + "/_manifests/revisions"))
      if (is_hex(hex, 64)) out.push_back(*image::Digest::parse("sha256:" + hex));
    return out;
  }

  Result<std::vector<Referrer>> referrers(const std::string& repository,
                                          const image::Digest& subject) override {
    std::vector<Referrer> out;
    if (!subject.is_sha256()) return out;
    std::string dir = fmt::format("{}/_referrers/{}", repo_path(repository), subject.encoded());
    auto names = sys::list_dir(dir);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      if (!is_hex(name, 64)) continue;
      auto text = sys::read_file(dir + "/" + name);
      if (!text) continue;  // deleted meanwhile
      auto j = nlohmann::json::parse(*text, nullptr, false);
      if (!j.is_object()) continue;
      Referrer r;
      r.digest = *image::Digest::parse("sha256:" + name);
      r.media_type = j.value("mediaType", "");
      r.size = j.value("size", uint64_t{0});
      r.artifact_type = j.value("artifactType", "");
      r.annotations_json = j.contains("annotations") ? j["annotations"].dump() : "{}";
      out.push_back(std::move(r));
    }
    return out;
  }

  Result<std::unique_ptr<StorageLock>> lock(int how) {
    BERTH_TRY(auto fd, sys::open(path("lock"), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    while (::flock(fd.get(), how) < 0)
      if (errno != EINTR) return Error::from_errno("lock '{}'", path("lock"));
    return std::unique_ptr<StorageLock>(std::make_unique<FlockLock>(std::move(fd)));
  }
  Result<std::unique_ptr<StorageLock>> lock_shared() override { return lock(LOCK_SH); }
  Result<std::unique_ptr<StorageLock>> lock_exclusive() override { return lock(LOCK_EX); }

  Result<std::vector<StoredBlob>> list_blobs() override {
    std::vector<StoredBlob> out;
    std::string dir = path("blobs/sha256");
    for (const auto& name : sys::list_dir(dir)) {
      struct stat st;
      if (!is_hex(name, 64) || ::stat((dir + "/" + name).c_str(), &st) < 0) continue;
      out.push_back({*image::Digest::parse("sha256:" + name), static_cast<uint64_t>(st.st_size),
                     mtime_ns(st)});
    }
    return out;
  }

  Result<void> remove_blob(const image::Digest& digest) override {
    BERTH_TRY_VOID(require_sha256(digest));
    if (::unlink(blob_path(digest).c_str()) < 0 && errno != ENOENT)
      return Error::from_errno("unlink '{}'", blob_path(digest));
    return {};
  }

  Result<size_t> prune_links(const std::string& repository) override {
    size_t n = 0;
    std::string dir = repo_path(repository) + "/_blobs";
    for (const auto& hex : sys::list_dir(dir))
      if (is_hex(hex, 64) && !sys::exists(path("blobs/sha256/" + hex)) &&
          ::unlink((dir + "/" + hex).c_str()) == 0)
        ++n;
    return n;
  }

  Result<std::vector<StoredUpload>> list_uploads() override {
    std::vector<StoredUpload> out;
    for (const auto& id : sys::list_dir(path("uploads"))) {
      std::string dir = upload_dir(id);
      struct stat st;
      if (::stat((dir + "/data").c_str(), &st) < 0 && ::stat(dir.c_str(), &st) < 0) continue;
      auto repo = sys::read_file(dir + "/repository");
      out.push_back({repo ? *repo : "", id, mtime_ns(st)});
    }
    return out;
  }

  Result<size_t> remove_stale_temporaries(int64_t older_than_ns) override {
    size_t n = 0;
    remove_temporaries_in(path("blobs/sha256"), older_than_ns, n);
    remove_temporaries_in(path("repositories"), older_than_ns, n);
    return n;
  }

 private:
  // write_durably's temporaries are "<name>.tmp-<hex>"; repository names cannot contain ".tmp-"
  // followed by a hex suffix as a whole component, and blob names are bare hex.
  void remove_temporaries_in(const std::string& dir, int64_t older_than_ns, size_t& n) {
    for (const auto& name : sys::list_dir(dir)) {
      std::string p = dir + "/" + name;
      struct stat st;
      if (::lstat(p.c_str(), &st) < 0) continue;
      if (S_ISDIR(st.st_mode)) {
        remove_temporaries_in(p, older_than_ns, n);
        continue;
      }
      auto tmp = name.rfind(".tmp-");
      if (tmp == std::string::npos || !is_hex(std::string_view(name).substr(tmp + 5), 16)) continue;
      if (mtime_ns(st) < older_than_ns && ::unlink(p.c_str()) == 0) ++n;
    }
  }

  // Reads each directory once: its listing tells whether it is a repository (as
  // repository_exists) and where to go on. `_catalog` walks the whole tree per request.
  void walk_repositories(const std::string& dir, const std::string& repository,
                         std::vector<std::string>& out) {
    std::vector<std::string> names = sys::list_dir(dir);
    bool is_repository = std::any_of(names.begin(), names.end(), [](const std::string& n) {
      return n == "_manifests" || n == "_blobs";
    });
    if (!repository.empty() && is_repository) out.push_back(repository);
    for (const auto& name : names)
      if (!name.starts_with("_"))
        walk_repositories(dir + "/" + name, repository.empty() ? name : repository + "/" + name,
                          out);
  }

  std::string root_;
  std::mutex mutex_;
  struct OpenUpload {
    std::shared_ptr<FsUpload> upload;
    uint64_t used = 0;  // use_clock_ at its last request
  };
  static constexpr size_t kOpenUploads = 256;
  std::map<std::string, OpenUpload> uploads_;
  uint64_t use_clock_ = 0;
};

Result<void> FsUpload::commit(const image::Digest& expected) {
  BERTH_TRY_VOID(require_sha256(expected));
  std::lock_guard lock(mutex_);
  image::Digest actual = hasher_.finish();
  hash_valid_ = false;  // finish() reset the hasher: the next use re-reads the file
  if (actual != expected)
    return Error::make(ErrorKind::invalid_argument, "upload '{}' has digest {} ({} bytes), not {}",
                       id_, actual.str(), size_, expected.str());
  return storage_.finish_upload(*this, fd_.get(), actual);
}

}  // namespace

Result<std::unique_ptr<Storage>> open_filesystem_storage(const std::string& root) {
  auto storage = std::make_unique<FsStorage>(root);
  BERTH_TRY_VOID(storage->init().context(fmt::format("open registry storage '{}'", root)));
  return std::unique_ptr<Storage>(std::move(storage));
}

}  // namespace berth::registry
