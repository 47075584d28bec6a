#include "base/sys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "base/process.h"

namespace berth {
namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/berth-sys-test-XXXXXX";
  return ::mkdtemp(tmpl);
}

TEST(Sys, SplitDropsEmptyParts) {
  EXPECT_EQ(sys::split("/a//b/c/", '/'), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(sys::split("", ',').empty());
}

TEST(Sys, JoinPathNeverDoublesSlashes) {
  EXPECT_EQ(sys::join_path("/root/", "/etc/hosts"), "/root/etc/hosts");
  EXPECT_EQ(sys::join_path("/root", ""), "/root");
  EXPECT_EQ(sys::join_path("", "/"), "/");
}

TEST(Sys, AtomicWriteThenReadRoundTrips) {
  std::string dir = temp_dir();
  ASSERT_TRUE(sys::atomic_write(dir + "/f", "hello"));
  auto text = sys::read_file(dir + "/f");
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "hello");
  EXPECT_FALSE(sys::exists(dir + "/f.tmp"));
  ASSERT_TRUE(sys::remove_all(dir));
  EXPECT_FALSE(sys::exists(dir));
}

TEST(Sys, MkdirAllAndRemoveAllHandleTrees) {
  std::string dir = temp_dir();
  ASSERT_TRUE(sys::mkdir_all(dir + "/a/b/c"));
  ASSERT_TRUE(sys::mkdir_all(dir + "/a/b/c"));  // idempotent
  ASSERT_TRUE(sys::atomic_write(dir + "/a/b/file", "x"));
  ASSERT_EQ(::symlink("/etc", (dir + "/a/link").c_str()), 0);
  ASSERT_TRUE(sys::remove_all(dir));
  EXPECT_FALSE(sys::exists(dir));
  EXPECT_TRUE(sys::exists("/etc/passwd"));  // the symlink was not followed
}

TEST(Sys, ReadFileNamesTheMissingPath) {
  auto r = sys::read_file("/nonexistent/berth");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "open '/nonexistent/berth': no such file or directory");
}

TEST(Process, RunPassesInputAndReportsExitCode) {
  proc::RunOptions o;
  o.path = "/bin/sh";
  o.args = {"sh", "-c", "read line; test \"$line\" = ping && exit 3"};
  o.input = "ping\n";
  auto r = proc::run(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*r, 3);
}

TEST(Process, RunKillsAtTimeout) {
  proc::RunOptions o;
  o.path = "/bin/sleep";
  o.args = {"sleep", "10"};
  o.timeout_seconds = 1;
  auto r = proc::run(o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("timeout of 1s"), std::string::npos);
}

}  // namespace
}  // namespace berth

#include "base/clock.h"

TEST(Clock, Rfc3339RoundTripsAndAcceptsOffsets) {
  using namespace berth;
  EXPECT_EQ(clock::rfc3339(1'700'000'000'123'456'789), "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(clock::parse_rfc3339("2023-11-14T22:13:20.123456789Z"), 1'700'000'000'123'456'789);
  EXPECT_EQ(clock::parse_rfc3339("2023-11-14T23:13:20+01:00"), 1'700'000'000'000'000'000);
  EXPECT_EQ(clock::parse_rfc3339("2023-11-14T22:13:20.5Z"), 1'700'000'000'500'000'000);
  EXPECT_FALSE(clock::parse_rfc3339("yesterday"));
  EXPECT_FALSE(clock::parse_rfc3339("2023-11-14T22:13:20"));
}
