// state/lock.h — per-object advisory file locks between berth processes.
//
// The database serialises single transactions; an ObjectLock serialises whole operations on one
// object that span many transactions and file changes (`berth rm web-1` while `berth start web-1`
// runs). Locks are flock(2) on `<lock_dir>/<kind>-<id>.lock`, normally under /run/berth/locks.
//
// Semantics worth knowing:
// - Owned by the open file description: a second ObjectLock on the same object in the same
//   process conflicts like one from another process. The fd is O_CLOEXEC, so exec'd children do
//   not hold the lock; a fork()ed child shares it until the child closes the fd or exits.
// - The kernel drops the lock when the holder dies (even by SIGKILL): no stale locks.
// - Lock files are never deleted (unlinking one while another process waits on it would let two
//   holders exist). They are empty and live on tmpfs, so a reboot clears them.
// - No upgrade from shared to exclusive: flock would drop the lock in between. Take exclusive.
//
// Thread-safety: an ObjectLock is a value owned by one thread; acquire() is safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "base/error.h"
#include "base/unique_fd.h"

namespace berth::state {

class ObjectLock {
 public:
  enum class Mode { exclusive, shared };
  enum class Wait { block, no_wait };

  // Creates lock_dir (0700) if needed and locks `<kind>-<id>`. kind is lower-case letters and '_'
  // ("container", "volume", "image"); id must be non-empty, at most 200 bytes, with no '/', no
  // "..", no NUL (invalid_argument otherwise). With Wait::no_wait a held lock gives unavailable:
  // "container web-1 is busy: another berth command holds it". With Wait::block it waits as long
  // as it takes (EINTR is retried).
  static Result<ObjectLock> acquire(const std::string& lock_dir, std::string_view kind,
                                    std::string_view id, Mode mode, Wait wait = Wait::block);

  ObjectLock(ObjectLock&&) noexcept = default;
  ObjectLock& operator=(ObjectLock&&) noexcept = default;
  // Releases the lock (by closing the fd).
  ~ObjectLock() = default;

  // Deletes the lock file, for an object that is gone, so that lock files do not pile up (one
  // per container ever run). Only under an exclusive lock. Whoever opened the file before waits
  // for this lock, then sees that the path no longer names its file and starts again (acquire).
  void remove_file();

  Mode mode() const { return mode_; }
  const std::string& path() const { return path_; }

 private:
  ObjectLock(UniqueFd fd, std::string path, Mode mode)
      : fd_(std::move(fd)), path_(std::move(path)), mode_(mode) {}

  UniqueFd fd_;
  std::string path_;
  Mode mode_;
};

}  // namespace berth::state
