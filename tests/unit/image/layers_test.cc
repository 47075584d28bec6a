#include "image/layers.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>

#include "base/sys.h"
#include "tar_builder.h"

namespace berth::image {
namespace {

namespace fs = std::filesystem;
using namespace testing;

bool has_warning(const UnpackResult& r, std::string_view text) {
  for (const auto& w : r.warnings)
    if (w.find(text) != std::string::npos) return true;
  return false;
}

class LayersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-layers-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)sys::remove_all(dir_); }

  Result<UnpackResult> unpack(const std::vector<TarEntry>& entries, const std::string& compression = "") {
    std::string tar = dir_ + "/layer.tar";
    write_tar(tar, entries, compression);
    auto fd = sys::open(tar, O_RDONLY);
    if (!fd) return std::move(fd).error();
    return unpack_layer(fd->get(), out());
  }
  std::string out() const { return dir_ + "/out"; }
  std::string at(std::string_view rel) const { return out() + "/" + std::string(rel); }
  // Nothing but the input tar is left in the test directory.
  void expect_nothing_left() {
    for (auto& e : fs::directory_iterator(dir_))
      EXPECT_EQ(e.path().filename(), "layer.tar") << "left behind: " << e.path();
  }

  std::string dir_;
};

TEST_F(LayersTest, UnpacksFilesDirsSymlinksAndHardLinks) {
  auto r = unpack({dir("./"), dir("etc"), file("etc/hosts", "127.0.0.1 localhost\n", 0640),
                   file("bin/tool", "#!/bin/sh\n", 0755), symlink("bin/sh", "tool"),
                   symlink("etc/abs", "/etc/passwd"), hardlink("bin/tool2", "bin/tool")});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->entries, 7);
  EXPECT_EQ(*sys::read_file(at("etc/hosts")), "127.0.0.1 localhost\n");
  EXPECT_EQ(fs::status(at("etc/hosts")).permissions(), fs::perms(0640));
  EXPECT_EQ(fs::status(at("bin/tool")).permissions(), fs::perms(0755));
  EXPECT_EQ(fs::read_symlink(at("bin/sh")), "tool");
  EXPECT_EQ(fs::read_symlink(at("etc/abs")), "/etc/passwd");
  struct stat a, b;
  ASSERT_EQ(::stat(at("bin/tool").c_str(), &a), 0);
  ASSERT_EQ(::stat(at("bin/tool2").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  EXPECT_EQ(a.st_mtime, 1700000000);
  EXPECT_FALSE(fs::exists(out() + ".tmp-" + std::to_string(::getpid())));
}

TEST_F(LayersTest, DiffIdIsTheSha256OfTheUncompressedTarWhateverTheCompression) {
  std::vector<TarEntry> entries = {dir("a"), file("a/b", std::string(100000, 'q'))};
  write_tar(dir_ + "/plain.tar", entries);
  Digest want = sha256_of(*sys::read_file(dir_ + "/plain.tar"));
  for (std::string compression : {"", "gzip", "zstd"}) {
    SCOPED_TRACE(compression);
    (void)sys::remove_all(out());
    auto r = unpack(entries, compression);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->diff_id, want);
    EXPECT_EQ(r->tar_size, static_cast<int64_t>(fs::file_size(dir_ + "/plain.tar")));
    EXPECT_EQ(fs::file_size(at("a/b")), 100000u);
    auto fd = sys::open(dir_ + "/layer.tar", O_RDONLY);
    auto d = diff_id_of(fd->get());
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(d->diff_id, want);
    EXPECT_EQ(d->entries, 2);
  }
}

TEST_F(LayersTest, WhiteoutsBecomeOverlayWhiteouts) {
  auto r = unpack({dir("a"), file("a/.wh.gone", ""), dir("c"), file("c/.wh..wh..opq", ""),
                   file("c/new", "n"), file(".wh..wh.plnk", "")});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(fs::exists(at("a/.wh.gone")));
  EXPECT_FALSE(fs::exists(at("c/.wh..wh..opq")));
  EXPECT_TRUE(fs::exists(at("c/new")));
  struct stat st;
  if (::lstat(at("a/gone").c_str(), &st) == 0) {
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(0, 0));
  } else {
    EXPECT_TRUE(has_warning(*r, "could not create whiteout 'a/gone'"));
  }
  char value[4] = {};
  ssize_t n = ::getxattr(at("c").c_str(), "trusted.overlay.opaque", value, sizeof value);
  if (n >= 0) {
    EXPECT_EQ(std::string(value, static_cast<size_t>(n)), "y");
  } else {
    EXPECT_TRUE(has_warning(*r, "could not mark 'c' opaque"));
  }
}

TEST_F(LayersTest, RejectsParentTraversal) {
  auto r = unpack({file("ok", "x"), file("../../etc/passwd", "root::0:0::/:/bin/sh\n")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(r.error().message().find("entry '../../etc/passwd': '..' component"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(r.error().message().rfind("unpack layer into '" + out() + "'", 0), 0u);
  EXPECT_FALSE(fs::exists(out()));
  expect_nothing_left();
}

TEST_F(LayersTest, RejectsDotDotInTheMiddle) {
  auto r = unpack({dir("a"), file("a/../../x", "x")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("entry 'a/../../x'"), std::string::npos);
  expect_nothing_left();
}

TEST_F(LayersTest, RejectsAbsolutePaths) {
  auto r = unpack({file("/etc/x", "x")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("entry '/etc/x': absolute path"), std::string::npos)
      << r.error().message();
  expect_nothing_left();
}

TEST_F(LayersTest, NeverFollowsASymlinkOutOfTheLayer) {
  std::string victim = dir_ + "/victim";
  ASSERT_TRUE(sys::mkdir_all(victim));
  auto r = unpack({symlink("evil", victim), file("evil/x", "pwned")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("entry 'evil/x': 'evil' is a symlink: refusing to follow it"),
            std::string::npos)
      << r.error().message();
  EXPECT_FALSE(fs::exists(victim + "/x"));
  EXPECT_FALSE(fs::exists(out()));
  (void)sys::remove_all(victim);
  expect_nothing_left();
}

TEST_F(LayersTest, RootSymlinkFollowedByEtcPathIsRejected) {
  auto r = unpack({symlink("evil", "/"), file("evil/etc/x", "pwned")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("'evil' is a symlink"), std::string::npos);
  EXPECT_FALSE(fs::exists("/etc/x"));
  expect_nothing_left();
}

TEST_F(LayersTest, RejectsHardLinksOutOfTheLayer) {
  auto r = unpack({hardlink("link", "../outside")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("entry 'link': hard link target '../outside': '..' component"),
            std::string::npos)
      << r.error().message();
  expect_nothing_left();

  r = unpack({hardlink("link", "/etc/passwd")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("hard link target '/etc/passwd': absolute path"),
            std::string::npos);
  expect_nothing_left();

  // Through a symlink inside the layer.
  r = unpack({symlink("evil", "/etc"), hardlink("link", "evil/passwd")});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("'evil' is a symlink"), std::string::npos) << r.error().message();
  expect_nothing_left();
}

TEST_F(LayersTest, HardLinkToASymlinkLinksTheSymlinkItself) {
  auto r = unpack({symlink("s", "/etc/passwd"), hardlink("h", "s")});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(fs::is_symlink(at("h")));
  EXPECT_EQ(fs::read_symlink(at("h")), "/etc/passwd");
}

TEST_F(LayersTest, LaterEntriesReplaceEarlierOnes) {
  auto r = unpack({file("x", "first"), file("x", "second"), symlink("y", "x"), file("y", "file"),
                   dir("z"), file("z/inner", "i"), file("z", "now a file")});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(*sys::read_file(at("x")), "second");
  EXPECT_FALSE(fs::is_symlink(at("y")));
  EXPECT_EQ(*sys::read_file(at("y")), "file");
  EXPECT_EQ(*sys::read_file(at("z")), "now a file");
}

TEST_F(LayersTest, DirectoryModesAndTimesAreAppliedAfterTheirChildren) {
  TarEntry ro = dir("ro", 0555);
  ro.mtime = 1000000;
  auto r = unpack({ro, file("ro/child", "c"), dir("implicit/parent/deep"), file("implicit/f", "")});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(fs::status(at("ro")).permissions(), fs::perms(0555));
  EXPECT_TRUE(fs::exists(at("ro/child")));
  struct stat st;
  ASSERT_EQ(::stat(at("ro").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 1000000);
  EXPECT_TRUE(fs::is_directory(at("implicit/parent/deep")));
  ::chmod(at("ro").c_str(), 0755);  // so that TearDown can remove it as non-root
}

TEST_F(LayersTest, OwnershipIsAppliedAsRootAndWarnedAboutOtherwise) {
  TarEntry f = file("owned", "o");
  f.uid = 1234;
  f.gid = 5678;
  auto r = unpack({f});
  ASSERT_TRUE(r) << r.error().message();
  struct stat st;
  ASSERT_EQ(::lstat(at("owned").c_str(), &st), 0);
  if (st.st_uid == 1234) {
    EXPECT_EQ(st.st_gid, 5678u);
  } else {
    EXPECT_TRUE(has_warning(*r, "ownership not applied"));
  }
}

TEST_F(LayersTest, DeviceNodesAreCreatedOrSkippedWithAWarning) {
  TarEntry null = dir("dev");
  TarEntry dev;
  dev.path = "dev/null";
  dev.type = AE_IFCHR;
  dev.perm = 0666;
  dev.rdev = makedev(1, 3);
  TarEntry fifo;
  fifo.path = "dev/fifo";
  fifo.type = AE_IFIFO;
  fifo.perm = 0600;
  auto r = unpack({null, dev, fifo});
  ASSERT_TRUE(r) << r.error().message();
  struct stat st;
  if (::lstat(at("dev/null").c_str(), &st) == 0) {
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(1, 3));
  } else {
    EXPECT_TRUE(has_warning(*r, "skipped device node 'dev/null'"));
  }
  ASSERT_EQ(::lstat(at("dev/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST_F(LayersTest, XattrsAreAppliedButOverlayXattrsAreNeverTakenFromALayer) {
  TarEntry f = file("f", "x");
  f.xattrs = {{"user.berth.test", "v"}, {"trusted.overlay.redirect", "/etc"}};
  auto r = unpack({f});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(has_warning(*r, "ignored xattr 'trusted.overlay.redirect'"));
  char value[16] = {};
  EXPECT_LT(::getxattr(at("f").c_str(), "trusted.overlay.redirect", value, sizeof value), 0);
  ssize_t n = ::getxattr(at("f").c_str(), "user.berth.test", value, sizeof value);
  if (n >= 0) {
    EXPECT_EQ(std::string(value, static_cast<size_t>(n)), "v");
  } else {
    EXPECT_TRUE(has_warning(*r, "xattr 'user.berth.test' not applied"));
  }
}

TEST_F(LayersTest, ExistingDestinationIsAlreadyExists) {
  ASSERT_TRUE(sys::mkdir_all(out()));
  auto r = unpack({file("a", "b")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::already_exists);
}

TEST_F(LayersTest, CompressionsThatNeedAProgramAreNotTried) {
  // libarchive's filter_all ran `lrzip -d -q`, `lzop -d` or `grzip` on a layer starting with
  // their magic numbers (layer_unpack spent a fork and exec on such inputs); a layer is a tar,
  // gzip, zstd, xz or bzip2 stream, decoded in the process.
  for (std::string magic : {std::string("LRZI\0\x06", 6), std::string("\x89LZO\0\r\n\x1a\n", 9),
                            std::string("GRZipII\0\x02\x04:)", 12)}) {
    ASSERT_TRUE(sys::atomic_write(dir_ + "/layer.tar", magic + std::string(2000, 'a')));
    auto fd = sys::open(dir_ + "/layer.tar", O_RDONLY);
    auto r = unpack_layer(fd->get(), out());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message().find("program"), std::string::npos) << r.error().message();
    expect_nothing_left();
  }
  write_tar(dir_ + "/xz.tar", {file("x", "xz\n")}, "xz");
  write_tar(dir_ + "/bz.tar", {file("x", "bz\n")}, "bzip2");
  for (std::string name : {"xz.tar", "bz.tar"}) {
    (void)sys::remove_all(out());
    auto fd = sys::open(dir_ + "/" + name, O_RDONLY);
    auto r = unpack_layer(fd->get(), out());
    ASSERT_TRUE(r) << name << ": " << r.error().message();
  }
}

TEST_F(LayersTest, CorruptAndTruncatedInputFailAndLeaveNothing) {
  ASSERT_TRUE(sys::atomic_write(dir_ + "/layer.tar", std::string(5000, '\x7f')));
  auto fd = sys::open(dir_ + "/layer.tar", O_RDONLY);
  auto r = unpack_layer(fd->get(), out());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt) << r.error().message();
  expect_nothing_left();

  write_tar(dir_ + "/full.tar.gz", {file("big", std::string(200000, 'z'))}, "gzip");
  std::string gz = *sys::read_file(dir_ + "/full.tar.gz");
  ASSERT_TRUE(sys::atomic_write(dir_ + "/layer.tar", gz.substr(0, gz.size() / 2)));
  (void)sys::remove_all(dir_ + "/full.tar.gz");
  fd = sys::open(dir_ + "/layer.tar", O_RDONLY);
  r = unpack_layer(fd->get(), out());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("unpack layer"), std::string::npos);
  expect_nothing_left();
}

TEST(ChainId, FollowsTheImageSpecFormula) {
  Digest a = sha256_of("a"), b = sha256_of("b"), c = sha256_of("c");
  auto ids = chain_ids({a, b, c});
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], a);
  EXPECT_EQ(ids[1], sha256_of(a.str() + " " + b.str()));
  EXPECT_EQ(ids[2], sha256_of(ids[1].str() + " " + c.str()));
  EXPECT_EQ(chain_id(Digest(), a), a);
  EXPECT_TRUE(chain_ids({}).empty());
}

}  // namespace
}  // namespace berth::image
