#include "engine/container_watch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"

namespace berth::engine {
namespace {

// A berth root with one container directory, removed at the end. Events are queued when they
// happen, so wait(0) says at once whether something woke the watch: no timing in these tests.
class ContainerWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-watch-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    layout_.root = tmpl;
    layout_.run_root = layout_.root + "/run";
    record_.id = "c1";
    record_.dir = layout_.container("c1");
    std::filesystem::create_directories(record_.dir);
  }
  void TearDown() override { std::filesystem::remove_all(layout_.root); }

  // Opens (creating) a file in the container's directory, as the monitor or a reader does.
  UniqueFd open_in_dir(const std::string& name, int flags) {
    return UniqueFd(::open((record_.dir + "/" + name).c_str(), flags | O_CREAT | O_CLOEXEC, 0600));
  }

  Layout layout_;
  ContainerRecord record_;
};

TEST_F(ContainerWatchTest, WakesWhenTheMonitorClosesItsLockAsItEnds) {
  UniqueFd lock = open_in_dir("monitor.lock", O_RDWR);  // the monitor's, open while it runs
  ContainerWatch watch(layout_, record_, false);
  ASSERT_TRUE(watch.watching());
  EXPECT_EQ(watch.wait(0), ContainerWatch::Wake::timeout);
  std::thread monitor_ends([&] { lock.reset(); });
  EXPECT_EQ(watch.wait(60'000), ContainerWatch::Wake::changed);
  monitor_ends.join();
}

TEST_F(ContainerWatchTest, ReadersOfTheLockDoNotWakeIt) {
  UniqueFd lock = open_in_dir("monitor.lock", O_RDWR);
  ContainerWatch watch(layout_, record_, false);
  // monitor_alive() opens the lock read-only to try it: that must not wake every waiter.
  UniqueFd reader(::open((record_.dir + "/monitor.lock").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(reader);
  reader.reset();
  EXPECT_EQ(watch.wait(0), ContainerWatch::Wake::timeout);
}

TEST_F(ContainerWatchTest, WakesOnTheMonitorsAtomicWritesAndOnCommitsToTheDatabase) {
  ContainerWatch watch(layout_, record_, false);
  {
    UniqueFd tmp = open_in_dir("exit.json.tmp", O_WRONLY);
    ASSERT_TRUE(tmp);
  }
  (void)watch.wait(0);  // the temporary file's creation and close
  ASSERT_EQ(
      ::rename((record_.dir + "/exit.json.tmp").c_str(), (record_.dir + "/exit.json").c_str()), 0);
  EXPECT_EQ(watch.wait(0), ContainerWatch::Wake::changed);
  EXPECT_EQ(watch.wait(0), ContainerWatch::Wake::timeout);  // one wake covers what came before
  // Another process's `berth start` commits: an append to berth.db's write-ahead log.
  UniqueFd wal(
      ::open((layout_.root + "/berth.db-wal").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(wal);
  (void)watch.wait(0);
  ASSERT_EQ(::write(wal.get(), "frame", 5), 5);
  EXPECT_EQ(watch.wait(0), ContainerWatch::Wake::changed);
}

// An event follower (GET /events) watches commits only, not any container's files.
TEST_F(ContainerWatchTest, ARootWatchWakesOnCommitsOnly) {
  UniqueFd wal(::open((layout_.root + "/berth.db-wal").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(wal);
  ContainerWatch commits(layout_);
  ASSERT_TRUE(commits.watching());
  {
    UniqueFd tmp = open_in_dir("exit.json.tmp", O_WRONLY);
    ASSERT_TRUE(tmp);
  }
  ASSERT_EQ(::rename((record_.dir + "/exit.json.tmp").c_str(), (record_.dir + "/exit.json").c_str()), 0);
  EXPECT_EQ(commits.wait(0), ContainerWatch::Wake::timeout);
  ASSERT_EQ(::write(wal.get(), "frame", 5), 5);
  EXPECT_EQ(commits.wait(0), ContainerWatch::Wake::changed);
}

TEST_F(ContainerWatchTest, OnlyALogWatchWakesOnTheLogsAppends) {
  UniqueFd log = open_in_dir("log.jsonl", O_WRONLY | O_APPEND);
  ContainerWatch state(layout_, record_, false), follower(layout_, record_, true);
  ASSERT_EQ(::write(log.get(), "{}\n", 3), 3);
  EXPECT_EQ(follower.wait(0), ContainerWatch::Wake::changed);
  EXPECT_EQ(state.wait(0), ContainerWatch::Wake::timeout);
}

TEST_F(ContainerWatchTest, EndsWhenTheReaderHangsUpButNotWhenItOnlyStopsWriting) {
  ContainerWatch watch(layout_, record_, true);
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd ours(pair[0]), client(pair[1]);
  // docker attach without stdin shuts its writing side and still reads the output.
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
  EXPECT_EQ(watch.wait(0, ours.get()), ContainerWatch::Wake::timeout);
  client.reset();
  EXPECT_EQ(watch.wait(60'000, ours.get()), ContainerWatch::Wake::reader_gone);
}

TEST_F(ContainerWatchTest, AProcessHoldsAtMostKMaxWatchesInotifyInstances) {
  // The user's instances (fs.inotify.max_user_instances) are shared with its other programs.
  std::vector<std::unique_ptr<ContainerWatch>> watches;
  for (int i = 0; i <= ContainerWatch::kMaxWatches; ++i)
    watches.push_back(std::make_unique<ContainerWatch>(layout_, record_, false));
  int watching = 0;
  for (const auto& w : watches) watching += w->watching();
  EXPECT_LE(watching, ContainerWatch::kMaxWatches);
  EXPECT_FALSE(watches.back()->watching());
  // One ends: the next may watch again.
  bool first_watched = watches.front()->watching();
  watches.erase(watches.begin());
  ContainerWatch again(layout_, record_, false);
  EXPECT_EQ(again.watching(), first_watched);
}

TEST_F(ContainerWatchTest, WithoutItsDirectoryAWaitIsASleep) {
  ContainerRecord gone = record_;
  gone.dir = layout_.root + "/containers/missing";
  ContainerWatch watch(layout_, gone, false);
  EXPECT_FALSE(watch.watching());
  EXPECT_EQ(watch.wait(0), ContainerWatch::Wake::timeout);
}

}  // namespace
}  // namespace berth::engine
