// `berth cp` never leaves the container's root, whatever symlinks the container planted
// (engine/detail/copy_in_root.h). No root needed: the "container" is a directory.
#include "engine/detail/copy_in_root.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sys.h"

namespace berth::engine::detail {
namespace {

class CopyInRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-copy-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    root_ = base_ + "/rootfs";
    host_ = base_ + "/host";
    ASSERT_TRUE(sys::mkdir_all(root_ + "/victim"));
    ASSERT_TRUE(sys::mkdir_all(host_));
    ASSERT_TRUE(sys::atomic_write(host_ + "/secret", "host secret"));
    ASSERT_TRUE(sys::atomic_write(base_ + "/payload", "payload"));
  }
  void TearDown() override { (void)sys::remove_all(base_); }
  void link(const std::string& target, const std::string& in_root) {
    ASSERT_EQ(::symlink(target.c_str(), (root_ + in_root).c_str()), 0);
  }
  std::string base_, root_, host_;
};

TEST_F(CopyInRoot, ReplacesASymlinkAtTheDestinationInsteadOfWritingThroughIt) {
  link(host_ + "/planted", "/victim/payload");
  ASSERT_TRUE(copy_into_root(root_, base_ + "/payload", "/victim/"));
  EXPECT_FALSE(sys::exists(host_ + "/planted"));
  struct stat st;
  ASSERT_EQ(::lstat((root_ + "/victim/payload").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(*sys::read_file(root_ + "/victim/payload"), "payload");
}

TEST_F(CopyInRoot, ResolvesAbsoluteAndDotDotSymlinksInsideTheRoot) {
  link("/", "/victim/root");
  link(host_, "/victim/host");
  link("../../../../../..", "/victim/up");
  ASSERT_TRUE(sys::mkdir_all(root_ + "/tmp"));
  ASSERT_TRUE(copy_into_root(root_, base_ + "/payload", "/victim/root/tmp/"));
  EXPECT_EQ(*sys::read_file(root_ + "/tmp/payload"), "payload");
  ASSERT_TRUE(copy_into_root(root_, base_ + "/payload", "/victim/up/landed"));
  EXPECT_EQ(*sys::read_file(root_ + "/landed"), "payload");
  EXPECT_FALSE(sys::exists(base_ + "/landed"));
  // The host directory the link names does not exist inside the root: nothing is written.
  EXPECT_FALSE(copy_into_root(root_, base_ + "/payload", "/victim/host/"));
  EXPECT_FALSE(sys::exists(host_ + "/payload"));
  auto stolen = copy_out_of_root(root_, "/victim/host/secret", base_ + "/stolen");
  ASSERT_FALSE(stolen);
  EXPECT_NE(stolen.error().message().find("/victim/host/secret"), std::string::npos) << stolen.error().message();
  EXPECT_FALSE(sys::exists(base_ + "/stolen"));
}

TEST_F(CopyInRoot, CopiesTreesBothWaysKeepingSymlinksAsLinks) {
  ASSERT_TRUE(sys::mkdir_all(root_ + "/data/sub"));
  ASSERT_TRUE(sys::atomic_write(root_ + "/data/sub/f", "inside"));
  link(host_ + "/secret", "/data/escape");
  ASSERT_TRUE(copy_out_of_root(root_, "/data", base_ + "/out"));
  EXPECT_EQ(*sys::read_file(base_ + "/out/sub/f"), "inside");
  // The link is copied as a link: its target was not read.
  struct stat st;
  ASSERT_EQ(::lstat((base_ + "/out/escape").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_TRUE(copy_into_root(root_, base_ + "/out", "/victim"));
  EXPECT_EQ(*sys::read_file(root_ + "/victim/out/sub/f"), "inside");
}

TEST_F(CopyInRoot, NamesTheMissingPath) {
  auto missing = copy_out_of_root(root_, "/no/such", base_ + "/x");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("/no/such"), std::string::npos) << missing.error().message();
}

}  // namespace
}  // namespace berth::engine::detail
