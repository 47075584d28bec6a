#include "runtime/mounts.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>  // RESOLVE_NO_SYMLINKS
#include <sys/mount.h>
#include <sys/stat.h>
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
// The mount point's lookup: inside the root and without any symlink (a final one included).
Result<UniqueFd> open_beneath(int root_fd, const std::string& rel) {
  return sys::open_in_root(root_fd, rel, O_PATH, "the rootfs", RESOLVE_NO_SYMLINKS);
}

bool swapped(const Error& e) { return e.sys_errno() == ELOOP || e.sys_errno() == EXDEV; }
}  // namespace

std::string mount_point_path(const UniqueFd& fd) { return fmt::format("/proc/self/fd/{}", fd.get()); }

Result<UniqueFd> open_mount_point(const std::string& given_root, const std::string& host_path, bool is_dir) {
  std::string root = given_root;
  while (!root.empty() && root.back() == '/') root.pop_back();  // "/" becomes "": any absolute path is under it
  std::string_view rel_view = host_path;
  if (!rel_view.starts_with(root) || (rel_view.size() > root.size() && rel_view[root.size()] != '/'))
    return Error::make(ErrorKind::invalid_argument, "mount point '{}' is not under '{}'", host_path, given_root);
  std::string rel(rel_view.substr(root.size()));
  BERTH_TRY(auto root_fd, sys::open(root.empty() ? "/" : root, O_PATH | O_DIRECTORY));
  auto changed = [&] {
    return Error::make(ErrorKind::failed_precondition,
                       "mount point '{}' changed while it was being mounted (a component was replaced "
                       "by a symbolic link or renamed, by a container sharing a volume with this one?)",
                       host_path);
  };
  auto point = open_beneath(root_fd.get(), rel.empty() ? "." : rel);
  if (!point && swapped(point.error())) return changed();
  if (!point && point.error().sys_errno() != ENOENT) return std::move(point).error();
  if (!point) {
    // Create what is missing, one component at a time, each in the descriptor of its parent.
    auto parent = open_beneath(root_fd.get(), ".");
    auto parts = sys::split(rel, '/');
    std::string prefix;
    for (size_t i = 0; parent && i < parts.size(); ++i) {
      if (parts[i].empty()) continue;
      prefix += "/" + parts[i];
      bool last = i + 1 == parts.size();
      auto next = open_beneath(root_fd.get(), prefix);
      if (!next && next.error().sys_errno() == ENOENT) {
        int made = (!last || is_dir) ? ::mkdirat(parent->get(), parts[i].c_str(), 0755)
                                     : ::openat(parent->get(), parts[i].c_str(),
                                                O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (made < 0 && errno != EEXIST) return Error::from_errno("create mount point '{}'", root + prefix);
        if (made >= 0 && last && !is_dir) ::close(made);
        next = open_beneath(root_fd.get(), prefix);
      }
      // Missing right after it was made: the parent was swapped meanwhile.
      if (!next && (swapped(next.error()) || next.error().sys_errno() == ENOENT)) return changed();
      parent = std::move(next);
    }
    if (!parent) return std::move(parent).error();
    point = std::move(parent);
  }
  // A component renamed meanwhile leads elsewhere inside the root without any symlink: the
  // descriptor must be where the path was resolved (what the kernel names it by).
  char at[PATH_MAX], real_root[PATH_MAX];
  ssize_t n = ::readlink(mount_point_path(*point).c_str(), at, sizeof at - 1);
  ssize_t r = ::readlink(mount_point_path(root_fd).c_str(), real_root, sizeof real_root - 1);
  if (n < 0 || r < 0) return Error::from_errno("read where mount point '{}' is", host_path);
  std::string real(real_root, static_cast<size_t>(r));
  std::string want = real == "/" ? (rel.empty() ? "/" : rel) : real + rel;
  if (std::string_view(at, static_cast<size_t>(n)) != want) return changed();
  return std::move(point).value();
}

Result<void> make_device_node(const std::string& root, const std::string& host_path, const DeviceNode& node) {
  const size_t slash = host_path.rfind('/');
  const std::string name = slash == std::string::npos ? "" : host_path.substr(slash + 1);
  if (name.empty() || name == "." || name == "..")
    return Error::make(ErrorKind::invalid_argument, "device path '{}' names no file", host_path);
  BERTH_TRY(auto parent, open_mount_point(root, host_path.substr(0, slash), true));
  (void)::unlinkat(parent.get(), name.c_str(), 0);  // a stale node, or a link, in its place
  if (::mknodat(parent.get(), name.c_str(), node.mode, node.dev) < 0)
    return Error::from_errno("mknod '{}'", host_path);
  auto made = sys::open_at(parent.get(), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  const bool same = made && ::fstat(made->get(), &st) == 0 && (st.st_mode & S_IFMT) == (node.mode & S_IFMT) &&
                    (S_ISFIFO(st.st_mode) || st.st_rdev == node.dev);
  if (!same)
    return Error::make(ErrorKind::failed_precondition,
                       "device node '{}' changed while it was being made (replaced by a container sharing "
                       "a volume with this one?)",
                       host_path);
  // chmod follows the descriptor's magic link to exactly this node (fchmod takes no O_PATH).
  if (::chmod(mount_point_path(*made).c_str(), node.mode & 07777) < 0)
    return Error::from_errno("chmod '{}'", host_path);
  if (node.chown && ::fchownat(made->get(), "", node.uid, node.gid, AT_EMPTY_PATH) < 0)
    return Error::from_errno("chown '{}'", host_path);
  return {};
}

}  // namespace berth::runtime
