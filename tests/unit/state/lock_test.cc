#include "state/lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "state_test_util.h"

namespace berth::state {
namespace {

using namespace std::chrono_literals;
using Mode = ObjectLock::Mode;
using Wait = ObjectLock::Wait;
using testing::fork_child;
using testing::Pipe;
using testing::wait_child;

class ObjectLockTest : public testing::TempDirTest {
 protected:
  std::string locks() const { return path("run/locks"); }
  Result<ObjectLock> try_lock(Mode mode, std::string_view id = "web-1") {
    return ObjectLock::acquire(locks(), "container", id, mode, Wait::no_wait);
  }
  // Forks a child that takes the lock, says so, and holds it until told to let go (or killed).
  pid_t hold_in_child(Mode mode, Pipe& held, Pipe& release) {
    return fork_child([&, mode] {
      auto lock = ObjectLock::acquire(locks(), "container", "web-1", mode, Wait::block);
      if (!lock) return 1;
      held.send();
      release.close_writer();
      release.receive();
      return 0;
    });
  }
};

TEST_F(ObjectLockTest, LockFileIsNamedAfterKindAndIdInAPrivateDirectory) {
  auto lock = try_lock(Mode::exclusive);
  ASSERT_TRUE(lock) << lock.error().message();
  EXPECT_EQ(lock->path(), locks() + "/container-web-1.lock");
  EXPECT_EQ(lock->mode(), Mode::exclusive);
  struct stat st {};
  ASSERT_EQ(::stat(locks().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(ObjectLockTest, ExclusiveInAnotherProcessTurnsEveryoneAwayWithAMessage) {
  Pipe held, release;
  pid_t child = hold_in_child(Mode::exclusive, held, release);
  held.close_writer();  // EOF instead of a hang if the child dies early
  ASSERT_EQ(held.receive(), 'x');

  auto exclusive = try_lock(Mode::exclusive);
  ASSERT_FALSE(exclusive);
  EXPECT_EQ(exclusive.error().kind(), ErrorKind::unavailable);
  EXPECT_EQ(exclusive.error().message(), "container web-1 is busy: another berth command holds it");
  auto shared = try_lock(Mode::shared);
  ASSERT_FALSE(shared);
  EXPECT_EQ(shared.error().kind(), ErrorKind::unavailable);
  EXPECT_TRUE(try_lock(Mode::exclusive, "web-2"));  // other objects are not affected

  release.send();
  EXPECT_EQ(wait_child(child), 0);
  EXPECT_TRUE(try_lock(Mode::exclusive));
}

TEST_F(ObjectLockTest, SharedHoldersCoexistButKeepExclusiveOut) {
  Pipe held, release;
  pid_t child = hold_in_child(Mode::shared, held, release);
  held.close_writer();  // EOF instead of a hang if the child dies early
  ASSERT_EQ(held.receive(), 'x');
  {
    auto shared = try_lock(Mode::shared);
    EXPECT_TRUE(shared) << shared.error().message();
    auto exclusive = try_lock(Mode::exclusive);
    ASSERT_FALSE(exclusive);
    EXPECT_EQ(exclusive.error().kind(), ErrorKind::unavailable);
  }
  release.send();
  EXPECT_EQ(wait_child(child), 0);
  EXPECT_TRUE(try_lock(Mode::exclusive));
}

TEST_F(ObjectLockTest, BlockingAcquireWaitsUntilTheHolderReleases) {
  Pipe held, release;
  pid_t child = fork_child([&] {
    auto lock = ObjectLock::acquire(locks(), "container", "web-1", Mode::exclusive, Wait::block);
    if (!lock) return 1;
    held.send();
    std::this_thread::sleep_for(200ms);
    return 0;
  });
  held.close_writer();  // EOF instead of a hang if the child dies early
  ASSERT_EQ(held.receive(), 'x');
  auto start = std::chrono::steady_clock::now();
  auto lock = ObjectLock::acquire(locks(), "container", "web-1", Mode::shared, Wait::block);
  ASSERT_TRUE(lock) << lock.error().message();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  EXPECT_EQ(wait_child(child), 0);
}

TEST_F(ObjectLockTest, AKilledHolderLeavesNoStaleLock) {
  Pipe held, release;
  pid_t child = hold_in_child(Mode::exclusive, held, release);
  held.close_writer();  // EOF instead of a hang if the child dies early
  ASSERT_EQ(held.receive(), 'x');
  ASSERT_FALSE(try_lock(Mode::exclusive));
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  EXPECT_EQ(wait_child(child), 128 + SIGKILL);
  EXPECT_TRUE(try_lock(Mode::exclusive));
}

TEST_F(ObjectLockTest, TwoLocksInOneProcessConflictAndTheDestructorReleases) {
  {
    auto first = try_lock(Mode::exclusive);
    ASSERT_TRUE(first);
    EXPECT_FALSE(try_lock(Mode::exclusive));
    ObjectLock moved = std::move(first).value();  // ownership moves, the lock stays held
    EXPECT_FALSE(try_lock(Mode::shared));
  }
  EXPECT_TRUE(try_lock(Mode::exclusive));
}

TEST_F(ObjectLockTest, RemoveFileDeletesTheFileOfAGoneObject) {
  auto lock = try_lock(Mode::exclusive);
  ASSERT_TRUE(lock);
  lock->remove_file();
  EXPECT_FALSE(std::filesystem::exists(lock->path()));
}

TEST_F(ObjectLockTest, AWaiterOnARemovedFileLocksTheFileThePathNamesNow) {
  Pipe go, held, release;
  // Forked before the parent locks: an inherited lock fd would hold the lock in the child too.
  pid_t child = fork_child([&] {
    go.close_writer();
    if (go.receive() != 'x') return 2;
    auto lock = ObjectLock::acquire(locks(), "container", "web-1", Mode::exclusive, Wait::block);
    if (!lock) return 1;
    held.send();
    release.close_writer();
    release.receive();
    return 0;
  });
  held.close_writer();
  auto first = try_lock(Mode::exclusive);
  ASSERT_TRUE(first);
  go.send();
  std::this_thread::sleep_for(100ms);  // the child opens the file and waits in flock
  first->remove_file();
  { ObjectLock gone = std::move(first).value(); }  // released: the child's flock returns
  ASSERT_EQ(held.receive(), 'x');
  // The child holds the file at the path, not the removed one: a newcomer is turned away.
  EXPECT_FALSE(try_lock(Mode::exclusive));
  release.send();
  EXPECT_EQ(wait_child(child), 0);
}

TEST_F(ObjectLockTest, IdsThatCouldEscapeTheLockDirectoryAreRefused) {
  using namespace std::string_view_literals;
  for (std::string_view id : {""sv, "a/b"sv, ".."sv, "../etc/passwd"sv, "x..y"sv, "a\0b"sv}) {
    auto lock = try_lock(Mode::exclusive, id);
    ASSERT_FALSE(lock) << id;
    EXPECT_EQ(lock.error().kind(), ErrorKind::invalid_argument) << id;
  }
  EXPECT_FALSE(try_lock(Mode::exclusive, std::string(201, 'a')));
  EXPECT_TRUE(try_lock(Mode::exclusive, std::string(200, 'a')));
  EXPECT_TRUE(try_lock(Mode::exclusive, "sha256:0123abcd"));
  auto bad_kind = ObjectLock::acquire(locks(), "Container/", "web-1", Mode::shared, Wait::no_wait);
  ASSERT_FALSE(bad_kind);
  EXPECT_EQ(bad_kind.error().message(), "lock: invalid object kind 'Container/'");
  auto slash = try_lock(Mode::exclusive, "a/b");
  EXPECT_EQ(slash.error().message(),
            "lock container: invalid id 'a/b': it must not contain '/', '..' or NUL");
}

}  // namespace
}  // namespace berth::state
