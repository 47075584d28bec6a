#include "image/content_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

#include "base/sys.h"

namespace berth::image {
namespace {

std::string unique_temp_name() {
  static std::atomic<uint64_t> counter{0};
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  return fmt::format("{}-{}-{:x}", ::getpid(), counter.fetch_add(1), static_cast<uint64_t>(now));
}

Result<void> fsync_dir(const std::string& path) {
  BERTH_TRY(auto fd, sys::open(path, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) < 0) return Error::from_errno("fsync '{}'", path);
  return {};
}

Error unsupported(const Digest& digest) {
  return Error::make(ErrorKind::unsupported, "digest '{}': only sha256 is supported",
                     digest.str());
}

}  // namespace

BlobWriter::BlobWriter(std::string blobs_dir, std::string temp_path, UniqueFd fd,
                       IngestOptions options)
    : blobs_dir_(std::move(blobs_dir)),
      temp_path_(std::move(temp_path)),
      fd_(std::move(fd)),
      options_(std::move(options)),
      hasher_(std::make_unique<Sha256>()) {}

BlobWriter::BlobWriter(BlobWriter&& other) noexcept
    : blobs_dir_(std::move(other.blobs_dir_)),
      temp_path_(std::exchange(other.temp_path_, std::string())),
      fd_(std::move(other.fd_)),
      options_(std::move(other.options_)),
      hasher_(std::move(other.hasher_)),
      size_(other.size_) {}
BlobWriter& BlobWriter::operator=(BlobWriter&& other) noexcept {
  if (this != &other) {
    discard();
    blobs_dir_ = std::move(other.blobs_dir_);
    temp_path_ = std::exchange(other.temp_path_, std::string());
    fd_ = std::move(other.fd_);
    options_ = std::move(other.options_);
    hasher_ = std::move(other.hasher_);
    size_ = other.size_;
  }
  return *this;
}
BlobWriter::~BlobWriter() { discard(); }

void BlobWriter::discard() {
  fd_.reset();
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
  temp_path_.clear();
}

Result<void> BlobWriter::write(std::string_view data) {
  if (!fd_) return Error::make(ErrorKind::failed_precondition, "write blob: writer is closed");
  if (auto r = sys::write_all(fd_.get(), data); !r)
    return std::move(r).context(fmt::format("write '{}'", temp_path_));
  hasher_->update(data);
  size_ += static_cast<int64_t>(data.size());
  return {};
}

Result<oci::Descriptor> BlobWriter::commit() {
  if (!fd_) return Error::make(ErrorKind::failed_precondition, "commit blob: writer is closed");
  Digest digest = hasher_->finish();
  if (options_.expected_size && *options_.expected_size != size_) {
    discard();
    return Error::make(ErrorKind::corrupt, "blob {}: size mismatch: expected {} bytes, got {}",
                       options_.expected_digest ? options_.expected_digest->str() : digest.str(),
                       *options_.expected_size, size_);
  }
  if (options_.expected_digest && *options_.expected_digest != digest) {
    discard();
    return Error::make(ErrorKind::corrupt, "digest mismatch: expected {}, got {}",
                       options_.expected_digest->str(), digest.str());
  }
  if (::fsync(fd_.get()) < 0) {
    auto e = Error::from_errno("fsync '{}'", temp_path_);
    discard();
    return e;
  }
  fd_.reset();
  std::string target = sys::join_path(blobs_dir_, digest.encoded());
  // Same name, same bytes: replacing a blob another writer just committed is harmless.
  if (::rename(temp_path_.c_str(), target.c_str()) < 0) {
    auto e = Error::from_errno("rename '{}' to '{}'", temp_path_, target);
    discard();
    return e;
  }
  temp_path_.clear();
  BERTH_TRY_VOID(fsync_dir(blobs_dir_));
  oci::Descriptor d;
  d.media_type = options_.media_type;
  d.digest = digest.str();
  d.size = size_;
  return d;
}

Result<ContentStore> ContentStore::open(std::string root) {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  auto ctx = fmt::format("open content store '{}'", root);
  if (auto r = sys::mkdir_all(root + "/blobs/sha256"); !r) return std::move(r).error().context(ctx);
  if (auto r = sys::mkdir_all(root + "/ingest"); !r) return std::move(r).error().context(ctx);
  std::string layout = root + "/oci-layout";
  if (!sys::exists(layout)) {
    // A unique temp name: two processes may create the store at once.
    std::string tmp = root + "/ingest/oci-layout." + unique_temp_name();
    std::string text = oci::image_layout_json();
    {
      auto fd = sys::open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
      if (!fd) return std::move(fd).error().context(ctx);
      if (auto r = sys::write_all(fd->get(), text); !r) return std::move(r).error().context(ctx);
      if (::fsync(fd->get()) < 0) return Error::from_errno("fsync '{}'", tmp).context(ctx);
    }
    if (::rename(tmp.c_str(), layout.c_str()) < 0)
      return Error::from_errno("rename '{}'", tmp).context(ctx);
  }
  return ContentStore(std::move(root));
}

std::string ContentStore::blob_path(const Digest& digest) const {
  return fmt::format("{}/blobs/{}/{}", root_, digest.algorithm(), digest.encoded());
}

Result<std::string> ContentStore::checked_path(const Digest& digest) const {
  if (!digest.is_sha256()) return unsupported(digest);
  return blob_path(digest);
}

Result<BlobWriter> ContentStore::writer(IngestOptions options) {
  if (options.expected_digest && !options.expected_digest->is_sha256())
    return unsupported(*options.expected_digest);
  std::string temp = root_ + "/ingest/" + unique_temp_name();
  BERTH_TRY(auto fd, sys::open(temp, O_WRONLY | O_CREAT | O_EXCL, 0644));
  return BlobWriter(root_ + "/blobs/sha256", std::move(temp), std::move(fd), std::move(options));
}

Result<oci::Descriptor> ContentStore::ingest(int fd, IngestOptions options) {
  BERTH_TRY(auto w, writer(std::move(options)));
  std::string buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("read blob source");
    }
    if (n == 0) break;
    BERTH_TRY_VOID(w.write(std::string_view(buf.data(), static_cast<size_t>(n))));
  }
  return w.commit();
}

Result<oci::Descriptor> ContentStore::ingest(std::string_view data, IngestOptions options) {
  BERTH_TRY(auto w, writer(std::move(options)));
  BERTH_TRY_VOID(w.write(data));
  return w.commit();
}

Result<UniqueFd> ContentStore::open_blob(const Digest& digest) const {
  BERTH_TRY(auto path, checked_path(digest));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Error(ErrorKind::not_found, fmt::format("blob {} not found", digest.str()), ENOENT);
    return Error::from_errno("open '{}'", path);
  }
  return UniqueFd(fd);
}

Result<std::string> ContentStore::read(const Digest& digest) const {
  BERTH_TRY(auto fd, open_blob(digest));
  return sys::read_fd(fd.get()).context(fmt::format("read blob {}", digest.str()));
}

bool ContentStore::exists(const Digest& digest) const {
  return digest.is_sha256() && sys::exists(blob_path(digest));
}

Result<int64_t> ContentStore::size(const Digest& digest) const {
  BERTH_TRY(auto path, checked_path(digest));
  struct stat st;
  if (::stat(path.c_str(), &st) < 0) {
    if (errno == ENOENT) return Error(ErrorKind::not_found, fmt::format("blob {} not found", digest.str()), ENOENT);
    return Error::from_errno("stat '{}'", path);
  }
  return static_cast<int64_t>(st.st_size);
}

Result<void> ContentStore::verify(const Digest& digest) const {
  BERTH_TRY(auto fd, open_blob(digest));
  Sha256 h;
  std::string buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("read blob {}", digest.str());
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
  }
  Digest actual = h.finish();
  if (actual != digest)
    return Error::make(ErrorKind::corrupt, "blob {} is corrupt: its content hashes to {}",
                       digest.str(), actual.str());
  return {};
}

Result<void> ContentStore::remove(const Digest& digest) {
  BERTH_TRY(auto path, checked_path(digest));
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) return Error::from_errno("remove '{}'", path);
  return {};
}

Result<std::vector<Digest>> ContentStore::list() const {
  std::string dir = root_ + "/blobs/sha256";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return Error::from_errno("open '{}'", dir);
  std::vector<Digest> out;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    // Anything that is not a well-formed digest name is not a blob (e.g. a stray file).
    if (auto digest = Digest::parse(std::string("sha256:") + e->d_name)) out.push_back(*digest);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace berth::image
