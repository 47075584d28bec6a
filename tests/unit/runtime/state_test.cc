#include "runtime/state.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/sys.h"

namespace berth::runtime {
namespace {

class StateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-state-test-XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { ASSERT_TRUE(sys::remove_all(root_)); }
  std::string root_;
};

TEST_F(StateDirTest, IdsAreValidated) {
  EXPECT_TRUE(StateDir::validate_id("web-1_a.b+c"));
  auto bad = StateDir::validate_id("../etc");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("invalid container id '../etc'"), std::string::npos);
  EXPECT_FALSE(StateDir::validate_id(""));
  EXPECT_FALSE(StateDir::validate_id("a/b"));
}

TEST_F(StateDirTest, DuplicateIdIsRefused) {
  auto first = StateDir::create(root_, "c1");
  ASSERT_TRUE(first) << first.error().message();
  auto second = StateDir::create(root_, "c1");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind(), ErrorKind::already_exists);
  EXPECT_EQ(second.error().message(), "container 'c1' already exists");
}

TEST_F(StateDirTest, SaveLoadRoundTripsAndListSeesIt) {
  {
    auto dir = StateDir::create(root_, "c2");
    ASSERT_TRUE(dir);
    ContainerRecord r;
    r.id = "c2";
    r.pid = 1234;
    r.bundle = "/b";
    r.cgroup_path = "/berth/c2";
    r.cgroup_mode = cgroup::Mode::v2;
    r.annotations["k"] = "v";
    ASSERT_TRUE(dir->save(r));
  }
  auto dir = StateDir::open(root_, "c2");
  ASSERT_TRUE(dir) << dir.error().message();
  auto loaded = dir->load();
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->pid, 1234);
  EXPECT_EQ(loaded->cgroup_mode, cgroup::Mode::v2);
  EXPECT_EQ(loaded->annotations.at("k"), "v");
  EXPECT_EQ(StateDir::list(root_), std::vector<std::string>{"c2"});
}

TEST_F(StateDirTest, OpenUnknownIdNamesIt) {
  auto dir = StateDir::open(root_, "nope");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().kind(), ErrorKind::not_found);
  EXPECT_EQ(dir.error().message(), "container 'nope' does not exist");
}

TEST_F(StateDirTest, DirectoryWithoutStateIsStaleOnlyWhenUnlocked) {
  auto dir = StateDir::create(root_, "half");
  ASSERT_TRUE(dir);
  EXPECT_FALSE(StateDir::is_stale(root_, "half"));  // its creator still holds the lock
  dir->unlock();
  EXPECT_TRUE(StateDir::is_stale(root_, "half"));
}

TEST(State, StoppedProcessAndStateJson) {
  ContainerRecord r;
  r.id = "x";
  r.pid = 999999;  // above pid_max defaults: never alive
  EXPECT_EQ(process_start_time(r.pid), 0u);
  EXPECT_NE(process_start_time(::getpid()), 0u);
  auto j = nlohmann::json::parse(state_json(r, Status::stopped));
  EXPECT_EQ(j["status"], "stopped");
  EXPECT_EQ(j["pid"], 0);
  EXPECT_EQ(j["id"], "x");
  EXPECT_TRUE(j.contains("ociVersion"));
  EXPECT_TRUE(j.contains("bundle"));
}

}  // namespace
}  // namespace berth::runtime
