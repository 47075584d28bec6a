#include "runtime/mounts.h"

#include <limits.h>
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

}  // namespace berth::runtime
