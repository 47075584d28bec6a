#include "image/import.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "base/sys.h"
#include "image/layers.h"
#include "tar_builder.h"

namespace berth::image {
namespace {

namespace fs = std::filesystem;
using namespace testing;

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-import-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = ContentStore::open(dir_ + "/store");
    ASSERT_TRUE(store) << store.error().message();
    store_.emplace(std::move(*store));
  }
  void TearDown() override { (void)sys::remove_all(dir_); }

  Result<ImportResult> import(const std::vector<TarEntry>& entries, const ImportOptions& opts,
                              const std::string& compression = "") {
    write_tar(dir_ + "/in.tar", entries, compression);
    auto fd = sys::open(dir_ + "/in.tar", O_RDONLY);
    return import_tar(*store_, fd->get(), opts);
  }
  oci::Manifest manifest_of(const ImportResult& r) {
    auto text = store_->read(*Digest::parse(r.manifest.digest));
    EXPECT_TRUE(text);
    auto m = oci::parse_manifest(*text, "manifest");
    EXPECT_TRUE(m) << m.error().message();
    return *m;
  }
  oci::ImageConfig config_of(const oci::Manifest& m) {
    auto text = store_->read(*Digest::parse(m.config.digest));
    auto c = oci::parse_image_config(*text, "config");
    EXPECT_TRUE(c) << c.error().message();
    return *c;
  }

  std::string dir_;
  std::optional<ContentStore> store_;
};

TEST_F(ImportTest, TarBecomesAOneLayerImageWithTheGivenConfig) {
  ImportOptions opts;
  opts.created = "2024-01-02T03:04:05Z";
  opts.architecture = "amd64";
  opts.changes.cmd = std::vector<std::string>{"/bin/sh", "-c", "echo hi"};
  opts.changes.entrypoint = std::vector<std::string>{};
  opts.changes.env = {"A=1", "PATH=/bin"};
  opts.changes.working_dir = "/srv";
  opts.changes.user = "1000:1000";
  opts.changes.exposed_ports = {"80", "53/udp"};
  opts.changes.labels = {{"org.example", "x"}};
  opts.changes.stop_signal = "SIGINT";
  auto r = import({dir("bin"), file("bin/x", "data")}, opts);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->diff_id, sha256_of(*sys::read_file(dir_ + "/in.tar")));
  EXPECT_EQ(r->manifest.media_type, oci::media_type::kImageManifest);
  oci::Manifest m = manifest_of(*r);
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].media_type, oci::media_type::kLayerGzip);
  EXPECT_EQ(m.layers[0].digest, r->layer.digest);
  EXPECT_TRUE(store_->verify(*Digest::parse(m.layers[0].digest)));
  oci::ImageConfig c = config_of(m);
  EXPECT_EQ(c.architecture, "amd64");
  EXPECT_EQ(c.os, "linux");
  EXPECT_EQ(c.created, "2024-01-02T03:04:05Z");
  EXPECT_EQ(c.diff_ids, std::vector<std::string>{r->diff_id.str()});
  EXPECT_EQ(*c.config.cmd, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  ASSERT_TRUE(c.config.entrypoint);
  EXPECT_TRUE(c.config.entrypoint->empty());
  EXPECT_EQ(c.config.env, (std::vector<std::string>{"PATH=/bin", "A=1"}));
  EXPECT_EQ(c.config.working_dir, "/srv");
  EXPECT_EQ(c.config.user, "1000:1000");
  EXPECT_EQ(c.config.exposed_ports, (std::set<std::string>{"53/udp", "80/tcp"}));
  EXPECT_EQ(c.config.labels.at("org.example"), "x");
  EXPECT_EQ(c.config.stop_signal, "SIGINT");

  // The gzip layer unpacks to the same diff id.
  auto layer = store_->open_blob(*Digest::parse(m.layers[0].digest));
  auto u = unpack_layer(layer->get(), dir_ + "/rootfs");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->diff_id, r->diff_id);
  EXPECT_EQ(*sys::read_file(dir_ + "/rootfs/bin/x"), "data");
}

TEST_F(ImportTest, SameInputSameOptionsSameDigests) {
  ImportOptions opts;
  opts.created = "2024-01-02T03:04:05Z";
  opts.compression = LayerCompression::none;
  auto a = import({file("f", "1")}, opts);
  auto b = import({file("f", "1")}, opts);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->manifest.digest, b->manifest.digest);
  EXPECT_EQ(a->layer.digest, a->diff_id.str());  // uncompressed: the layer is the tar itself
  EXPECT_EQ(a->layer.media_type, oci::media_type::kLayer);
}

TEST_F(ImportTest, CompressedInputIsStoredDecompressed) {
  ImportOptions opts;
  opts.compression = LayerCompression::none;
  write_tar(dir_ + "/plain.tar", {file("f", std::string(5000, 'a'))});
  auto r = import({file("f", std::string(5000, 'a'))}, opts, "zstd");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->diff_id, sha256_of(*sys::read_file(dir_ + "/plain.tar")));
}

TEST_F(ImportTest, MaliciousTarIsRefusedAndNothingIsStored) {
  for (auto entries : {std::vector<TarEntry>{file("ok", "1"), file("../escape", "x")},
                       std::vector<TarEntry>{file("/abs", "x")},
                       std::vector<TarEntry>{hardlink("h", "../../etc/shadow")}}) {
    auto r = import(entries, {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
    EXPECT_EQ(r.error().message().rfind("import tar: entry '", 0), 0u) << r.error().message();
    EXPECT_TRUE(store_->list()->empty());
    EXPECT_TRUE(fs::is_empty(dir_ + "/store/ingest"));
  }
}

TEST_F(ImportTest, NotATarIsCorrupt) {
  ASSERT_TRUE(sys::atomic_write(dir_ + "/junk", std::string(3000, 'j')));
  auto fd = sys::open(dir_ + "/junk", O_RDONLY);
  auto r = import_tar(*store_, fd->get(), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt) << r.error().message();
  EXPECT_TRUE(store_->list()->empty());
}

TEST_F(ImportTest, BadChangesAreInvalidArgument) {
  oci::ContainerConfig c;
  ConfigChanges ch;
  ch.working_dir = "relative";
  EXPECT_EQ(apply_changes(c, ch).error().message(), "WORKDIR 'relative': want an absolute path");
  ch = {};
  ch.exposed_ports = {"http"};
  EXPECT_EQ(apply_changes(c, ch).error().message(),
            "EXPOSE 'http': want PORT or PORT/PROTO (tcp, udp, sctp)");
  ch = {};
  ch.env = {"NOVALUE"};
  EXPECT_EQ(apply_changes(c, ch).error().message(), "ENV 'NOVALUE': want NAME=value");
}

TEST_F(ImportTest, DirectoryImportRoundTripsThroughUnpack) {
  std::string src = dir_ + "/src";
  ASSERT_TRUE(sys::mkdir_all(src + "/bin"));
  ASSERT_TRUE(sys::mkdir_all(src + "/empty"));
  ASSERT_TRUE(sys::atomic_write(src + "/bin/tool", "#!/bin/sh\necho\n", 0755));
  ASSERT_EQ(::link((src + "/bin/tool").c_str(), (src + "/bin/tool2").c_str()), 0);
  ASSERT_EQ(::symlink("tool", (src + "/bin/sh").c_str()), 0);
  ImportOptions opts;
  opts.created = "2024-01-02T03:04:05Z";
  auto r = import_directory(*store_, src, opts);
  ASSERT_TRUE(r) << r.error().message();
  auto m = manifest_of(*r);
  auto layer = store_->open_blob(*Digest::parse(m.layers[0].digest));
  auto u = unpack_layer(layer->get(), dir_ + "/rootfs");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->diff_id, r->diff_id);
  EXPECT_EQ(*sys::read_file(dir_ + "/rootfs/bin/tool"), "#!/bin/sh\necho\n");
  EXPECT_EQ(fs::status(dir_ + "/rootfs/bin/tool").permissions(), fs::perms(0755));
  EXPECT_EQ(fs::read_symlink(dir_ + "/rootfs/bin/sh"), "tool");
  EXPECT_TRUE(fs::is_directory(dir_ + "/rootfs/empty"));
  struct stat a, b;
  ASSERT_EQ(::stat((dir_ + "/rootfs/bin/tool").c_str(), &a), 0);
  ASSERT_EQ(::stat((dir_ + "/rootfs/bin/tool2").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
  // Deterministic: the same tree gives the same layer.
  auto again = import_directory(*store_, src, opts);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->diff_id, r->diff_id);
  auto missing = import_directory(*store_, dir_ + "/nope", opts);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("import directory '" + dir_ + "/nope'"), std::string::npos);
}

TEST_F(ImportTest, LayoutIndexAddsReplacesAndFinds) {
  std::string root = dir_ + "/store";
  EXPECT_TRUE(read_layout_index(root)->manifests.empty());
  auto a = import({file("a", "1")}, {});
  auto b = import({file("b", "2")}, {});
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(add_to_layout_index(root, a->manifest, "v1"));
  ASSERT_TRUE(add_to_layout_index(root, b->manifest, "v2"));
  ASSERT_TRUE(add_to_layout_index(root, b->manifest, "v1"));  // re-point v1
  auto index = read_layout_index(root);
  ASSERT_TRUE(index) << index.error().message();
  EXPECT_EQ(index->manifests.size(), 2u);
  EXPECT_EQ(index->media_type, oci::media_type::kImageIndex);
  auto v1 = find_in_layout_index(root, "v1");
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->digest, b->manifest.digest);
  EXPECT_EQ(v1->annotations.at(std::string(oci::kAnnotationRefName)), "v1");
  auto none = find_in_layout_index(root, "v3");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::not_found);
  // What other tools read: the raw file is a valid OCI index.
  EXPECT_TRUE(oci::parse_index(*sys::read_file(root + "/index.json"), "index.json"));
}

}  // namespace
}  // namespace berth::image
