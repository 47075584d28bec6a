#include "engine/detail/copy_in_root.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "base/sys.h"
#include "base/unique_fd.h"

namespace berth::engine::detail {
namespace {

Result<UniqueFd> open_in_root(int root_fd, const std::string& path, int flags) {
  return sys::open_in_root(root_fd, path, flags, "the container");
}

Result<UniqueFd> open_host(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Error::from_errno("open '{}'", path);
  return UniqueFd(fd);
}

// "a/b/c" → {"a/b", "c"}; "c" → {".", "c"}; "/c" → {"/", "c"}. Trailing slashes are dropped.
std::pair<std::string, std::string> split_last(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

bool plain_name(const std::string& name) { return !name.empty() && name != "." && name != ".." && name != "/"; }

// A directory entry of either side, named relative to its parent's descriptor.
struct Entry {
  int dir;
  const std::string& name;
  const std::string& shown;  // for messages
};

Result<void> copy_entry(const Entry& from, const Entry& to);

// Removes what stands at `to` unless it is a directory, so a new file or symlink is created there
// (O_EXCL) instead of being written through an old symlink.
Result<void> clear_name(const Entry& to) {
  struct stat st;
  if (::fstatat(to.dir, to.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return {};
    return Error::from_errno("stat '{}'", to.shown);
  }
  if (S_ISDIR(st.st_mode))
    return Error::make(ErrorKind::failed_precondition, "cannot overwrite directory '{}' with a non-directory", to.shown);
  if (::unlinkat(to.dir, to.name.c_str(), 0) < 0) return Error::from_errno("remove '{}'", to.shown);
  return {};
}

Result<void> set_owner_mode_times(int fd, const struct stat& st, const std::string& shown) {
  if (::fchown(fd, st.st_uid, st.st_gid) < 0) return Error::from_errno("chown '{}'", shown);
  if (::fchmod(fd, st.st_mode & 07777) < 0) return Error::from_errno("chmod '{}'", shown);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(fd, times) < 0) return Error::from_errno("set times of '{}'", shown);
  return {};
}

Result<void> copy_file(const Entry& from, const Entry& to, const struct stat& st) {
  // O_NONBLOCK: a fifo swapped in after the stat must not block the copy.
  int in_fd = ::openat(from.dir, from.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (in_fd < 0) return Error::from_errno("open '{}'", from.shown);
  UniqueFd in(in_fd);
  struct stat now;
  if (::fstat(in.get(), &now) < 0 || !S_ISREG(now.st_mode))
    return Error::make(ErrorKind::failed_precondition, "'{}' changed while it was copied", from.shown);
  BERTH_TRY_VOID(clear_name(to));
  int out_fd = ::openat(to.dir, to.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out_fd < 0) return Error::from_errno("create '{}'", to.shown);
  UniqueFd out(out_fd);
  std::vector<char> buffer(1 << 16);
  for (;;) {
    ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 30, 0);
    if (n == 0) break;
    if (n > 0) continue;
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
      return Error::from_errno("copy '{}' to '{}'", from.shown, to.shown);
    // Not between these file systems: read and write.
    for (;;) {
      ssize_t r = ::read(in.get(), buffer.data(), buffer.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Error::from_errno("read '{}'", from.shown);
      if (r == 0) break;
      for (ssize_t done = 0; done < r;) {
        ssize_t w = ::write(out.get(), buffer.data() + done, static_cast<size_t>(r - done));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return Error::from_errno("write '{}'", to.shown);
        done += w;
      }
    }
    break;
  }
  return set_owner_mode_times(out.get(), st, to.shown);
}

Result<void> copy_dir(const Entry& from, const Entry& to, const struct stat& st) {
  int src_fd = ::openat(from.dir, from.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (src_fd < 0) return Error::from_errno("open directory '{}'", from.shown);
  UniqueFd src(src_fd);
  if (::mkdirat(to.dir, to.name.c_str(), 0700) < 0 && errno != EEXIST)
    return Error::from_errno("create directory '{}'", to.shown);
  // O_NOFOLLOW: an existing name that is a symlink (to / or anywhere) is refused, not entered.
  int dst_fd = ::openat(to.dir, to.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dst_fd < 0) return Error::from_errno("open directory '{}'", to.shown);
  UniqueFd dst(dst_fd);
  int list_fd = ::dup(src.get());
  if (list_fd < 0) return Error::from_errno("dup '{}'", from.shown);
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(list_fd), ::closedir);
  if (!dir) {
    ::close(list_fd);
    return Error::from_errno("list '{}'", from.shown);
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(dir.get())) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  for (const auto& name : names) {
    std::string from_shown = from.shown + "/" + name, to_shown = to.shown + "/" + name;
    BERTH_TRY_VOID(copy_entry({src.get(), name, from_shown}, {dst.get(), name, to_shown}));
  }
  return set_owner_mode_times(dst.get(), st, to.shown);
}

Result<void> copy_entry(const Entry& from, const Entry& to) {
  struct stat st;
  if (::fstatat(from.dir, from.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
    return Error::from_errno("stat '{}'", from.shown);
  if (S_ISDIR(st.st_mode)) return copy_dir(from, to, st);
  if (S_ISREG(st.st_mode)) return copy_file(from, to, st);
  if (S_ISLNK(st.st_mode)) {
    std::vector<char> target(PATH_MAX + 1);
    ssize_t n = ::readlinkat(from.dir, from.name.c_str(), target.data(), target.size() - 1);
    if (n < 0) return Error::from_errno("read link '{}'", from.shown);
    BERTH_TRY_VOID(clear_name(to));
    if (::symlinkat(std::string(target.data(), static_cast<size_t>(n)).c_str(), to.dir, to.name.c_str()) < 0)
      return Error::from_errno("create symlink '{}'", to.shown);
    if (::fchownat(to.dir, to.name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
      return Error::from_errno("chown '{}'", to.shown);
    return {};
  }
  if (S_ISFIFO(st.st_mode)) {
    BERTH_TRY_VOID(clear_name(to));
    if (::mkfifoat(to.dir, to.name.c_str(), st.st_mode & 07777) < 0) return Error::from_errno("create fifo '{}'", to.shown);
    return {};
  }
  return {};  // device nodes and sockets are not copied
}

// Docker's rule for a destination: an existing directory receives the source under its own name;
// otherwise the destination is the new name (a trailing slash demands an existing directory).
struct Target {
  UniqueFd dir;
  std::string name;
};

}  // namespace

Result<void> copy_into_root(const std::string& rootfs, const std::string& host_source,
                            const std::string& container_destination) {
  BERTH_TRY(auto root, open_host(rootfs, O_PATH | O_DIRECTORY));
  auto [source_parent, source_name] = split_last(host_source);
  if (!plain_name(source_name))
    return Error::make(ErrorKind::invalid_argument, "cp: source '{}': name a file or directory", host_source);
  BERTH_TRY(auto source_dir, open_host(source_parent, O_PATH | O_DIRECTORY));
  Target to;
  if (auto dir = open_in_root(root.get(), container_destination, O_PATH | O_DIRECTORY)) {
    to = {std::move(*dir), source_name};
  } else if (container_destination.ends_with('/')) {
    return Error::make(ErrorKind::not_found, "cp: destination directory '{}' does not exist in the container",
                       container_destination);
  } else {
    auto [parent, name] = split_last(container_destination);
    if (!plain_name(name))
      return Error::make(ErrorKind::invalid_argument, "cp: destination '{}': name a file or directory",
                         container_destination);
    BERTH_TRY(auto parent_fd, open_in_root(root.get(), parent, O_PATH | O_DIRECTORY));
    to = {std::move(parent_fd), name};
  }
  std::string shown = container_destination;
  return copy_entry({source_dir.get(), source_name, host_source}, {to.dir.get(), to.name, shown});
}

Result<void> copy_out_of_root(const std::string& rootfs, const std::string& container_source,
                              const std::string& host_destination) {
  BERTH_TRY(auto root, open_host(rootfs, O_PATH | O_DIRECTORY));
  auto [source_parent, source_name] = split_last(container_source);
  if (!plain_name(source_name))
    return Error::make(ErrorKind::invalid_argument, "cp: source '{}': name a file or directory below /",
                       container_source);
  BERTH_TRY_CTX(auto source_dir, open_in_root(root.get(), source_parent, O_PATH | O_DIRECTORY),
                fmt::format("cp: '{}'", container_source));
  struct stat st;
  if (::fstatat(source_dir.get(), source_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
    return Error::from_errno("cp: '{}' in the container", container_source);
  Target to;
  struct stat dst;
  if (::stat(host_destination.c_str(), &dst) == 0 && S_ISDIR(dst.st_mode)) {
    BERTH_TRY(auto dir, open_host(host_destination, O_PATH | O_DIRECTORY));
    to = {std::move(dir), source_name};
  } else {
    auto [parent, name] = split_last(host_destination);
    if (!plain_name(name))
      return Error::make(ErrorKind::invalid_argument, "cp: destination '{}': name a file or directory", host_destination);
    BERTH_TRY(auto parent_fd, open_host(parent, O_PATH | O_DIRECTORY));
    to = {std::move(parent_fd), name};
  }
  return copy_entry({source_dir.get(), source_name, container_source}, {to.dir.get(), to.name, host_destination});
}

}  // namespace berth::engine::detail
