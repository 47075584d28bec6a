#include "image/import.h"

#include "base/clock.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <tuple>
#include <cstring>
#include <ctime>

#include "base/sys.h"
#include "image/detail/tar_stream.h"

namespace berth::image {
namespace {

std::string host_architecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__i386__)
  return "386";
#elif defined(__arm__)
  return "arm";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#else
  return "unknown";
#endif
}

// Where the layer's bytes go: straight into the blob, or through a gzip compressor into it.
class LayerSink {
 public:
  static Result<std::unique_ptr<LayerSink>> open(ContentStore& store, LayerCompression compression) {
    std::unique_ptr<LayerSink> s(new LayerSink());
    IngestOptions opts;
    opts.media_type = std::string(compression == LayerCompression::gzip ? oci::media_type::kLayerGzip
                                                                        : oci::media_type::kLayer);
    BERTH_TRY(auto writer, store.writer(opts));
    s->writer_.emplace(std::move(writer));
    if (compression == LayerCompression::gzip) {
      s->gz_ = archive_write_new();
      archive_write_add_filter_gzip(s->gz_);
      archive_write_set_format_raw(s->gz_);
      archive_write_set_bytes_in_last_block(s->gz_, 1);  // no zero padding after the gzip stream
      if (archive_write_open(s->gz_, s.get(), nullptr, write_callback, nullptr) != ARCHIVE_OK)
        return s->gz_error("start gzip");
      archive_entry* e = archive_entry_new();
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_pathname(e, "layer.tar");
      int r = archive_write_header(s->gz_, e);
      archive_entry_free(e);
      if (r != ARCHIVE_OK) return s->gz_error("start gzip");
    }
    return s;
  }
  ~LayerSink() {
    if (gz_) archive_write_free(gz_);
  }

  Result<void> write(std::string_view data) {
    hasher_.update(data);
    if (!gz_) return writer_->write(data);
    if (archive_write_data(gz_, data.data(), data.size()) < 0) return gz_error("gzip");
    return {};
  }
  Result<oci::Descriptor> commit() {
    if (gz_ && archive_write_close(gz_) != ARCHIVE_OK) return gz_error("finish gzip");
    return writer_->commit();
  }
  Digest diff_id() { return hasher_.finish(); }

 private:
  LayerSink() = default;
  static la_ssize_t write_callback(archive*, void* data, const void* buf, size_t size) {
    auto* self = static_cast<LayerSink*>(data);
    if (auto r = self->writer_->write(std::string_view(static_cast<const char*>(buf), size)); !r) {
      self->error_ = std::move(r).error();
      return -1;
    }
    return static_cast<la_ssize_t>(size);
  }
  Error gz_error(std::string_view what) {
    if (error_) return Error(*error_).context(what);
    const char* msg = archive_error_string(gz_);
    return Error(ErrorKind::io, fmt::format("{}: {}", what, msg ? msg : "unknown error"));
  }

  std::optional<BlobWriter> writer_;
  archive* gz_ = nullptr;
  Sha256 hasher_;
  std::optional<Error> error_;
};

std::string normalise_port(const std::string& port) {
  return port.find('/') == std::string::npos ? port + "/tcp" : port;
}

// Config, manifest, into the store.
Result<ImportResult> finish_image(ContentStore& store, LayerSink& sink, const ImportOptions& options,
                                  std::vector<std::string> warnings) {
  ImportResult out;
  out.warnings = std::move(warnings);
  out.diff_id = sink.diff_id();
  BERTH_TRY_CTX(out.layer, sink.commit(), "store layer");

  oci::ImageConfig config;
  config.created = options.created.empty() ? clock::rfc3339_now() : options.created;
  config.architecture = options.architecture.empty() ? host_architecture() : options.architecture;
  config.os = options.os;
  config.config.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  BERTH_TRY_VOID(apply_changes(config.config, options.changes));
  config.diff_ids = {out.diff_id.str()};
  oci::History history;
  history.created = config.created;
  history.created_by = "berth import";
  history.comment = options.comment;
  config.history.push_back(std::move(history));
  IngestOptions config_opts;
  config_opts.media_type = std::string(oci::media_type::kImageConfig);
  BERTH_TRY_CTX(out.config, store.ingest(oci::to_json(config), config_opts), "store config");

  oci::Manifest manifest;
  manifest.media_type = std::string(oci::media_type::kImageManifest);
  manifest.config = out.config;
  manifest.layers = {out.layer};
  IngestOptions manifest_opts;
  manifest_opts.media_type = manifest.media_type;
  BERTH_TRY_CTX(out.manifest, store.ingest(oci::to_json(manifest), manifest_opts), "store manifest");
  return out;
}

// Packs a directory tree into a tar, in sorted order, through `out`.
class DirectoryPacker {
 public:
  // With `overlay_upper`, the directory is an overlayfs upper directory and is written as a
  // layer diff: a whiteout (a 0/0 character device) becomes `.wh.NAME`, an opaque directory
  // gets `.wh..wh..opq`, and overlayfs' own trusted.overlay.* attributes are left out.
  DirectoryPacker(LayerSink& sink, std::vector<std::string>& warnings, bool overlay_upper = false,
                  bool large_blocks = false)
      : sink_(sink), warnings_(warnings), overlay_upper_(overlay_upper), large_blocks_(large_blocks) {}
  ~DirectoryPacker() {
    if (resolver_) archive_entry_linkresolver_free(resolver_);
    if (disk_) archive_read_free(disk_);
    if (tar_) archive_write_free(tar_);
  }

  Result<void> pack(const std::string& root) {
    tar_ = archive_write_new();
    disk_ = archive_read_disk_new();
    resolver_ = archive_entry_linkresolver_new();
    archive_write_set_format_pax_restricted(tar_);
    if (overlay_upper_ || large_blocks_) {
      // 1 MiB writes instead of 10 KiB ones: a 200 MB layer in 200 calls, not 20000. The last
      // block is not padded (the tar still ends with its two zero records).
      archive_write_set_bytes_per_block(tar_, 1 << 20);
      archive_write_set_bytes_in_last_block(tar_, 1);
    }
    archive_entry_linkresolver_set_strategy(resolver_, archive_format(tar_));
    archive_read_disk_set_symlink_physical(disk_);
    if (archive_write_open(tar_, this, nullptr, write_callback, nullptr) != ARCHIVE_OK)
      return tar_error("start tar");
    BERTH_TRY_VOID(walk(root, ""));
    if (archive_write_close(tar_) != ARCHIVE_OK) return tar_error("finish tar");
    return {};
  }

 private:
  static la_ssize_t write_callback(archive*, void* data, const void* buf, size_t size) {
    auto* self = static_cast<DirectoryPacker*>(data);
    if (auto r = self->sink_.write(std::string_view(static_cast<const char*>(buf), size)); !r) {
      self->error_ = std::move(r).error();
      return -1;
    }
    return static_cast<la_ssize_t>(size);
  }
  Error tar_error(std::string_view what) {
    if (error_) return Error(*error_).context(what);
    const char* msg = archive_error_string(tar_);
    return Error(ErrorKind::io, fmt::format("{}: {}", what, msg ? msg : "unknown error"));
  }

  Result<void> walk(const std::string& root, const std::string& rel) {
    std::string dir = rel.empty() ? root : root + "/" + rel;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return Error::from_errno("open '{}'", dir);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.emplace_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      std::string child_rel = rel.empty() ? name : rel + "/" + name;
      std::string path = root + "/" + child_rel;
      struct stat st;
      if (::lstat(path.c_str(), &st) < 0) return Error::from_errno("stat '{}'", path);
      if (S_ISSOCK(st.st_mode)) {
        warnings_.push_back(fmt::format("skipped socket '{}'", child_rel));
        continue;
      }
      if (overlay_upper_ && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
        BERTH_TRY_VOID(add_marker(rel.empty() ? ".wh." + name : rel + "/.wh." + name));
        continue;
      }
      BERTH_TRY_VOID(add(path, child_rel, st));
      if (S_ISDIR(st.st_mode)) {
        char opaque = 0;
        if (overlay_upper_ && ::lgetxattr(path.c_str(), "trusted.overlay.opaque", &opaque, 1) == 1 &&
            opaque == 'y')
          BERTH_TRY_VOID(add_marker(child_rel + "/.wh..wh..opq"));
        BERTH_TRY_VOID(walk(root, child_rel));
      }
    }
    return {};
  }

  Result<void> add(const std::string& path, const std::string& rel, const struct stat& st) {
    archive_entry* entry = archive_entry_new();
    archive_entry_copy_sourcepath(entry, path.c_str());
    if (archive_read_disk_entry_from_file(disk_, entry, -1, &st) != ARCHIVE_OK) {
      std::string msg = archive_error_string(disk_) ? archive_error_string(disk_) : "";
      archive_entry_free(entry);
      return Error::make(ErrorKind::io, "read metadata of '{}': {}", path, msg);
    }
    archive_entry_set_pathname(entry, rel.c_str());
    archive_entry_set_uname(entry, nullptr);  // numeric owners only, as image layers carry them
    archive_entry_set_gname(entry, nullptr);
    archive_entry_unset_atime(entry);
    archive_entry_unset_ctime(entry);
    archive_entry_unset_birthtime(entry);
    if (overlay_upper_) drop_overlay_xattrs(entry);
    archive_entry* spare = nullptr;
    archive_entry_linkify(resolver_, &entry, &spare);
    Result<void> result;
    if (entry) result = write_entry(entry, path);
    if (entry) archive_entry_free(entry);
    if (spare) archive_entry_free(spare);
    return result;
  }

  // An empty 0:0 regular file: the OCI whiteout markers.
  Result<void> add_marker(const std::string& rel) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, rel.c_str());
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0);
    archive_entry_set_size(entry, 0);
    int r = archive_write_header(tar_, entry);
    archive_entry_free(entry);
    if (r < ARCHIVE_WARN) return tar_error(fmt::format("add '{}'", rel));
    return {};
  }

  static void drop_overlay_xattrs(archive_entry* entry) {
    std::vector<std::tuple<std::string, std::string>> keep;
    archive_entry_xattr_reset(entry);
    const char* name;
    const void* value;
    size_t size;
    bool dropped = false;
    while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
      if (std::string_view(name).starts_with("trusted.overlay.")) dropped = true;
      else keep.emplace_back(name, std::string(static_cast<const char*>(value), size));
    }
    if (!dropped) return;
    archive_entry_xattr_clear(entry);
    for (const auto& [n, v] : keep) archive_entry_xattr_add_entry(entry, n.c_str(), v.data(), v.size());
  }

  Result<void> write_entry(archive_entry* entry, const std::string& path) {
    if (archive_write_header(tar_, entry) < ARCHIVE_WARN) return tar_error(fmt::format("add '{}'", path));
    if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_size(entry) == 0) return {};
    BERTH_TRY(auto fd, sys::open(path, O_RDONLY | O_NOFOLLOW));
    std::string buf(1 << 16, '\0');
    for (;;) {
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Error::from_errno("read '{}'", path);
      }
      if (n == 0) break;
      if (archive_write_data(tar_, buf.data(), static_cast<size_t>(n)) < 0)
        return tar_error(fmt::format("add '{}'", path));
    }
    return {};
  }

  LayerSink& sink_;
  std::vector<std::string>& warnings_;
  bool overlay_upper_ = false, large_blocks_ = false;
  archive* tar_ = nullptr;
  archive* disk_ = nullptr;
  archive_entry_linkresolver* resolver_ = nullptr;
  std::optional<Error> error_;
};

}  // namespace

Result<void> apply_changes(oci::ContainerConfig& c, const ConfigChanges& changes) {
  if (changes.cmd) c.cmd = changes.cmd;
  if (changes.entrypoint) c.entrypoint = changes.entrypoint;
  for (const auto& kv : changes.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error::make(ErrorKind::invalid_argument, "ENV '{}': want NAME=value", kv);
    std::string prefix = kv.substr(0, eq + 1);
    auto it = std::find_if(c.env.begin(), c.env.end(),
                           [&](const std::string& e) { return e.starts_with(prefix); });
    if (it != c.env.end()) *it = kv;
    else c.env.push_back(kv);
  }
  if (changes.working_dir) {
    if (changes.working_dir->empty() || changes.working_dir->front() != '/')
      return Error::make(ErrorKind::invalid_argument, "WORKDIR '{}': want an absolute path",
                         *changes.working_dir);
    c.working_dir = *changes.working_dir;
  }
  if (changes.user) c.user = *changes.user;
  for (const auto& p : changes.exposed_ports) {
    std::string port = normalise_port(p);
    auto slash = port.find('/');
    std::string number = port.substr(0, slash), proto = port.substr(slash + 1);
    bool numeric = !number.empty() && number.size() <= 5 &&
                   number.find_first_not_of("0123456789") == std::string::npos &&
                   std::stoul(number) >= 1 && std::stoul(number) <= 65535;
    if (!numeric || (proto != "tcp" && proto != "udp" && proto != "sctp"))
      return Error::make(ErrorKind::invalid_argument,
                         "EXPOSE '{}': want PORT or PORT/PROTO (tcp, udp, sctp)", p);
    c.exposed_ports.insert(port);
  }
  for (const auto& [k, v] : changes.labels) c.labels[k] = v;
  if (changes.stop_signal) c.stop_signal = *changes.stop_signal;
  return {};
}

Result<ImportResult> import_tar(ContentStore& store, int fd, const ImportOptions& options) {
  auto run = [&]() -> Result<ImportResult> {
    BERTH_TRY(auto sink, LayerSink::open(store, options.compression));
    LayerSink* s = sink.get();
    BERTH_TRY(auto stream, detail::TarStream::open(fd, [s](std::string_view d) { return s->write(d); }));
    for (;;) {
      BERTH_TRY(auto entry, stream->next());
      if (!entry) break;
      std::string path = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
      std::string what = fmt::format("entry '{}'", path);
      BERTH_TRY_VOID(detail::entry_components(path, what));
      if (const char* link = archive_entry_hardlink(entry))
        if (auto r = detail::entry_components(link, fmt::format("hard link target '{}'", link)); !r)
          return std::move(r).error().context(what);
      if (archive_read_data_skip(stream->tar()) < ARCHIVE_WARN) return stream->error("read tar");
    }
    BERTH_TRY_VOID(stream->drain());
    return finish_image(store, *sink, options, {});
  };
  return run().context("import tar");
}

Result<ImportResult> import_directory(ContentStore& store, const std::string& dir,
                                      const ImportOptions& options) {
  auto run = [&]() -> Result<ImportResult> {
    struct stat st;
    if (::stat(dir.c_str(), &st) < 0) return Error::from_errno("stat '{}'", dir);
    if (!S_ISDIR(st.st_mode))
      return Error::make(ErrorKind::invalid_argument, "'{}' is not a directory", dir);
    BERTH_TRY(auto sink, LayerSink::open(store, options.compression));
    std::vector<std::string> warnings;
    {
      DirectoryPacker packer(*sink, warnings);
      BERTH_TRY_VOID(packer.pack(dir));
    }
    return finish_image(store, *sink, options, std::move(warnings));
  };
  return run().context(fmt::format("import directory '{}'", dir));
}

Result<PackedLayer> pack_layer(ContentStore& store, const std::string& dir, const PackOptions& options) {
  auto run = [&]() -> Result<PackedLayer> {
    BERTH_TRY(auto sink, LayerSink::open(store, options.compression));
    PackedLayer out;
    {
      DirectoryPacker packer(*sink, out.warnings, options.overlay_upper, true);
      BERTH_TRY_VOID(packer.pack(dir));
    }
    out.diff_id = sink->diff_id();
    BERTH_TRY(out.layer, sink->commit());
    return out;
  };
  return run().context(fmt::format("pack layer from '{}'", dir));
}

Result<oci::Index> read_layout_index(const std::string& layout_root) {
  std::string path = layout_root + "/index.json";
  if (!sys::exists(path)) {
    oci::Index empty;
    empty.media_type = std::string(oci::media_type::kImageIndex);
    return empty;
  }
  BERTH_TRY(auto text, sys::read_file(path));
  return oci::parse_index(text, path);
}

Result<void> add_to_layout_index(const std::string& layout_root, oci::Descriptor manifest,
                                 std::string_view ref_name) {
  auto ctx = fmt::format("add '{}' to '{}/index.json'", ref_name, layout_root);
  BERTH_TRY(auto lock, sys::open(layout_root + "/index.json.lock", O_RDWR | O_CREAT, 0644));
  if (::flock(lock.get(), LOCK_EX) < 0) return Error::from_errno("lock index.json").context(ctx);
  auto index = read_layout_index(layout_root);
  if (!index) return std::move(index).error().context(ctx);
  const std::string key(oci::kAnnotationRefName);
  std::erase_if(index->manifests, [&](const oci::Descriptor& d) {
    auto it = d.annotations.find(key);
    return it != d.annotations.end() && it->second == ref_name;
  });
  manifest.annotations[key] = std::string(ref_name);
  index->manifests.push_back(std::move(manifest));
  if (index->media_type.empty()) index->media_type = std::string(oci::media_type::kImageIndex);
  if (auto r = sys::atomic_write(layout_root + "/index.json", oci::to_json(*index)); !r)
    return std::move(r).error().context(ctx);
  return {};
}

Result<oci::Descriptor> find_in_layout_index(const std::string& layout_root,
                                             std::string_view ref_name) {
  BERTH_TRY(auto index, read_layout_index(layout_root));
  for (const auto& d : index.manifests) {
    auto it = d.annotations.find(std::string(oci::kAnnotationRefName));
    if (it != d.annotations.end() && it->second == ref_name) return d;
  }
  return Error::make(ErrorKind::not_found, "no image named '{}' in '{}/index.json'", ref_name,
                     layout_root);
}

}  // namespace berth::image
