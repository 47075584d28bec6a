#include "fuzz_util.h"

#include <unistd.h>

#include "base/sys.h"

namespace berth::fuzz {

std::string scratch_dir(std::string_view name) {
  const char* base = std::getenv("BERTH_FUZZ_TMP");
  if (base == nullptr || *base == '\0') base = std::getenv("TMPDIR");
  if (base == nullptr || *base == '\0') base = "/tmp";
  std::string dir = std::string(base) + "/berth-fuzz-" + std::string(name) + "-" +
                    std::to_string(::getpid());
  (void)sys::remove_all(dir);
  if (!sys::mkdir_all(dir, 0700)) violated("cannot create the scratch directory", dir);
  return dir;
}

}  // namespace berth::fuzz

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <climits>
#include <cstring>

namespace berth::fuzz {

namespace {

void check(bool ok, const char* what, const std::string& path) {
  if (!ok) {
    std::string detail = path + ": " + std::strerror(errno);
    violated(what, detail);
  }
}

void bind_read_only(const std::string& source, const std::string& target) {
  check(::mkdir(target.c_str(), 0755) == 0, "mkdir", target);
  check(::mount(source.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0,
        "bind mount", target);
  check(::mount(nullptr, target.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) == 0,
        "remount read-only", target);
}

}  // namespace

Jail::Jail(std::string_view name) {
  outer_ = scratch_dir(name);
  if (::geteuid() != 0) {
    inner_ = outer_ + "/scratch";
    check(::mkdir(inner_.c_str(), 0700) == 0, "mkdir", inner_);
    return;
  }
  check(::unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS)", "/");
  check(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0, "make / private", "/");
  check(::mount("tmpfs", outer_.c_str(), "tmpfs", MS_NOSUID, "size=1g,mode=0755") == 0,
        "mount tmpfs", outer_);
  bind_read_only("/usr", outer_ + "/usr");
  bind_read_only("/proc", outer_ + "/proc");
  for (const char* link : {"bin", "lib", "lib64", "sbin"})
    check(::symlink((std::string("usr/") + link).c_str(), (outer_ + "/" + link).c_str()) == 0,
          "symlink", link);
  check(::mkdir((outer_ + "/dev").c_str(), 0755) == 0, "mkdir", "/dev");
  check(::mknod((outer_ + "/dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0, "mknod",
        "/dev/null");
  check(::mknod((outer_ + "/dev/urandom").c_str(), S_IFCHR | 0666, makedev(1, 9)) == 0, "mknod",
        "/dev/urandom");
  check(::mkdir((outer_ + "/tmp").c_str(), 01777) == 0, "mkdir", "/tmp");
  // The scratch directory has the same absolute path inside the jail and out, so that work a
  // server thread finishes after leave() still lands in it.
  inner_ = outer_ + "/scratch";
  check(::mkdir(inner_.c_str(), 0700) == 0, "mkdir", inner_);
  std::string mirror = outer_ + inner_;
  check(static_cast<bool>(sys::mkdir_all(mirror, 0700)), "mkdir", mirror);
  check(::mount(inner_.c_str(), mirror.c_str(), nullptr, MS_BIND, nullptr) == 0, "bind mount",
        mirror);
  // The symbolizer reads the fuzzer's own binary when it reports a crash inside the jail.
  char exe[PATH_MAX] = {};
  if (::readlink("/proc/self/exe", exe, sizeof exe - 1) > 0) {
    std::string exe_dir(exe);
    exe_dir.resize(exe_dir.rfind('/'));
    std::string inside = outer_ + exe_dir;
    check(static_cast<bool>(sys::mkdir_all(inside, 0755)), "mkdir", inside);
    check(::mount(exe_dir.c_str(), inside.c_str(), nullptr, MS_BIND, nullptr) == 0, "bind mount",
          inside);
    check(::mount(nullptr, inside.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) == 0,
          "remount read-only", inside);
  }
  real_root_ = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  check(real_root_ >= 0, "open", "/");
  chrooted_ = true;
  ::setenv("TMPDIR", "/tmp", 1);
}

void Jail::enter() {
  if (!chrooted_) return;
  cwd_ = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  check(cwd_ >= 0, "open", ".");
  check(::chroot(outer_.c_str()) == 0, "chroot", outer_);
}

void Jail::leave() {
  if (!chrooted_) return;
  check(::fchdir(real_root_) == 0, "fchdir", "/");
  check(::chroot(".") == 0, "chroot", "/");
  check(::fchdir(cwd_) == 0, "fchdir", ".");
  ::close(cwd_);
  cwd_ = -1;
}

}  // namespace berth::fuzz

namespace berth::fuzz {

void put_file(const std::string& path, std::string_view data) {
  auto fd = sys::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (!fd) violated("create a scratch file", fd.error().message());
  if (auto w = sys::write_all(fd->get(), data); !w) violated("write a scratch file", w.error().message());
}

}  // namespace berth::fuzz
