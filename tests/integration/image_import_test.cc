// Imports the busybox fixture rootfs as an image, unpacks its layer as root, and stacks layers
// with overlayfs to check that berth's whiteouts and opaque directories mean what they should.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "base/sys.h"
#include "image/content_store.h"
#include "image/import.h"
#include "image/layers.h"

namespace berth::image {
namespace {

namespace fs = std::filesystem;

std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  return out;
}

class ImageImportIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests run as root";
    const char* source = std::getenv("BERTH_SOURCE");
    if (!source) source = BERTH_SOURCE_DIR;
    char tmpl[] = "/tmp/berth-test-image-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string script = std::string(source) + "/tests/fixtures/make-busybox-bundle.sh";
    ASSERT_EQ(std::system((script + " " + dir_ + "/fixture >/dev/null").c_str()), 0);
    tar_ = dir_ + "/fixture/busybox-rootfs.tar";
  }
  void TearDown() override {
    if (!merged_.empty()) ::umount2(merged_.c_str(), MNT_DETACH);
    (void)sys::remove_all(dir_);
  }

  std::string dir_, tar_, merged_;
};

TEST_F(ImageImportIntegration, ImportsAndUnpacksBusybox) {
  auto store = ContentStore::open(dir_ + "/store");
  ASSERT_TRUE(store) << store.error().message();
  auto fd = sys::open(tar_, O_RDONLY);
  ASSERT_TRUE(fd);
  ImportOptions opts;
  opts.changes.cmd = std::vector<std::string>{"/bin/sh"};
  auto imported = import_tar(*store, fd->get(), opts);
  ASSERT_TRUE(imported) << imported.error().message();

  std::string sha = run("sha256sum " + tar_);
  ASSERT_GE(sha.size(), 64u);
  EXPECT_EQ(imported->diff_id.str(), "sha256:" + sha.substr(0, 64));

  auto layer = store->open_blob(*Digest::parse(imported->layer.digest));
  ASSERT_TRUE(layer) << layer.error().message();
  std::string layer_dir = dir_ + "/layers/" + std::string(imported->diff_id.encoded());
  ASSERT_TRUE(sys::mkdir_all(dir_ + "/layers"));
  auto unpacked = unpack_layer(layer->get(), layer_dir);
  ASSERT_TRUE(unpacked) << unpacked.error().message();
  EXPECT_EQ(unpacked->diff_id, imported->diff_id);
  EXPECT_TRUE(unpacked->warnings.empty()) << unpacked->warnings.front();

  struct stat st;
  ASSERT_EQ(::stat((layer_dir + "/bin/busybox").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0111, 0111u);
  EXPECT_EQ(fs::read_symlink(layer_dir + "/bin/sh"), "busybox");
  EXPECT_EQ(run(layer_dir + "/bin/busybox echo ok"), "ok\n");
  ASSERT_EQ(::stat((layer_dir + "/home/berth").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);  // ownership applied as root
  ASSERT_EQ(::stat((layer_dir + "/tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  // The one-layer image's chain id is its diff id.
  EXPECT_EQ(chain_ids({imported->diff_id}).front(), imported->diff_id);
}

TEST_F(ImageImportIntegration, OverlayHonoursUnpackedWhiteoutsAndOpaqueDirectories) {
  auto fd = sys::open(tar_, O_RDONLY);
  ASSERT_TRUE(fd);
  auto lower = unpack_layer(fd->get(), dir_ + "/l1");
  ASSERT_TRUE(lower) << lower.error().message();
  // An upper layer that deletes etc/hosts and makes home/ opaque, as a tar.
  std::string tar2 = dir_ + "/l2.tar";
  ASSERT_TRUE(sys::mkdir_all(dir_ + "/l2src/etc"));
  ASSERT_TRUE(sys::mkdir_all(dir_ + "/l2src/home"));
  ASSERT_TRUE(sys::atomic_write(dir_ + "/l2src/etc/.wh.hosts", ""));
  ASSERT_TRUE(sys::atomic_write(dir_ + "/l2src/home/.wh..wh..opq", ""));
  ASSERT_TRUE(sys::atomic_write(dir_ + "/l2src/home/new", "n"));
  ASSERT_EQ(std::system(("tar -C " + dir_ + "/l2src -cf " + tar2 + " .").c_str()), 0);
  auto fd2 = sys::open(tar2, O_RDONLY);
  auto upper = unpack_layer(fd2->get(), dir_ + "/l2");
  ASSERT_TRUE(upper) << upper.error().message();
  EXPECT_TRUE(upper->warnings.empty()) << upper->warnings.front();

  merged_ = dir_ + "/merged";
  ASSERT_TRUE(sys::mkdir_all(merged_));
  auto mounted = sys::mount("overlay", merged_, "overlay", 0,
                            "lowerdir=" + dir_ + "/l2:" + dir_ + "/l1");
  if (!mounted) {
    merged_.clear();
    FAIL() << mounted.error().message();
  }
  EXPECT_TRUE(fs::exists(merged_ + "/bin/busybox"));
  EXPECT_TRUE(fs::exists(merged_ + "/etc/passwd"));
  EXPECT_FALSE(fs::exists(merged_ + "/etc/hosts"));
  EXPECT_TRUE(fs::exists(merged_ + "/home/new"));
  EXPECT_FALSE(fs::exists(merged_ + "/home/berth"));
  ASSERT_EQ(::umount2(merged_.c_str(), 0), 0);
  merged_.clear();
}

}  // namespace
}  // namespace berth::image
