#include "runtime/detail/rootfs.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sys.h"
#include "base/unique_fd.h"
#include "runtime/mounts.h"

namespace berth::runtime {
namespace {

// Flags the kernel locks on a mount seen from a user namespace; a bind remount must keep them.
unsigned long locked_flags(const std::string& path) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) < 0) return 0;
  unsigned long flags = 0;
  if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flag & ST_RDONLY) flags |= MS_RDONLY;
  return flags;
}

Result<void> bind_remount(const std::string& dest, unsigned long flags) {
  unsigned long remount = MS_BIND | MS_REMOUNT | (flags & ~(MS_BIND | MS_REC | MS_REMOUNT));
  if (::mount(nullptr, dest.c_str(), nullptr, remount, nullptr) == 0) return {};
  // Locked flags (nodev, nosuid, ... inherited from the source) must be kept.
  if (errno == EPERM &&
      ::mount(nullptr, dest.c_str(), nullptr, remount | locked_flags(dest), nullptr) == 0)
    return {};
  return Error::from_errno("remount '{}' with its options", dest);
}

// `dest` is secure_join's host path; the hierarchies go into the tmpfs mounted on it, reached
// through its descriptor (open_mount_point after the mount).
Result<void> mount_cgroup(const RootfsOptions& o, const std::string& dest, const MountOptions& opts) {
  unsigned long flags = opts.flags & ~(MS_BIND | MS_REC);
  BERTH_TRY(auto point, open_mount_point(o.rootfs, dest, true));
  std::string target = mount_point_path(point);
  if (o.cgroup_mode == cgroup::Mode::v2) {
    if (o.cgroup_namespace && ::mount("cgroup2", target.c_str(), "cgroup2", flags, nullptr) == 0) return {};
    std::string source = sys::join_path("/sys/fs/cgroup", o.cgroup_path);
    BERTH_TRY_VOID(sys::mount(source, target, "", MS_BIND | MS_REC, ""));
    BERTH_TRY(auto mounted, open_mount_point(o.rootfs, dest, true));
    return bind_remount(mount_point_path(mounted), flags);
  }
  BERTH_TRY_VOID(sys::mount("tmpfs", target, "tmpfs", flags & ~MS_RDONLY, "mode=755"));
  // The tmpfs is this container's own: nothing else can rename or link inside it.
  BERTH_TRY(auto mounted, open_mount_point(o.rootfs, dest, true));
  std::string top = mount_point_path(mounted);
  for (const auto& h : o.hierarchies) {
    std::string name = h.mount_point.substr(h.mount_point.rfind('/') + 1);
    std::string sub = top + "/" + name;
    if (::mkdirat(mounted.get(), name.c_str(), 0755) < 0 && errno != EEXIST)
      return Error::from_errno("create '{}/{}'", dest, name);
    std::string controllers;
    for (const auto& c : h.controllers) controllers += (controllers.empty() ? "" : ",") + c;
    bool cgroup_mounted = o.cgroup_namespace &&
                          ::mount("cgroup", sub.c_str(), "cgroup", flags, controllers.c_str()) == 0;
    if (!cgroup_mounted) {
      std::string source = sys::join_path(h.mount_point, o.cgroup_path);
      BERTH_TRY_VOID(sys::mount(source, sub, "", MS_BIND | MS_REC, ""));
      BERTH_TRY_VOID(bind_remount(sub, flags | MS_NOSUID | MS_NODEV | MS_NOEXEC));
    }
    if (h.controllers.size() > 1)
      for (const auto& c : h.controllers)
        if (c.rfind("name=", 0) != 0 && c != name) (void)::symlinkat(name.c_str(), mounted.get(), c.c_str());
  }
  if (flags & MS_RDONLY) return bind_remount(top, flags | MS_RDONLY);
  return {};
}

Result<void> mount_one(const RootfsOptions& o, const oci::Mount& m, size_t index) {
  BERTH_TRY(auto opts, parse_mount_options(m.options));
  BERTH_TRY(std::string dest, secure_join(o.rootfs, m.destination));
  if (m.type == "bind") opts.flags |= MS_BIND;
  // Every mount and remount below goes through a descriptor (open_mount_point): the name is
  // resolved once, inside the rootfs, and a swap of one of its components fails the mount.
  bool is_dir = true;
  if (opts.bind()) {
    std::string source = m.source;
    if (!source.empty() && source[0] != '/') source = sys::join_path(o.bundle, source);
    struct stat st;
    if (::stat(source.c_str(), &st) < 0) return Error::from_errno("bind mount source '{}'", source);
    is_dir = S_ISDIR(st.st_mode);
    BERTH_TRY(auto point, open_mount_point(o.rootfs, dest, is_dir));
    BERTH_TRY_VOID(sys::mount(source, mount_point_path(point), "", MS_BIND | (opts.flags & MS_REC), "")
                       .context(fmt::format("on '{}'", m.destination)));
    if (opts.flags & ~(MS_BIND | MS_REC)) {
      BERTH_TRY(auto mounted, open_mount_point(o.rootfs, dest, is_dir));
      BERTH_TRY_VOID(bind_remount(mount_point_path(mounted), opts.flags).context(fmt::format("on '{}'", m.destination)));
    }
  } else if (m.type == "cgroup" || m.type == "cgroup2") {
    BERTH_TRY_VOID(mount_cgroup(o, dest, opts));
  } else {
    BERTH_TRY(auto point, open_mount_point(o.rootfs, dest, true));
    std::string target = mount_point_path(point);
    if (::mount(m.source.c_str(), target.c_str(), m.type.c_str(), opts.flags,
                opts.data.empty() ? nullptr : opts.data.c_str()) < 0) {
      int saved = errno;
      bool done = false;
      if (saved == EPERM && m.type == "sysfs") {
        // A user namespace that does not own the network namespace may not mount sysfs.
        done = ::mount("/sys", target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0;
        if (done) {
          auto mounted = open_mount_point(o.rootfs, dest, true);
          done = mounted && bind_remount(mount_point_path(*mounted), opts.flags | MS_RDONLY).ok();
        }
      } else if (saved == EPERM && m.type == "mqueue") {
        done = ::mount("/dev/mqueue", target.c_str(), nullptr, MS_BIND, nullptr) == 0;
      } else if (saved == EINVAL && m.type == "devpts" && opts.data.find("gid=5") != std::string::npos) {
        // gid 5 (tty) may be unmapped in a user namespace: mount without it.
        std::string data = opts.data;
        data.erase(data.find("gid=5"), 5);
        done = ::mount(m.source.c_str(), target.c_str(), "devpts", opts.flags, data.c_str()) == 0;
      }
      if (!done)
        return Error::with_errno(saved, fmt::format("mount '{}' (type {}) on '{}'", m.source, m.type, m.destination));
    }
  }
  if (opts.propagation) {
    BERTH_TRY(auto mounted, open_mount_point(o.rootfs, dest, is_dir));
    if (::mount(nullptr, mount_point_path(mounted).c_str(), nullptr, opts.propagation, nullptr) < 0)
      return Error::from_errno("set propagation of '{}'", m.destination);
  }
  (void)index;
  return {};
}

struct DefaultDevice {
  const char* path;
  unsigned major, minor;
};
constexpr DefaultDevice kDefaultDevices[] = {{"/dev/null", 1, 3},    {"/dev/zero", 1, 5},
                                             {"/dev/full", 1, 7},    {"/dev/random", 1, 8},
                                             {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};

Result<void> create_device(const RootfsOptions& o, const oci::Device& d) {
  BERTH_TRY(std::string dest, secure_join(o.rootfs, d.path));
  if (!o.user_namespace) {
    DeviceNode node;
    node.mode = (d.type == "b" ? S_IFBLK : d.type == "p" ? S_IFIFO : S_IFCHR) | (d.file_mode ? (*d.file_mode & 07777) : 0666);
    node.dev = makedev(static_cast<unsigned>(d.major), static_cast<unsigned>(d.minor));
    node.chown = d.uid || d.gid;
    node.uid = d.uid.value_or(0);
    node.gid = d.gid.value_or(0);
    auto made = make_device_node(o.rootfs, dest, node);
    if (made || made.error().sys_errno() != EPERM) return std::move(made).context(fmt::format("device '{}'", d.path));
  }
  // In a user namespace mknod is refused: bind the host's device node instead.
  BERTH_TRY(auto point, open_mount_point(o.rootfs, dest, false));
  return sys::mount(d.path, mount_point_path(point), "", MS_BIND, "").context(fmt::format("bind device '{}'", d.path));
}

Result<void> setup_dev(const RootfsOptions& o) {
  bool fresh_dev = false, devpts = false;
  for (const auto& m : o.spec->mounts) {
    if (m.destination == "/dev" && m.type != "bind") fresh_dev = true;
    if (m.destination == "/dev/pts" && m.type == "devpts") devpts = true;
  }
  mode_t old_umask = ::umask(0);
  if (fresh_dev) {
    for (const auto& dd : kDefaultDevices) {
      oci::Device d{"c", dd.path, dd.major, dd.minor, 0666, 0, 0};
      if (auto r = create_device(o, d); !r) {
        ::umask(old_umask);
        return r;
      }
    }
    const std::pair<const char*, const char*> links[] = {
        {"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
        {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"}};
    for (auto [target, link] : links) (void)::symlink(target, sys::join_path(o.rootfs, link).c_str());
    if (sys::exists("/proc/kcore")) (void)::symlink("/proc/kcore", sys::join_path(o.rootfs, "/dev/core").c_str());
  }
  if (devpts) {
    std::string ptmx = sys::join_path(o.rootfs, "/dev/ptmx");
    ::unlink(ptmx.c_str());
    (void)::symlink("pts/ptmx", ptmx.c_str());
  }
  for (const auto& d : o.spec->linux.devices) {
    if (auto r = create_device(o, d); !r) {
      ::umask(old_umask);
      return std::move(r).context("linux.devices");
    }
  }
  ::umask(old_umask);
  return {};
}

}  // namespace

void warn_without_mount_namespace(const oci::Spec& spec) {
  std::string unapplied;
  auto note = [&](bool set, std::string_view name) {
    if (set) unapplied += fmt::format("{}{}", unapplied.empty() ? "" : ", ", name);
  };
  note(!spec.mounts.empty(), "mounts");
  note(!spec.linux.devices.empty(), "linux.devices");
  note(!spec.linux.masked_paths.empty(), "linux.maskedPaths");
  note(!spec.linux.readonly_paths.empty(), "linux.readonlyPaths");
  note(!spec.linux.rootfs_propagation.empty(), "linux.rootfsPropagation");
  note(spec.root.readonly, "root.readonly");
  if (unapplied.empty()) return;
  log::warn(
      fmt::format("the container has no mount namespace of its own: {} not applied (add "
                  "{{\"type\": \"mount\"}} to linux.namespaces to have them)",
                  unapplied));
}

Result<void> mount_rootfs(const RootfsOptions& o) {
  // Until pivot_root, no mount in the new namespace may propagate to the host's: the tree is
  // made a slave of the host's (the default, and for slave rootfsPropagation, so that the root
  // does receive the host's mounts) or private, recursively. Not unbindable: the rootfs and bind
  // sources could not be bound from it. rootfsPropagation itself is applied to the new root
  // after pivot_root (finish_rootfs), where crun applies it; a shared root is a new peer group.
  unsigned long root_propagation = MS_SLAVE | MS_REC;
  if (!o.spec->linux.rootfs_propagation.empty()) {
    BERTH_TRY(auto p, parse_mount_options({o.spec->linux.rootfs_propagation}));
    if (!(p.propagation & MS_SLAVE)) root_propagation = MS_PRIVATE | MS_REC;
  }
  if (::mount(nullptr, "/", nullptr, root_propagation, nullptr) < 0)
    return Error::from_errno("set propagation of '/'");
  BERTH_TRY_VOID(sys::mount(o.rootfs, o.rootfs, "", MS_BIND | MS_REC, "").context("bind the rootfs onto itself"));
  for (size_t i = 0; i < o.spec->mounts.size(); ++i)
    BERTH_TRY_VOID(mount_one(o, o.spec->mounts[i], i)
                       .context(fmt::format("mounts[{}] on '{}'", i, o.spec->mounts[i].destination)));
  return setup_dev(o).context("populate /dev");
}

Result<void> enter_rootfs(const std::string& rootfs, bool no_pivot, bool mount_namespace) {
  if (!mount_namespace || no_pivot) {
    if (::chdir(rootfs.c_str()) < 0) return Error::from_errno("chdir '{}'", rootfs);
    if (mount_namespace && ::mount(rootfs.c_str(), "/", nullptr, MS_MOVE, nullptr) < 0)
      return Error::from_errno("move '{}' to '/'", rootfs);
    if (::chroot(".") < 0) return Error::from_errno("chroot '{}'", rootfs);
    if (::chdir("/") < 0) return Error::from_errno("chdir '/'");
    return {};
  }
  BERTH_TRY(auto old_root, sys::open("/", O_DIRECTORY | O_RDONLY));
  BERTH_TRY(auto new_root, sys::open(rootfs, O_DIRECTORY | O_RDONLY));
  if (::fchdir(new_root.get()) < 0) return Error::from_errno("chdir '{}'", rootfs);
  // pivot_root(".", "."): the old root ends up stacked under the new one, then is detached.
  if (::syscall(SYS_pivot_root, ".", ".") < 0) return Error::from_errno("pivot_root into '{}'", rootfs);
  if (::fchdir(old_root.get()) < 0) return Error::from_errno("chdir to the old root");
  if (::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) < 0)
    return Error::from_errno("make the old root a slave");
  if (::umount2(".", MNT_DETACH) < 0) return Error::from_errno("detach the old root");
  if (::chdir("/") < 0) return Error::from_errno("chdir '/'");
  return {};
}

Result<void> finish_rootfs(const oci::Spec& spec, const std::string& console_path) {
  if (!console_path.empty()) {
    // Through a descriptor, as every mount point: the root is the container's now, and a
    // /dev shared with another container could still have the name swapped.
    BERTH_TRY(auto point, open_mount_point("/", "/dev/console", false));
    BERTH_TRY_VOID(sys::mount(console_path, mount_point_path(point), "", MS_BIND, "").context("bind /dev/console"));
  }
  for (const auto& path : spec.linux.masked_paths) {
    struct stat st;
    if (::stat(path.c_str(), &st) < 0) {
      if (errno == ENOENT) continue;
      return Error::from_errno("mask '{}'", path);
    }
    if (S_ISDIR(st.st_mode))
      BERTH_TRY_VOID(sys::mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0k").context("mask"));
    else
      BERTH_TRY_VOID(sys::mount("/dev/null", path, "", MS_BIND, "").context("mask"));
  }
  for (const auto& path : spec.linux.readonly_paths) {
    if (::mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0) {
      if (errno == ENOENT) continue;
      return Error::from_errno("make '{}' read-only: bind", path);
    }
    BERTH_TRY_VOID(bind_remount(path, MS_RDONLY | MS_REC).context("make read-only"));
  }
  if (spec.root.readonly) BERTH_TRY_VOID(bind_remount("/", MS_RDONLY).context("make the root read-only"));
  if (!spec.linux.rootfs_propagation.empty()) {
    BERTH_TRY(auto p, parse_mount_options({spec.linux.rootfs_propagation}));
    if (::mount(nullptr, "/", nullptr, p.propagation, nullptr) < 0)
      return Error::from_errno("set rootfsPropagation '{}'", spec.linux.rootfs_propagation);
  }
  return {};
}

}  // namespace berth::runtime
