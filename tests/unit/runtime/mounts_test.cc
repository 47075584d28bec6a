#include "runtime/mounts.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sys.h"

namespace berth::runtime {
namespace {

TEST(MountOptions, FlagsPropagationAndDataAreSeparated) {
  auto o = parse_mount_options({"nosuid", "noexec", "ro", "rslave", "mode=755", "size=64k"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->flags, static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC | MS_RDONLY));
  EXPECT_EQ(o->propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));
  EXPECT_EQ(o->data, "mode=755,size=64k");
}

TEST(MountOptions, LaterOptionsWin) {
  auto o = parse_mount_options({"ro", "rw", "nodev", "dev"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->flags, 0u);
}

TEST(MountOptions, RbindIsRecursiveBind) {
  auto o = parse_mount_options({"rbind", "ro"});
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->bind());
  EXPECT_TRUE(o->recursive_bind());
  auto b = parse_mount_options({"bind"});
  EXPECT_TRUE(b->bind());
  EXPECT_FALSE(b->recursive_bind());
}

TEST(MountOptions, IdmapIsRefusedClearly) {
  auto o = parse_mount_options({"idmap"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().kind(), ErrorKind::unsupported);
  EXPECT_NE(o.error().message().find("'idmap'"), std::string::npos);
}

class SecureJoin : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-securejoin-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    ASSERT_TRUE(sys::mkdir_all(root_ + "/usr/lib"));
    ASSERT_EQ(::symlink("/etc", (root_ + "/abs").c_str()), 0);
    ASSERT_EQ(::symlink("../../../../etc", (root_ + "/usr/rel").c_str()), 0);
    ASSERT_EQ(::symlink("usr/lib", (root_ + "/lib").c_str()), 0);
    ASSERT_EQ(::symlink("loop", (root_ + "/loop").c_str()), 0);
  }
  void TearDown() override { ASSERT_TRUE(sys::remove_all(root_)); }
  std::string root_;
};

TEST_F(SecureJoin, PlainPathsAreJoined) {
  EXPECT_EQ(*secure_join(root_, "/usr/lib/x"), root_ + "/usr/lib/x");
  EXPECT_EQ(*secure_join(root_, "/"), root_);
}

TEST_F(SecureJoin, DotDotCannotLeaveTheRoot) {
  EXPECT_EQ(*secure_join(root_, "/../../etc/passwd"), root_ + "/etc/passwd");
}

TEST_F(SecureJoin, AbsoluteSymlinksResolveInsideTheRoot) {
  EXPECT_EQ(*secure_join(root_, "/abs/passwd"), root_ + "/etc/passwd");
}

TEST_F(SecureJoin, RelativeSymlinksCannotClimbOut) {
  EXPECT_EQ(*secure_join(root_, "/usr/rel/shadow"), root_ + "/etc/shadow");
  EXPECT_EQ(*secure_join(root_, "/lib/x"), root_ + "/usr/lib/x");
}

TEST_F(SecureJoin, SymlinkLoopsAreAnError) {
  auto r = secure_join(root_, "/loop/x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("too many symbolic links"), std::string::npos);
}

}  // namespace
}  // namespace berth::runtime
