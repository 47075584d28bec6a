#include "state/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>

#include "base/sys.h"

namespace berth::state {

namespace {

Result<void> validate(std::string_view kind, std::string_view id) {
  if (kind.empty())
    return Error::make(ErrorKind::invalid_argument, "lock: object kind must not be empty");
  for (char c : kind)
    if (!(c >= 'a' && c <= 'z') && c != '_')
      return Error::make(ErrorKind::invalid_argument, "lock: invalid object kind '{}'", kind);
  if (id.empty()) return Error::make(ErrorKind::invalid_argument, "lock {}: empty id", kind);
  if (id.size() > 200)
    return Error::make(ErrorKind::invalid_argument, "lock {}: id is longer than 200 bytes", kind);
  if (id.find('/') != std::string_view::npos || id.find("..") != std::string_view::npos ||
      id.find('\0') != std::string_view::npos)
    return Error::make(ErrorKind::invalid_argument,
                       "lock {}: invalid id '{}': it must not contain '/', '..' or NUL", kind, id);
  return {};
}

}  // namespace

Result<ObjectLock> ObjectLock::acquire(const std::string& lock_dir, std::string_view kind,
                                       std::string_view id, Mode mode, Wait wait) {
  BERTH_TRY_VOID(validate(kind, id));
  BERTH_TRY_VOID(sys::mkdir_all(lock_dir, 0700).context("create lock directory"));
  std::string path = sys::join_path(lock_dir, fmt::format("{}-{}.lock", kind, id));
  int operation =
      (mode == Mode::exclusive ? LOCK_EX : LOCK_SH) | (wait == Wait::no_wait ? LOCK_NB : 0);
  for (;;) {
    BERTH_TRY(auto fd, sys::open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    while (::flock(fd.get(), operation) < 0) {
      if (errno == EINTR) continue;
      if (errno == EWOULDBLOCK)
        return Error(ErrorKind::unavailable,
                     fmt::format("{} {} is busy: another berth command holds it", kind, id), errno)
            .with_hint("wait for it to finish, or retry");
      return Error::from_errno("lock '{}'", path);
    }
    // The holder before us may have removed the file (remove_file): then ours is an orphan that
    // a newcomer would not see; lock the file the path names now instead.
    struct stat held, named;
    if (::fstat(fd.get(), &held) < 0) return Error::from_errno("stat lock '{}'", path);
    if (::stat(path.c_str(), &named) == 0 && named.st_dev == held.st_dev && named.st_ino == held.st_ino)
      return ObjectLock(std::move(fd), std::move(path), mode);
  }
}

void ObjectLock::remove_file() {
  if (mode_ == Mode::exclusive && fd_) ::unlink(path_.c_str());
}

}  // namespace berth::state
