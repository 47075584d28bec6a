#include "runtime/mounts.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <deque>
#include <string_view>

#include "base/sys.h"

namespace berth::runtime {

bool MountOptions::bind() const { return flags & MS_BIND; }
bool MountOptions::recursive_bind() const { return (flags & MS_BIND) && (flags & MS_REC); }

namespace {
struct Flag {
  std::string_view name;
  bool clear;
  unsigned long flag;
};
constexpr Flag kFlags[] = {
    {"defaults", false, 0},       {"ro", false, MS_RDONLY},          {"rw", true, MS_RDONLY},
    {"suid", true, MS_NOSUID},    {"nosuid", false, MS_NOSUID},      {"dev", true, MS_NODEV},
    {"nodev", false, MS_NODEV},   {"exec", true, MS_NOEXEC},         {"noexec", false, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS}, {"async", true, MS_SYNCHRONOUS}, {"dirsync", false, MS_DIRSYNC},
    {"remount", false, MS_REMOUNT}, {"mand", false, MS_MANDLOCK},    {"nomand", true, MS_MANDLOCK},
    {"atime", true, MS_NOATIME},  {"noatime", false, MS_NOATIME},    {"diratime", true, MS_NODIRATIME},
    {"nodiratime", false, MS_NODIRATIME}, {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME}, {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME}, {"bind", false, MS_BIND},
    {"rbind", false, MS_BIND | MS_REC}, {"lazytime", false, MS_LAZYTIME},
    {"nolazytime", true, MS_LAZYTIME}, {"silent", false, MS_SILENT}, {"loud", true, MS_SILENT},
};
struct Propagation {
  std::string_view name;
  unsigned long flags;
};
constexpr Propagation kPropagation[] = {
    {"private", MS_PRIVATE},   {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},     {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},       {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};
}  // namespace

Result<MountOptions> parse_mount_options(const std::vector<std::string>& options) {
  MountOptions out;
  for (const auto& option : options) {
    bool known = false;
    for (const auto& f : kFlags) {
      if (option != f.name) continue;
      known = true;
      if (f.clear)
        out.flags &= ~f.flag;
      else
        out.flags |= f.flag;
    }
    for (const auto& p : kPropagation) {
      if (option != p.name) continue;
      known = true;
      out.propagation = p.flags;
    }
    if (known) continue;
    if (option == "idmap" || option == "ridmap" || option.rfind("uidmap=", 0) == 0 ||
        option.rfind("gidmap=", 0) == 0)
      return Error::make(ErrorKind::unsupported, "mount option '{}' (id-mapped mounts) is not supported", option);
    if (option == "tmpcopyup" || option == "copy-symlink" || option == "notmpcopyup")
      continue;  // crun extensions with no meaning here
    if (!out.data.empty()) out.data += ',';
    out.data += option;
  }
  return out;
}

Result<std::string> secure_join(const std::string& root, const std::string& container_path) {
  std::deque<std::string> pending;
  for (auto& part : sys::split(container_path, '/')) pending.push_back(part);
  std::vector<std::string> resolved;
  int links = 0;
  while (!pending.empty()) {
    std::string part = std::move(pending.front());
    pending.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      if (!resolved.empty()) resolved.pop_back();
      continue;
    }
    std::string rel;
    for (auto& r : resolved) rel += "/" + r;
    rel += "/" + part;
    std::string host = sys::join_path(root, rel);
    struct stat st;
    if (::lstat(host.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      if (++links > 255)
        return Error::make(ErrorKind::invalid_argument, "resolve '{}' in '{}': too many symbolic links", container_path, root);
      char target[PATH_MAX];
      ssize_t n = ::readlink(host.c_str(), target, sizeof target - 1);
      if (n < 0 && (errno == EINVAL || errno == ENOENT)) {
        // No longer a symlink (a container sharing a volume swapped it): take the name as it
        // is now; open_mount_point, which the mount goes through, checks what it finds there.
        resolved.push_back(std::move(part));
        continue;
      }
      if (n < 0) return Error::from_errno("readlink '{}'", host);
      target[n] = '\0';
      auto parts = sys::split(target, '/');
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) pending.push_front(*it);
      if (target[0] == '/') resolved.clear();
      continue;
    }
    resolved.push_back(std::move(part));
  }
  std::string rel;
  for (auto& r : resolved) rel += "/" + r;
  return sys::join_path(root, rel);
}

namespace {
int open_beneath(int root_fd, const std::string& rel) {
  struct open_how how = {};
  how.flags = O_PATH | O_CLOEXEC;  // not O_NOFOLLOW: it would open a final symlink itself
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how));
}

Result<std::string> fd_target(int fd) {
  std::string link = fmt::format("/proc/self/fd/{}", fd);
  char target[PATH_MAX];
  ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  if (n < 0) return Error::from_errno("readlink '{}'", link);
  return std::string(target, static_cast<size_t>(n));
}
}  // namespace

std::string mount_point_path(const UniqueFd& fd) { return fmt::format("/proc/self/fd/{}", fd.get()); }

Result<UniqueFd> open_mount_point(const std::string& given_root, const std::string& host_path, bool is_dir) {
  std::string root = given_root;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  std::string_view rel_view = host_path;
  if (!rel_view.starts_with(root) || (rel_view.size() > root.size() && rel_view[root.size()] != '/'))
    return Error::make(ErrorKind::invalid_argument, "mount point '{}' is not under '{}'", host_path, root);
  std::string rel(rel_view.substr(root.size()));
  int raw_root = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (raw_root < 0) return Error::from_errno("open the rootfs '{}'", root);
  UniqueFd root_fd(raw_root);
  BERTH_TRY(std::string real_root, fd_target(root_fd.get()));
  auto changed = [&] {
    return Error::make(ErrorKind::failed_precondition,
                       "mount point '{}' changed while it was being mounted (a component was replaced "
                       "by a symbolic link or renamed, by a container sharing a volume with this one?)",
                       host_path);
  };
  std::string want = real_root == "/" ? (rel.empty() ? "/" : rel) : real_root + rel;
  int fd = open_beneath(root_fd.get(), rel.empty() ? "." : rel);
  if (fd < 0 && errno != ENOENT) {
    if (errno == ELOOP || errno == EXDEV) return changed();
    return Error::from_errno("open mount point '{}'", host_path);
  }
  if (fd < 0) {
    // Create what is missing, one component at a time, each in the descriptor of its parent.
    UniqueFd parent(::fcntl(root_fd.get(), F_DUPFD_CLOEXEC, 0));
    auto parts = sys::split(rel, '/');
    std::string prefix;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].empty()) continue;
      prefix += "/" + parts[i];
      bool last = i + 1 == parts.size();
      int next = open_beneath(root_fd.get(), prefix);
      if (next < 0 && errno == ENOENT) {
        int made = (!last || is_dir) ? ::mkdirat(parent.get(), parts[i].c_str(), 0755)
                                     : ::openat(parent.get(), parts[i].c_str(),
                                                O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (made < 0 && errno != EEXIST) return Error::from_errno("create mount point '{}'", root + prefix);
        if (made >= 0 && last && !is_dir) ::close(made);
        next = open_beneath(root_fd.get(), prefix);
      }
      if (next < 0) {
        if (errno == ELOOP || errno == EXDEV || errno == ENOENT) return changed();
        return Error::from_errno("open mount point '{}'", root + prefix);
      }
      parent = UniqueFd(next);
    }
    fd = parent.release();
  }
  UniqueFd point(fd);
  // A component renamed meanwhile leads elsewhere inside the root without any symlink.
  BERTH_TRY(std::string at, fd_target(point.get()));
  if (at != want) return changed();
  return point;
}

}  // namespace berth::runtime
