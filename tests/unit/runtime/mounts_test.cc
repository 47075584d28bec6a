#include "runtime/mounts.h"

#include <gtest/gtest.h>
#include <limits.h>
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

// open_mount_point: the descriptor a mount goes through. Each test resolves a path with
// secure_join, then does what a container sharing a volume could do before the mount.
class MountPoint : public SecureJoin {
 protected:
  std::string at(const UniqueFd& fd) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(mount_point_path(fd).c_str(), buf, sizeof buf - 1);
    return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
  }
  std::string outside() { return root_ + "-outside"; }
  void TearDown() override {
    (void)sys::remove_all(outside());
    SecureJoin::TearDown();
  }
};

TEST_F(MountPoint, OpensTheResolvedPathAndCreatesWhatIsMissing) {
  auto dest = *secure_join(root_, "/lib/new/dir");  // through the symlink lib -> usr/lib
  auto fd = open_mount_point(root_, dest, true);
  ASSERT_TRUE(fd) << fd.error().message();
  EXPECT_EQ(at(*fd), root_ + "/usr/lib/new/dir");
  struct stat st;
  ASSERT_EQ(::stat((root_ + "/usr/lib/new/dir").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));

  auto file = open_mount_point(root_, *secure_join(root_, "/etc/resolv.conf"), false);
  ASSERT_TRUE(file) << file.error().message();
  ASSERT_EQ(::lstat((root_ + "/etc/resolv.conf").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  // Opened again, an existing point is the same file.
  auto again = open_mount_point(root_ + "/", root_ + "/etc/resolv.conf", false);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(at(*again), root_ + "/etc/resolv.conf");
}

TEST_F(MountPoint, AComponentSwappedForASymlinkFailsInsteadOfLeadingOut) {
  ASSERT_TRUE(sys::mkdir_all(root_ + "/vol/data"));
  ASSERT_TRUE(sys::mkdir_all(outside() + "/data"));
  auto dest = *secure_join(root_, "/vol/data");
  ASSERT_EQ(dest, root_ + "/vol/data");
  // The race: between secure_join and the mount, /vol becomes a link out of the rootfs.
  ASSERT_EQ(::rename((root_ + "/vol").c_str(), (root_ + "/vol.old").c_str()), 0);
  ASSERT_EQ(::symlink(outside().c_str(), (root_ + "/vol").c_str()), 0);
  auto fd = open_mount_point(root_, dest, true);
  ASSERT_FALSE(fd) << "opened " << at(*fd);
  EXPECT_EQ(fd.error().kind(), ErrorKind::failed_precondition);
  EXPECT_NE(fd.error().message().find("changed while it was being mounted"), std::string::npos)
      << fd.error().message();
  // Missing components are not created through the link either.
  auto deeper = open_mount_point(root_, root_ + "/vol/data/new", true);
  ASSERT_FALSE(deeper);
  EXPECT_FALSE(sys::exists(outside() + "/data/new"));
}

TEST_F(MountPoint, TheDescriptorFollowsARenameAndALinkInItsPlaceIsRefused) {
  // Without any symlink: /a/b is renamed away and another directory takes its name.
  ASSERT_TRUE(sys::mkdir_all(root_ + "/a/b"));
  ASSERT_TRUE(sys::mkdir_all(root_ + "/c"));
  auto dest = *secure_join(root_, "/a/b");
  auto fd = open_mount_point(root_, dest, true);
  ASSERT_TRUE(fd) << fd.error().message();
  ASSERT_EQ(::rename((root_ + "/a/b").c_str(), (root_ + "/c/b").c_str()), 0);
  // The descriptor still names the directory that was resolved, wherever it went...
  EXPECT_EQ(at(*fd), root_ + "/c/b");
  // ...and the same name resolved after the swap is refused rather than mounted on.
  ASSERT_EQ(::symlink("../c/b", (root_ + "/a/b").c_str()), 0);
  auto swapped = open_mount_point(root_, dest, true);
  ASSERT_FALSE(swapped);
  EXPECT_EQ(swapped.error().kind(), ErrorKind::failed_precondition);
}

TEST_F(MountPoint, APathOutsideTheRootIsRefused) {
  auto fd = open_mount_point(root_, "/etc", true);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().kind(), ErrorKind::invalid_argument);
  auto prefix = open_mount_point(root_, root_ + "x/y", true);
  ASSERT_FALSE(prefix);
  EXPECT_EQ(prefix.error().kind(), ErrorKind::invalid_argument);
}

TEST_F(MountPoint, TheFileSystemRootIsARootLikeAnyOther) {
  // After pivot_root, /dev/console is opened under "/".
  auto fd = open_mount_point("/", root_ + "/usr/lib", true);
  ASSERT_TRUE(fd) << fd.error().message();
  EXPECT_EQ(at(*fd), root_ + "/usr/lib");
}

// make_device_node, with FIFOs (mknod of a FIFO needs no privilege): the same descriptors.
using DeviceNodes = MountPoint;

DeviceNode fifo(mode_t perm) {
  DeviceNode node;
  node.mode = S_IFIFO | perm;
  return node;
}

TEST_F(DeviceNodes, TheNodeReplacesWhatWasThereWithExactlyItsModeAndOwner) {
  ASSERT_TRUE(sys::mkdir_all(root_ + "/dev"));
  ASSERT_TRUE(sys::atomic_write(root_ + "/dev/x", "stale"));
  DeviceNode node = fifo(0604);  // o+r despite any umask, and no group bits
  node.chown = true;
  node.uid = ::getuid();
  node.gid = ::getgid();
  auto made = make_device_node(root_, *secure_join(root_, "/dev/x"), node);
  ASSERT_TRUE(made) << made.error().message();
  struct stat st;
  ASSERT_EQ(::lstat((root_ + "/dev/x").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  // Missing parents are made inside the root, through the link lib -> usr/lib.
  ASSERT_TRUE(make_device_node(root_, *secure_join(root_, "/lib/new/fifo"), fifo(0600)));
  ASSERT_EQ(::lstat((root_ + "/usr/lib/new/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST_F(DeviceNodes, AComponentSwappedForASymlinkFailsAndNothingIsMadeOutside) {
  ASSERT_TRUE(sys::mkdir_all(root_ + "/vol/dev"));
  ASSERT_TRUE(sys::mkdir_all(outside() + "/dev"));
  auto dest = *secure_join(root_, "/vol/dev/x");
  // The race: between secure_join and the mknod, /vol becomes a link out of the rootfs.
  ASSERT_EQ(::rename((root_ + "/vol").c_str(), (root_ + "/vol.old").c_str()), 0);
  ASSERT_EQ(::symlink(outside().c_str(), (root_ + "/vol").c_str()), 0);
  auto made = make_device_node(root_, dest, fifo(0666));
  ASSERT_FALSE(made);
  EXPECT_EQ(made.error().kind(), ErrorKind::failed_precondition) << made.error().message();
  EXPECT_FALSE(sys::exists(outside() + "/dev/x"));
}

TEST_F(DeviceNodes, APathThatNamesNoFileIsRefused) {
  auto made = make_device_node(root_, root_ + "/dev/", fifo(0666));
  ASSERT_FALSE(made);
  EXPECT_EQ(made.error().kind(), ErrorKind::invalid_argument);
}

}  // namespace
}  // namespace berth::runtime
