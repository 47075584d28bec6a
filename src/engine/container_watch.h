// engine/container_watch.h — sleeps until a container's state may have changed, instead of
// polling it: an inotify watch on its directory (its monitor writes monitor.json when it
// started the container, exit.json at the exit, appends to log.jsonl, and closes monitor.lock
// as it ends) and on berth's root (a commit appends to berth.db's write-ahead log: a start or a
// removal recorded by any process). A waiter re-reads the state after each wake; the timeout
// covers what inotify cannot see.
//
// Without inotify a wait is a plain sleep of the timeout, so callers pass the timeout they would
// poll with. That is the case when no instance is left (fs.inotify.max_user_instances, 128 by
// default, counts a user's instances across all its processes), and beyond kMaxWatches watches
// alive in this process: a server with many waiters does not take every instance from the
// user's other programs.
//
// Thread-safe: one watch per waiting thread.
#pragma once

#include "base/unique_fd.h"
#include "engine/containers.h"
#include "engine/layout.h"

namespace berth::engine {

class ContainerWatch {
 public:
  enum class Wake { changed, timeout, reader_gone };
  static constexpr int kMaxWatches = 32;

  // `with_log`: appends to the container's log wake it too (log followers).
  ContainerWatch(const Layout& layout, const ContainerRecord& c, bool with_log);
  // Commits to berth.db by any process only (an event follower).
  explicit ContainerWatch(const Layout& layout);
  ~ContainerWatch();
  ContainerWatch(const ContainerWatch&) = delete;
  ContainerWatch& operator=(const ContainerWatch&) = delete;

  // Until something changed, `timeout_ms` passed, or `reader_fd` (a client's socket, -1: none)
  // hung up. Not a half close: a client that shut its writing side still reads.
  Wake wait(int timeout_ms, int reader_fd = -1);

  // Whether inotify watches (else every wait lasts its timeout).
  bool watching() const { return static_cast<bool>(inotify_); }

 private:
  void watch(const Layout& layout, const ContainerRecord* c, bool with_log);
  UniqueFd inotify_;
};

// Tells the container's monitor that this process waits for its end and records it (a shared
// flock on monitor::kWaiterLockFile, for as long as this lives): the monitor then runs no
// `berth container cleanup` of its own. Best effort: without the file nothing changes.
class ExitWaiter {
 public:
  explicit ExitWaiter(const ContainerRecord& c);

 private:
  UniqueFd lock_;
};

}  // namespace berth::engine
