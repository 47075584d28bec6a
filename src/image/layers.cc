#include "image/layers.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "base/sys.h"
#include "image/detail/tar_stream.h"

namespace berth::image {
namespace {

using detail::entry_components;

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueWhiteout = ".wh..wh..opq";
constexpr const char* kOpaqueXattr = "trusted.overlay.opaque";

std::string join(const std::vector<std::string>& comps, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < comps.size(); ++i) {
    if (i) out += '/';
    out += comps[i];
  }
  return out.empty() ? "." : out;
}

// rm -rf of parent/name without following symlinks.
Result<void> remove_at(int parent, const std::string& name) {
  struct stat st;
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return {};
    return Error::from_errno("stat '{}'", name);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(parent, name.c_str(), 0) < 0) return Error::from_errno("unlink '{}'", name);
    return {};
  }
  int fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Error::from_errno("open '{}'", name);
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return Error::from_errno("opendir '{}'", name);
  }
  std::vector<std::string> children;
  while (struct dirent* e = ::readdir(dir))
    if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) children.emplace_back(e->d_name);
  for (const auto& c : children)
    if (auto r = remove_at(::dirfd(dir), c); !r) {
      ::closedir(dir);
      return r;
    }
  ::closedir(dir);
  if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) < 0) return Error::from_errno("rmdir '{}'", name);
  return {};
}

struct DirMeta {
  std::vector<std::string> comps;
  mode_t mode;
  struct timespec times[2];
};

class Extractor {
 public:
  Extractor(int root, detail::TarStream& stream, UnpackResult& result)
      : root_(root), stream_(stream), result_(result) {}

  Result<void> entry(archive_entry* e) {
    const char* raw_path = archive_entry_pathname(e);
    std::string path = raw_path ? raw_path : "";
    std::string what = fmt::format("entry '{}'", path);
    BERTH_TRY(auto comps, entry_components(path, what));
    if (auto r = apply(e, comps, what); !r) return std::move(r).error().context(what);
    return {};
  }

  // Directory modes and times last: creating entries changes a directory's mtime, and a
  // read-only directory mode would stop a non-root unpack from creating its children.
  Result<void> finish() {
    std::stable_sort(dirs_.begin(), dirs_.end(),
                     [](const DirMeta& a, const DirMeta& b) { return a.comps.size() > b.comps.size(); });
    for (const auto& d : dirs_) {
      auto fd = open_dir(d.comps, /*create=*/false, "");
      if (!fd) continue;  // replaced by a later entry
      if (::fchmod(fd->get(), d.mode) < 0) return Error::from_errno("chmod '{}'", join(d.comps, d.comps.size()));
      if (::futimens(fd->get(), d.times) < 0) return Error::from_errno("set times of '{}'", join(d.comps, d.comps.size()));
    }
    return {};
  }

 private:
  void warn(std::string message) { result_.warnings.push_back(std::move(message)); }
  void warn_once(const std::string& key, std::string message) {
    if (warned_.insert(key).second) warn(std::move(message));
  }

  // Opens the directory comps[0..n), creating missing ones (0755) when `create`. Never follows
  // a symlink: O_NOFOLLOW on every component, starting from the layer's root fd.
  Result<UniqueFd> open_dir(const std::vector<std::string>& comps, bool create,
                            std::string_view what, size_t n = SIZE_MAX) {
    n = std::min(n, comps.size());
    int fd = ::openat(root_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Error::from_errno("open layer root");
    UniqueFd cur(fd);
    for (size_t i = 0; i < n; ++i) {
      const char* name = comps[i].c_str();
      int next = ::openat(cur.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && errno == ENOENT && create) {
        if (::mkdirat(cur.get(), name, 0755) < 0 && errno != EEXIST)
          return Error::from_errno("mkdir '{}'", join(comps, i + 1));
        next = ::openat(cur.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      }
      if (next < 0) {
        int saved = errno;
        struct stat st;
        if (::fstatat(cur.get(), name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
          return Error::make(ErrorKind::invalid_argument,
                             "'{}' is a symlink: refusing to follow it while unpacking",
                             join(comps, i + 1));
        if (saved == ENOTDIR)
          return Error::make(ErrorKind::invalid_argument, "'{}' is not a directory", join(comps, i + 1));
        return Error::with_errno(saved, fmt::format("open '{}'", join(comps, i + 1)));
      }
      cur.reset(next);
    }
    (void)what;
    return cur;
  }

  Result<void> apply(archive_entry* e, const std::vector<std::string>& comps, const std::string& what) {
    ++result_.entries;
    if (comps.empty()) {  // "./": the layer root itself
      if (archive_entry_filetype(e) != AE_IFDIR)
        return Error(ErrorKind::invalid_argument, "the layer root must be a directory");
      return directory(e, comps, root_, "");
    }
    const std::string& base = comps.back();
    BERTH_TRY(auto parent, open_dir(comps, /*create=*/true, what, comps.size() - 1));

    if (base == kOpaqueWhiteout) {
      if (::fsetxattr(parent.get(), kOpaqueXattr, "y", 1, 0) < 0)
        warn_once("opaque", fmt::format("could not mark '{}' opaque (setxattr {}: {}); lower "
                                        "layers' content stays visible there",
                                        join(comps, comps.size() - 1), kOpaqueXattr,
                                        std::strerror(errno)));
      return {};
    }
    if (std::string_view(base).starts_with(kWhiteoutPrefix)) {
      std::string name = base.substr(kWhiteoutPrefix.size());
      if (std::string_view(name).starts_with(".wh.")) return {};  // aufs metadata (.wh..wh.plnk)
      if (name.empty() || name == "." || name == "..")
        return Error(ErrorKind::invalid_argument, "whiteout names no file");
      BERTH_TRY_VOID(remove_at(parent.get(), name));
      if (::mknodat(parent.get(), name.c_str(), S_IFCHR | 0, makedev(0, 0)) < 0)
        warn_once("whiteout", fmt::format("could not create whiteout '{}' (mknod: {}); deleted "
                                          "files of lower layers stay visible",
                                          join(comps, comps.size() - 1) + "/" + name,
                                          std::strerror(errno)));
      return {};
    }

    if (const char* link = archive_entry_hardlink(e)) {
      std::string target_what = fmt::format("hard link target '{}'", link);
      BERTH_TRY(auto target, entry_components(link, target_what));
      if (target.empty()) return Error(ErrorKind::invalid_argument, "hard link to the layer root");
      BERTH_TRY(auto tparent, open_dir(target, /*create=*/false, target_what, target.size() - 1));
      struct stat st;
      if (::fstatat(tparent.get(), target.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return Error::from_errno("hard link target '{}'", link);
      if (S_ISDIR(st.st_mode))
        return Error::make(ErrorKind::invalid_argument, "hard link target '{}' is a directory", link);
      BERTH_TRY_VOID(remove_at(parent.get(), base));
      // flags 0: a symlink target is linked itself, never followed.
      if (::linkat(tparent.get(), target.back().c_str(), parent.get(), base.c_str(), 0) < 0)
        return Error::from_errno("link to '{}'", link);
      return {};
    }

    switch (archive_entry_filetype(e)) {
      case AE_IFDIR:
        return directory(e, comps, parent.get(), base);
      case AE_IFREG:
        return regular(e, parent.get(), base);
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(e);
        BERTH_TRY_VOID(remove_at(parent.get(), base));
        if (::symlinkat(target ? target : "", parent.get(), base.c_str()) < 0)
          return Error::from_errno("symlink");
        chown_at(parent.get(), base, e, AT_SYMLINK_NOFOLLOW);
        auto times = entry_times(e);
        if (::utimensat(parent.get(), base.c_str(), times.data(), AT_SYMLINK_NOFOLLOW) < 0)
          return Error::from_errno("set times");
        return {};
      }
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO: {
        BERTH_TRY_VOID(remove_at(parent.get(), base));
        mode_t type = archive_entry_filetype(e) == AE_IFCHR   ? S_IFCHR
                      : archive_entry_filetype(e) == AE_IFBLK ? S_IFBLK
                                                              : S_IFIFO;
        if (::mknodat(parent.get(), base.c_str(), type | 0600, archive_entry_rdev(e)) < 0) {
          if (errno == EPERM || errno == EACCES) {
            warn(fmt::format("skipped device node '{}': mknod: {}", join(comps, comps.size()),
                             std::strerror(errno)));
            return {};
          }
          return Error::from_errno("mknod");
        }
        chown_at(parent.get(), base, e, AT_SYMLINK_NOFOLLOW);
        if (::fchmodat(parent.get(), base.c_str(), archive_entry_perm(e), 0) < 0)
          return Error::from_errno("chmod");
        auto times = entry_times(e);
        if (::utimensat(parent.get(), base.c_str(), times.data(), AT_SYMLINK_NOFOLLOW) < 0)
          return Error::from_errno("set times");
        return {};
      }
      case AE_IFSOCK:
        warn(fmt::format("skipped socket '{}'", join(comps, comps.size())));
        return {};
      default:
        return Error::make(ErrorKind::unsupported, "unknown file type {:o}",
                           archive_entry_filetype(e));
    }
  }

  std::array<struct timespec, 2> entry_times(archive_entry* e) {
    struct timespec mtime = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
    struct timespec atime = archive_entry_atime_is_set(e)
                                ? timespec{archive_entry_atime(e), archive_entry_atime_nsec(e)}
                                : mtime;
    return {atime, mtime};
  }

  void ownership_warning(archive_entry* e) {
    warn_once("chown", fmt::format("ownership not applied ({}): files keep uid {}, not the "
                                   "layer's owners (e.g. {}:{})",
                                   std::strerror(errno), ::geteuid(), archive_entry_uid(e),
                                   archive_entry_gid(e)));
  }
  void chown_at(int parent, const std::string& name, archive_entry* e, int flags) {
    if (::fchownat(parent, name.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                   static_cast<gid_t>(archive_entry_gid(e)), flags) < 0)
      ownership_warning(e);
  }
  void chown_fd(int fd, archive_entry* e) {
    if (::fchown(fd, static_cast<uid_t>(archive_entry_uid(e)),
                 static_cast<gid_t>(archive_entry_gid(e))) < 0)
      ownership_warning(e);
  }

  Result<void> xattrs(int fd, archive_entry* e) {
    archive_entry_xattr_reset(e);
    const char* name = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
      std::string_view n = name;
      // overlayfs reads these from lower layers (redirects, metacopy, opaque): only berth sets
      // them, from whiteouts; a layer that carries them could make overlay look elsewhere.
      if (n.starts_with("trusted.overlay.") || n.starts_with("user.overlay.")) {
        warn(fmt::format("ignored xattr '{}': overlayfs' own attributes are not taken from layers", n));
        continue;
      }
      if (::fsetxattr(fd, name, value, size, 0) < 0) {
        if (errno == EPERM || errno == ENOTSUP || errno == EACCES) {
          warn_once(std::string("xattr:") + name,
                    fmt::format("xattr '{}' not applied: {}", n, std::strerror(errno)));
          continue;
        }
        return Error::from_errno("setxattr '{}'", n);
      }
    }
    return {};
  }

  Result<void> directory(archive_entry* e, const std::vector<std::string>& comps, int parent,
                         const std::string& base) {
    UniqueFd fd;
    if (base.empty()) {
      int d = ::openat(root_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (d < 0) return Error::from_errno("open layer root");
      fd.reset(d);
    } else {
      struct stat st;
      bool is_dir = ::fstatat(parent, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      if (!is_dir) {
        BERTH_TRY_VOID(remove_at(parent, base));
        if (::mkdirat(parent, base.c_str(), 0755) < 0) return Error::from_errno("mkdir");
      }
      int d = ::openat(parent, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (d < 0) return Error::from_errno("open");
      fd.reset(d);
    }
    chown_fd(fd.get(), e);
    BERTH_TRY_VOID(xattrs(fd.get(), e));
    auto times = entry_times(e);
    dirs_.push_back(DirMeta{comps, static_cast<mode_t>(archive_entry_perm(e)), {times[0], times[1]}});
    return {};
  }

  Result<void> regular(archive_entry* e, int parent, const std::string& base) {
    BERTH_TRY_VOID(remove_at(parent, base));
    int raw = ::openat(parent, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (raw < 0) return Error::from_errno("create");
    UniqueFd fd(raw);
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
      int r = archive_read_data_block(stream_.tar(), &buf, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) return stream_.error("read data");
      const char* p = static_cast<const char*>(buf);
      while (size > 0) {
        ssize_t n = ::pwrite(fd.get(), p, size, offset);
        if (n < 0) {
          if (errno == EINTR) continue;
          return Error::from_errno("write");
        }
        p += n;
        size -= static_cast<size_t>(n);
        offset += n;
      }
    }
    // Sparse files may end in a hole.
    if (archive_entry_size_is_set(e) && ::ftruncate(fd.get(), archive_entry_size(e)) < 0)
      return Error::from_errno("truncate");
    chown_fd(fd.get(), e);
    // After chown, which clears set-id bits.
    if (::fchmod(fd.get(), archive_entry_perm(e)) < 0) return Error::from_errno("chmod");
    BERTH_TRY_VOID(xattrs(fd.get(), e));
    auto times = entry_times(e);
    if (::futimens(fd.get(), times.data()) < 0) return Error::from_errno("set times");
    return {};
  }

  int root_;
  detail::TarStream& stream_;
  UnpackResult& result_;
  std::vector<DirMeta> dirs_;
  std::set<std::string> warned_;
};

detail::Tap hashing_tap(Sha256& hasher, UnpackResult& result) {
  return [&hasher, &result](std::string_view data) -> Result<void> {
    hasher.update(data);
    result.tar_size += static_cast<int64_t>(data.size());
    return {};
  };
}

Result<UnpackResult> unpack_into(int fd, int root_fd) {
  UnpackResult result;
  Sha256 hasher;
  BERTH_TRY(auto stream, detail::TarStream::open(fd, hashing_tap(hasher, result)));
  Extractor extractor(root_fd, *stream, result);
  for (;;) {
    BERTH_TRY(auto entry, stream->next());
    if (!entry) break;
    BERTH_TRY_VOID(extractor.entry(entry));
  }
  BERTH_TRY_VOID(stream->drain());
  BERTH_TRY_VOID(extractor.finish());
  result.diff_id = hasher.finish();
  return result;
}

}  // namespace

void support_compressions(archive* a) {
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_bzip2(a);
}

Result<UnpackResult> unpack_layer(int fd, const std::string& dir) {
  auto ctx = fmt::format("unpack layer into '{}'", dir);
  if (sys::exists(dir))
    return Error::make(ErrorKind::already_exists, "{}: it already exists", ctx);
  // pid and thread: the threads of one server (berth serve) unpack at the same time. Cleaners
  // read the pid up to the '-'.
  std::string tmp = fmt::format("{}.tmp-{}-{}", dir, ::getpid(), ::gettid());
  if (auto r = sys::remove_all(tmp); !r) return std::move(r).error().context(ctx);
  if (::mkdir(tmp.c_str(), 0755) < 0) return Error::from_errno("mkdir '{}'", tmp).context(ctx);
  auto result = [&]() -> Result<UnpackResult> {
    BERTH_TRY(auto root, sys::open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    BERTH_TRY(auto r, unpack_into(fd, root.get()));
    // One flush for the whole layer before it becomes visible under its final name.
    if (::syncfs(root.get()) < 0) return Error::from_errno("syncfs '{}'", tmp);
    return r;
  }();
  if (!result) {
    (void)sys::remove_all(tmp);
    return std::move(result).error().context(ctx);
  }
  if (::rename(tmp.c_str(), dir.c_str()) < 0) {
    int saved = errno;
    (void)sys::remove_all(tmp);
    if (saved == EEXIST || saved == ENOTEMPTY)
      return Error::make(ErrorKind::already_exists, "{}: it already exists", ctx);
    return Error::with_errno(saved, fmt::format("rename '{}'", tmp)).context(ctx);
  }
  return result;
}

Result<UnpackResult> diff_id_of(int fd) {
  UnpackResult result;
  Sha256 hasher;
  BERTH_TRY(auto stream, detail::TarStream::open(fd, hashing_tap(hasher, result)));
  for (;;) {
    BERTH_TRY(auto entry, stream->next());
    if (!entry) break;
    ++result.entries;
    if (archive_read_data_skip(stream->tar()) < ARCHIVE_WARN) return stream->error("read tar");
  }
  BERTH_TRY_VOID(stream->drain());
  result.diff_id = hasher.finish();
  return result;
}

Digest chain_id(const Digest& parent_chain_id, const Digest& diff_id) {
  if (parent_chain_id.empty()) return diff_id;
  return sha256_of(parent_chain_id.str() + " " + diff_id.str());
}

std::vector<Digest> chain_ids(const std::vector<Digest>& diff_ids) {
  std::vector<Digest> out;
  Digest parent;
  for (const auto& d : diff_ids) {
    parent = chain_id(parent, d);
    out.push_back(parent);
  }
  return out;
}

}  // namespace berth::image
