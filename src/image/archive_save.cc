// Saving images to archives: docker-archive and OCI archive tars, and OCI layout directories,
// everything checked before the first byte is written, and a file named only once complete.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "base/crash_point.h"
#include "base/sys.h"
#include "image/archive.h"
#include "image/detail/archive_layout.h"
#include "image/digest.h"
#include "image/reference.h"

namespace berth::image {
namespace {

using namespace detail;  // the archive's layout: file names, chunks, sources
using nlohmann::json;

struct SavedImage {
  Digest manifest;
  std::string manifest_media_type;
  Digest config;
  std::vector<Digest> layers;
  std::vector<std::string> names;  // normalised references
};

// Everything read and checked before the first byte is written.
Result<std::vector<SavedImage>> plan_save(const ContentStore& store,
                                          const std::vector<SaveItem>& items) {
  std::vector<SavedImage> out;
  for (const auto& item : items) {
    std::string what = fmt::format("manifest {}", item.manifest.digest);
    auto run = [&]() -> Result<SavedImage> {
      SavedImage s;
      BERTH_TRY(s.manifest, Digest::parse(item.manifest.digest));
      BERTH_TRY(std::string text, store.read(s.manifest));
      BERTH_TRY(auto manifest, oci::parse_manifest(text, what));
      s.manifest_media_type = !manifest.media_type.empty() ? manifest.media_type
                              : !item.manifest.media_type.empty()
                                  ? item.manifest.media_type
                                  : std::string(oci::media_type::kImageManifest);
      BERTH_TRY(s.config, Digest::parse(manifest.config.digest));
      if (!store.exists(s.config))
        return Error::make(ErrorKind::not_found, "config {}: not in the store", s.config.str());
      for (const auto& l : manifest.layers) {
        BERTH_TRY(Digest d, Digest::parse(l.digest));
        if (!store.exists(d))
          return Error::make(ErrorKind::not_found, "layer {}: not in the store", d.str());
        s.layers.push_back(d);
      }
      for (const auto& n : item.names) {
        BERTH_TRY(auto ref, Reference::parse(n));
        s.names.push_back(ref.to_string());
      }
      return s;
    };
    BERTH_TRY(auto s, run().context(what));
    out.push_back(std::move(s));
  }
  return out;
}

// Docker's short form: docker.io/library/busybox:1 → busybox:1, docker.io/u/app:1 → u/app:1.
std::optional<std::string> repo_tag(const std::string& name) {
  auto ref = Reference::parse(name);
  if (!ref || ref->tag().empty()) return std::nullopt;
  if (ref->domain() != "docker.io") return ref->repository() + ":" + ref->tag();
  std::string path = ref->path();
  if (path.starts_with("library/") && path.find('/', 8) == std::string::npos) path = path.substr(8);
  return path + ":" + ref->tag();
}

// Where the archive's files go: a tar stream or a directory.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Result<void> add_file(const std::string& name, std::string_view data) = 0;
  // Copies a blob from the store, checking its digest on the way.
  virtual Result<void> add_blob(const std::string& name, const ContentStore& store,
                                const Digest& digest) = 0;
};

// Copies a blob in chunks to `write`, failing when its bytes no longer match its digest.
Result<void> copy_blob(const ContentStore& store, const Digest& digest,
                       const std::function<Result<void>(std::string_view)>& write) {
  BERTH_TRY(auto fd, store.open_blob(digest));
  std::string path = store.blob_path(digest);
  Source source = fd_source(fd.get(), path);
  Sha256 hasher;
  std::string buf(kChunk, '\0');
  for (;;) {
    BERTH_TRY(size_t n, source(buf.data(), buf.size()));
    if (n == 0) break;
    std::string_view data(buf.data(), n);
    hasher.update(data);
    BERTH_TRY_VOID(write(data));
  }
  if (Digest got = hasher.finish(); got != digest)
    return corrupt(fmt::format("blob {} in the store hashes to {}", digest.str(), got.str()));
  return {};
}

class TarSink final : public Sink {
 public:
  static Result<std::unique_ptr<TarSink>> open(int fd) {
    auto s = std::make_unique<TarSink>();
    archive_write_set_format_pax_restricted(s->a_.get());
    if (archive_write_open_fd(s->a_.get(), fd) != ARCHIVE_OK) return s->error("start tar");
    return s;
  }
  Result<void> add_file(const std::string& name, std::string_view data) override {
    BERTH_TRY_VOID(header(name, static_cast<int64_t>(data.size())));
    return write(name, data);
  }
  Result<void> add_blob(const std::string& name, const ContentStore& store,
                        const Digest& digest) override {
    BERTH_TRY(int64_t size, store.size(digest));
    BERTH_TRY_VOID(header(name, size));
    return copy_blob(store, digest, [&](std::string_view d) { return write(name, d); });
  }
  Result<void> close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return error("finish tar");
    return {};
  }

 private:
  Result<void> header(const std::string& name, int64_t size) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0644);
    archive_entry_set_size(e.get(), size);
    archive_entry_set_mtime(e.get(), 0, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK)
      return error(fmt::format("add '{}'", name));
    return {};
  }
  Result<void> write(const std::string& name, std::string_view data) {
    if (!data.empty() && archive_write_data(a_.get(), data.data(), data.size()) < 0)
      return error(fmt::format("write '{}'", name));
    return {};
  }
  Error error(std::string_view what) const {
    const char* msg = archive_error_string(a_.get());
    return Error(ErrorKind::io, fmt::format("{}: {}", what, msg ? msg : "unknown error"));
  }

  std::unique_ptr<archive, decltype(&archive_write_free)> a_{archive_write_new(),
                                                             archive_write_free};
};

class DirSink final : public Sink {
 public:
  explicit DirSink(std::string root) : root_(std::move(root)) {}
  Result<void> add_file(const std::string& name, std::string_view data) override {
    std::string path = root_ + "/" + name;
    BERTH_TRY_VOID(sys::mkdir_all(path.substr(0, path.find_last_of('/'))));
    return sys::atomic_write(path, data);
  }
  // Blobs already present are kept: their name is their content.
  Result<void> add_blob(const std::string& name, const ContentStore& store,
                        const Digest& digest) override {
    std::string path = root_ + "/" + name;
    if (sys::exists(path)) return {};
    BERTH_TRY_VOID(sys::mkdir_all(path.substr(0, path.find_last_of('/'))));
    std::string tmp = path + fmt::format(".tmp-{}", ::getpid());
    auto run = [&]() -> Result<void> {
      BERTH_TRY(auto fd, sys::open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      BERTH_TRY_VOID(copy_blob(store, digest,
                               [&](std::string_view d) { return sys::write_all(fd.get(), d); }));
      if (::fsync(fd.get()) < 0) return Error::from_errno("fsync '{}'", tmp);
      if (::rename(tmp.c_str(), path.c_str()) < 0) return Error::from_errno("rename '{}'", tmp);
      return {};
    };
    auto r = run();
    if (!r) ::unlink(tmp.c_str());
    return r;
  }

 private:
  std::string root_;
};

// Adds a blob once; tells progress.
class BlobSet {
 public:
  BlobSet(Sink& sink, const ContentStore& store, const ArchiveProgressFn& progress)
      : sink_(sink), store_(store), progress_(progress) {}
  Result<void> add(const std::string& name, const Digest& digest) {
    if (!added_.insert(name).second) return {};
    BERTH_TRY_VOID(
        sink_.add_blob(name, store_, digest).context(fmt::format("save blob {}", digest.str())));
    if (progress_) {
      auto size = store_.size(digest);
      progress_(digest.str(), size ? *size : 0);
    }
    return {};
  }

 private:
  Sink& sink_;
  const ContentStore& store_;
  const ArchiveProgressFn& progress_;
  std::set<std::string> added_;
};

Result<void> write_docker(Sink& sink, const ContentStore& store,
                          const std::vector<SavedImage>& images,
                          const ArchiveProgressFn& progress) {
  json manifest = json::array();
  for (const auto& image : images) {
    json entry;
    entry["Config"] = std::string(image.config.encoded()) + ".json";
    json tags = json::array();
    for (const auto& name : image.names)
      if (auto tag = repo_tag(name)) tags.push_back(*tag);
    entry["RepoTags"] = tags;
    json layers = json::array();
    for (const auto& l : image.layers) layers.push_back(std::string(l.encoded()) + ".tar");
    entry["Layers"] = layers;
    manifest.push_back(std::move(entry));
  }
  BERTH_TRY_VOID(sink.add_file(std::string(kDockerManifestJson), manifest.dump()));
  BlobSet blobs(sink, store, progress);
  for (const auto& image : images) {
    BERTH_TRY_VOID(blobs.add(std::string(image.config.encoded()) + ".json", image.config));
    for (const auto& l : image.layers)
      BERTH_TRY_VOID(blobs.add(std::string(l.encoded()) + ".tar", l));
  }
  return {};
}

Result<void> write_oci(Sink& sink, const ContentStore& store, const std::vector<SavedImage>& images,
                       const ArchiveProgressFn& progress) {
  oci::Index index;
  index.media_type = std::string(oci::media_type::kImageIndex);
  for (const auto& image : images) {
    oci::Descriptor d;
    d.media_type = image.manifest_media_type;
    d.digest = image.manifest.str();
    BERTH_TRY(d.size, store.size(image.manifest));
    if (image.names.empty()) index.manifests.push_back(d);
    for (const auto& name : image.names) {
      oci::Descriptor named = d;
      named.annotations[std::string(oci::kAnnotationRefName)] = name;
      index.manifests.push_back(std::move(named));
    }
  }
  BERTH_TRY_VOID(sink.add_file(std::string(kOciLayout), oci::image_layout_json()));
  BlobSet blobs(sink, store, progress);
  for (const auto& image : images) {
    BERTH_TRY_VOID(blobs.add(blob_member(image.manifest), image.manifest));
    BERTH_TRY_VOID(blobs.add(blob_member(image.config), image.config));
    for (const auto& l : image.layers) BERTH_TRY_VOID(blobs.add(blob_member(l), l));
  }
  // Last, so that a layout directory names only blobs it already holds.
  return sink.add_file(std::string(kIndexJson), oci::to_json(index));
}

Result<void> write_archive(Sink& sink, const ContentStore& store,
                           const std::vector<SavedImage>& images, ArchiveFormat format,
                           const ArchiveProgressFn& progress) {
  if (format == ArchiveFormat::docker_archive) return write_docker(sink, store, images, progress);
  return write_oci(sink, store, images, progress);
}


Result<void> save_tar(const ContentStore& store, const std::vector<SaveItem>& images,
                      ArchiveFormat format, int fd, const ArchiveProgressFn& progress) {
  if (format == ArchiveFormat::oci_layout_dir)
    return Error::make(ErrorKind::invalid_argument, "an OCI layout directory is not a stream");
  BERTH_TRY(auto saved, plan_save(store, images));
  BERTH_TRY(auto sink, TarSink::open(fd));
  BERTH_TRY_VOID(write_archive(*sink, store, saved, format, progress));
  return sink->close();
}

}  // namespace

Result<void> save_archive_to_fd(const ContentStore& store, const std::vector<SaveItem>& images,
                                ArchiveFormat format, int fd, const ArchiveProgressFn& progress) {
  return save_tar(store, images, format, fd, progress)
      .context(fmt::format("save {}", archive_format_name(format)));
}

Result<void> save_archive(const ContentStore& store, const std::vector<SaveItem>& images,
                          ArchiveFormat format, const std::string& path,
                          const ArchiveProgressFn& progress) {
  if (path == "-") return save_archive_to_fd(store, images, format, 1, progress);
  auto ctx = fmt::format("save {} '{}'", archive_format_name(format), path);
  if (format == ArchiveFormat::oci_layout_dir) {
    auto run = [&]() -> Result<void> {
      BERTH_TRY(auto saved, plan_save(store, images));
      BERTH_TRY_VOID(sys::mkdir_all(path));
      DirSink sink(path);
      return write_archive(sink, store, saved, format, progress);
    };
    return run().context(ctx);
  }
  // An unnamed file (O_TMPFILE) in the destination's directory, named only once complete: a
  // save killed half-way leaves nothing behind in the user's directory. The named temporary
  // lives for a link and a rename (or the whole save where the file system has no O_TMPFILE).
  std::string tmp = path + fmt::format(".tmp-{}", ::getpid());
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  bool named = false;
  auto run = [&]() -> Result<void> {
    auto unnamed = sys::open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (!unnamed && unnamed.error().sys_errno() != EOPNOTSUPP && unnamed.error().sys_errno() != EISDIR)
      return std::move(unnamed).error();
    named = !unnamed;
    BERTH_TRY(auto fd, named ? sys::open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) : std::move(unnamed));
    BERTH_TRY_VOID(save_tar(store, images, format, fd.get(), progress));
    if (::fsync(fd.get()) < 0) return Error::from_errno("fsync '{}'", tmp);
    crash_point("save:after-archive");
    if (!named) {
      std::string proc = fmt::format("/proc/self/fd/{}", fd.get());
      if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) < 0)
        return Error::from_errno("link '{}'", tmp);
      named = true;
    }
    if (::rename(tmp.c_str(), path.c_str()) < 0) return Error::from_errno("rename '{}'", tmp);
    return {};
  };
  auto r = run();
  if (!r) {
    if (named) ::unlink(tmp.c_str());
    return std::move(r).error().context(ctx);
  }
  return r;
}

}  // namespace berth::image
