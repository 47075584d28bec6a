// engine/container_watch.cc — ContainerWatch: inotify on a container's directory and berth's root.
#include "engine/container_watch.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>

#include <atomic>
#include <cerrno>

#include "monitor/protocol.h"

namespace berth::engine {

namespace {
std::atomic<int> g_watches{0};  // inotify instances ContainerWatch holds in this process
}  // namespace

ContainerWatch::ContainerWatch(const Layout& layout, const ContainerRecord& c, bool with_log) {
  watch(layout, &c, with_log);
}

ContainerWatch::ContainerWatch(const Layout& layout) { watch(layout, nullptr, false); }

void ContainerWatch::watch(const Layout& layout, const ContainerRecord* c, bool with_log) {
  if (g_watches.fetch_add(1) >= kMaxWatches) {
    g_watches.fetch_sub(1);
    return;
  }
  struct Release {
    ContainerWatch& w;
    ~Release() {
      if (!w.inotify_) g_watches.fetch_sub(1);
    }
  } release{*this};
  UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd) return;
  // IN_CLOSE_WRITE: monitor.lock (the monitor opened it to write) closing is the monitor's end;
  // readers open it read-only and do not wake anyone. IN_MOVED_TO: atomic writes (monitor.json,
  // exit.json). IN_DELETE_SELF: the container was removed.
  uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF;
  if (with_log) mask |= IN_MODIFY;
  if (c && ::inotify_add_watch(fd.get(), c->dir.c_str(), mask) < 0) return;
  // Commits append to berth.db-wal (IN_MODIFY); a fresh WAL file is IN_CREATE.
  if (::inotify_add_watch(fd.get(), layout.root.c_str(), IN_MODIFY | IN_CREATE) < 0) return;
  inotify_ = std::move(fd);
}

ExitWaiter::ExitWaiter(const ContainerRecord& c) {
  lock_ = UniqueFd(::open((c.dir + "/" + monitor::kWaiterLockFile).c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600));
  if (lock_) ::flock(lock_.get(), LOCK_SH);
}

ContainerWatch::~ContainerWatch() {
  if (inotify_) g_watches.fetch_sub(1);
}

ContainerWatch::Wake ContainerWatch::wait(int timeout_ms, int reader_fd) {
  pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {reader_fd, 0, 0}};
  int n = ::poll(fds, 2, timeout_ms);
  if (n <= 0) return Wake::timeout;  // EINTR too: the caller looks again
  if (fds[1].revents & (POLLHUP | POLLERR)) return Wake::reader_gone;
  if (!(fds[0].revents & POLLIN)) return Wake::timeout;
  // Drain: one look at the state covers every event so far.
  alignas(inotify_event) char buf[4096];
  while (::read(inotify_.get(), buf, sizeof buf) > 0) {
  }
  return Wake::changed;
}

}  // namespace berth::engine
