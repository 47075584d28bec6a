#include "base/sys.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace berth::sys {

Result<UniqueFd> open(const std::string& path, int flags, mode_t mode) {
  return open_at(AT_FDCWD, path, flags, mode);
}

Result<UniqueFd> open_at(int dirfd, const std::string& path, int flags, mode_t mode) {
  int fd = ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return Error::from_errno("open '{}'", path);
  return UniqueFd(fd);
}

Result<UniqueFd> open_in_root(int root_fd, const std::string& path, int flags, std::string_view where,
                              uint64_t resolve) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve;
  int fd = static_cast<int>(::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how));
  if (fd < 0) return Error::from_errno("open '{}' in {}", path, where);
  return UniqueFd(fd);
}

Result<std::string> read_fd(int fd) {
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("read");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> read_file(const std::string& path) {
  BERTH_TRY(auto fd, open(path, O_RDONLY));
  return read_fd(fd.get()).context(fmt::format("read '{}'", path));
}

Result<void> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("write");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<void> write_file_at(int dirfd, const std::string& name, std::string_view data) {
  int fd = ::openat(dirfd, name.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Error::from_errno("open '{}'", name);
  UniqueFd guard(fd);
  // One write call: kernel knobs (cgroup files, uid_map) take a value per write.
  ssize_t n = ::write(fd, data.data(), data.size());
  if (n < 0) return Error::from_errno("write '{}' to '{}'", data, name);
  if (static_cast<size_t>(n) != data.size())
    return Error::make(ErrorKind::io, "short write of '{}' to '{}'", data, name);
  return {};
}

Result<void> write_file(const std::string& path, std::string_view data) {
  return write_file_at(AT_FDCWD, path, data);
}

Result<void> atomic_write(const std::string& path, std::string_view data, mode_t mode,
                          Durability durability) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Error::from_errno("create '{}'", tmp);
  UniqueFd guard(fd);
  if (auto r = write_all(fd, data); !r) return std::move(r).context(fmt::format("write '{}'", tmp));
  if (durability == Durability::power_loss && ::fsync(fd) < 0) return Error::from_errno("fsync '{}'", tmp);
  if (::rename(tmp.c_str(), path.c_str()) < 0) return Error::from_errno("rename '{}'", tmp);
  return {};
}

Result<void> mkdir_all(const std::string& path, mode_t mode) {
  if (path.empty() || path == "/" || path == ".") return {};
  if (::mkdir(path.c_str(), mode) == 0) return {};
  if (errno == EEXIST) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
    return Error::make(ErrorKind::already_exists, "mkdir '{}': exists and is not a directory", path);
  }
  if (errno != ENOENT) return Error::from_errno("mkdir '{}'", path);
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) BERTH_TRY_VOID(mkdir_all(path.substr(0, slash), mode));
  if (::mkdir(path.c_str(), mode) < 0 && errno != EEXIST) return Error::from_errno("mkdir '{}'", path);
  return {};
}

namespace {
Result<void> remove_tree_at(int parent, const char* name, dev_t device) {
  struct stat st;
  if (::fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return {};
    return Error::from_errno("stat '{}'", name);
  }
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != device) return Error::make(ErrorKind::failed_precondition, "'{}' is a mount point", name);
    int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Error::from_errno("open '{}'", name);
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
      ::close(fd);
      return Error::from_errno("opendir '{}'", name);
    }
    while (struct dirent* entry = ::readdir(dir)) {
      if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
      if (auto r = remove_tree_at(::dirfd(dir), entry->d_name, device); !r) {
        ::closedir(dir);
        return std::move(r).context(name);
      }
    }
    ::closedir(dir);
    if (::unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
      return Error::from_errno("rmdir '{}'", name);
    return {};
  }
  if (::unlinkat(parent, name, 0) < 0 && errno != ENOENT) return Error::from_errno("unlink '{}'", name);
  return {};
}
}  // namespace

Result<void> remove_all(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) < 0) {
    if (errno == ENOENT) return {};
    return Error::from_errno("stat '{}'", path);
  }
  return remove_tree_at(AT_FDCWD, path.c_str(), st.st_dev);
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

Result<void> mount(const std::string& source, const std::string& target, const std::string& type,
                   unsigned long flags, const std::string& data) {
  if (::mount(source.empty() ? nullptr : source.c_str(), target.c_str(),
              type.empty() ? nullptr : type.c_str(), flags,
              data.empty() ? nullptr : data.c_str()) < 0)
    return Error::from_errno("mount '{}' on '{}' (type '{}', options '{}')", source, target, type,
                             data);
  return {};
}

Result<std::pair<UniqueFd, UniqueFd>> socket_pair(int type) {
  int fds[2];
  if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) < 0) return Error::from_errno("socketpair");
  return std::make_pair(UniqueFd(fds[0]), UniqueFd(fds[1]));
}

std::vector<std::string> split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) parts.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string join_path(std::string_view base, std::string_view rel) {
  std::string out(base);
  while (!out.empty() && out.back() == '/') out.pop_back();
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  if (rel.empty()) return out.empty() ? "/" : out;
  out += '/';
  out += rel;
  return out;
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> names;
  if (DIR* dir = ::opendir(path.c_str())) {
    while (struct dirent* entry = ::readdir(dir))
      if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0)
        names.push_back(entry->d_name);
    ::closedir(dir);
  }
  return names;
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  for (size_t done = 0; done < bytes;) {
    size_t chunk = std::min<size_t>(bytes - done, 256);
    if (::getentropy(raw.data() + done, chunk) != 0) std::abort();
    done += chunk;
  }
  std::string hex;
  hex.reserve(bytes * 2);
  static constexpr char kDigits[] = "0123456789abcdef";
  for (unsigned char ch : raw) {
    hex += kDigits[ch >> 4];
    hex += kDigits[ch & 15];
  }
  return hex;
}

}  // namespace berth::sys
