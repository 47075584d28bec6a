// Image archives against their other readers and writers: skopeo (docker-archive, oci-archive,
// oci layouts) and podman (load and save), with the busybox fixture imported by berth.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/sys.h"
#include "image/archive.h"
#include "image/content_store.h"
#include "image/import.h"

namespace berth::image {
namespace {

struct Run {
  int status = -1;
  std::string out;
};

Run run(const std::string& command) {
  Run r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  r.status = ::pclose(p);
  return r;
}

bool have(const std::string& tool) { return run("command -v " + tool).status == 0; }

class ImageArchiveIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests run as root";
    const char* fixtures = std::getenv("BERTH_FIXTURES");
    char tmpl[] = "/tmp/berth-test-archive-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::string tar;
    if (fixtures && sys::exists(std::string(fixtures) + "/busybox-rootfs.tar")) {
      tar = std::string(fixtures) + "/busybox-rootfs.tar";
    } else {
      const char* source = std::getenv("BERTH_SOURCE");
      if (!source) source = BERTH_SOURCE_DIR;
      std::string script = std::string(source) + "/tests/fixtures/make-busybox-bundle.sh";
      ASSERT_EQ(std::system((script + " " + dir_ + "/fixture >/dev/null").c_str()), 0);
      tar = dir_ + "/fixture/busybox-rootfs.tar";
    }
    store_.emplace(open_store("store"));
    auto fd = sys::open(tar, O_RDONLY);
    ASSERT_TRUE(fd) << fd.error().message();
    ImportOptions opts;
    opts.created = "2024-01-02T03:04:05Z";
    opts.changes.cmd = std::vector<std::string>{"/bin/sh"};
    auto imported = import_tar(*store_, fd->get(), opts);
    ASSERT_TRUE(imported) << imported.error().message();
    image_ = *imported;
    // The store is an OCI layout: skopeo reads it as oci:<store>:busybox.
    ASSERT_TRUE(add_to_layout_index(store_->root(), image_.manifest, "busybox"));
  }
  void TearDown() override {
    if (!podman_root_.empty()) {
      (void)run(podman() + " rmi -a -f");
      // vfs needs no mounts, but podman may still mount its storage root on some hosts.
      (void)run("grep -o ' " + dir_ +
                "/[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l");
    }
    (void)sys::remove_all(dir_);
  }

  ContentStore open_store(const std::string& name) {
    auto store = ContentStore::open(dir_ + "/" + name);
    EXPECT_TRUE(store) << store.error().message();
    return std::move(*store);
  }

  // A podman confined to this test's directory (its own storage, vfs: no overlay mounts).
  std::string podman() {
    podman_root_ = dir_ + "/podman";
    return "podman --root " + podman_root_ + "/root --runroot " + podman_root_ +
           "/runroot --storage-driver vfs --events-backend none";
  }

  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Loads and checks that the image is the imported one: same diff id and, unless another tool
  // converted it, the same config (image id).
  LoadResult load_and_check(const std::string& path, bool same_config = true) {
    ContentStore other = open_store("loaded-" + std::to_string(loads_++));
    auto r = load_archive(other, path);
    EXPECT_TRUE(r) << r.error().message();
    if (!r) return {};
    EXPECT_EQ(r->images.size(), 1u);
    if (r->images.empty()) return *r;
    auto text = other.read(*Digest::parse(r->images[0].manifest.digest));
    EXPECT_TRUE(text);
    auto m = oci::parse_manifest(*text, "manifest");
    EXPECT_TRUE(m) << m.error().message();
    if (same_config) {
      EXPECT_EQ(m->config.digest, image_.config.digest);
    }
    auto config = oci::parse_image_config(*other.read(*Digest::parse(m->config.digest)), "config");
    EXPECT_TRUE(config);
    EXPECT_EQ(config->diff_ids, std::vector<std::string>{image_.diff_id.str()});
    for (const auto& l : m->layers) EXPECT_TRUE(other.verify(*Digest::parse(l.digest)));
    return *r;
  }

  std::string dir_, podman_root_;
  std::optional<ContentStore> store_;
  ImportResult image_;
  int loads_ = 0;
};

TEST_F(ImageArchiveIntegration, LoadsSkopeosDockerArchive) {
  if (!have("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  std::string out = dir_ + "/skopeo-docker.tar";
  auto copy = run("skopeo copy oci:" + store_->root() + ":busybox docker-archive:" + out +
                  ":localhost/x:tag");
  ASSERT_EQ(copy.status, 0) << copy.out;
  auto r = load_and_check(out);
  EXPECT_EQ(r.format, ArchiveFormat::docker_archive);
  ASSERT_FALSE(r.images.empty());
  EXPECT_EQ(r.images[0].names, std::vector<std::string>{"localhost/x:tag"});
}

TEST_F(ImageArchiveIntegration, LoadsSkopeosOciArchiveKeepingTheManifestDigest) {
  if (!have("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  std::string out = dir_ + "/skopeo.oci.tar";
  auto copy = run("skopeo copy oci:" + store_->root() + ":busybox oci-archive:" + out + ":v1");
  ASSERT_EQ(copy.status, 0) << copy.out;
  auto r = load_and_check(out);
  EXPECT_EQ(r.format, ArchiveFormat::oci_archive);
  ASSERT_FALSE(r.images.empty());
  EXPECT_EQ(r.images[0].manifest.digest, image_.manifest.digest);
  EXPECT_EQ(r.images[0].names, std::vector<std::string>{"localhost/skopeo:v1"});
}

TEST_F(ImageArchiveIntegration, SkopeoReadsBerthsDockerArchive) {
  if (!have("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  std::string out = dir_ + "/berth-docker.tar";
  auto saved = save_archive(*store_, {{image_.manifest, {"localhost/busybox:latest"}}},
                            ArchiveFormat::docker_archive, out);
  ASSERT_TRUE(saved) << saved.error().message();

  // skopeo presents docker-archive layers uncompressed: their digest is the diff id.
  auto inspect = run("skopeo inspect --raw docker-archive:" + out);
  ASSERT_EQ(inspect.status, 0) << inspect.out;
  EXPECT_NE(inspect.out.find(image_.config.digest), std::string::npos) << inspect.out;
  EXPECT_NE(inspect.out.find(image_.diff_id.str()), std::string::npos) << inspect.out;

  // dir: keeps the config as it is: same image id.
  std::string plain = dir_ + "/skopeo-dir";
  auto copy = run("skopeo copy docker-archive:" + out + " dir:" + plain);
  ASSERT_EQ(copy.status, 0) << copy.out;
  auto m = oci::parse_manifest(read(plain + "/manifest.json"), "skopeo's dir manifest");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->config.digest, image_.config.digest);
  EXPECT_EQ(
      sha256_of(read(plain + "/" + std::string(Digest::parse(image_.config.digest)->encoded())))
          .str(),
      image_.config.digest);

  // oci: converts Docker's config to OCI's by re-serialising it; the diff ids stay.
  std::string layout = dir_ + "/skopeo-layout";
  copy = run("skopeo copy docker-archive:" + out + " oci:" + layout + ":busybox");
  ASSERT_EQ(copy.status, 0) << copy.out;
  auto found = find_in_layout_index(layout, "busybox");
  ASSERT_TRUE(found) << found.error().message();
  m = oci::parse_manifest(
      read(layout + "/blobs/sha256/" + std::string(Digest::parse(found->digest)->encoded())),
      "skopeo's manifest");
  ASSERT_TRUE(m) << m.error().message();
  std::string config_text =
      read(layout + "/blobs/sha256/" + std::string(Digest::parse(m->config.digest)->encoded()));
  auto config = oci::parse_image_config(config_text, "skopeo's config");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->diff_ids, std::vector<std::string>{image_.diff_id.str()}) << config_text;
  EXPECT_EQ(config->config.cmd, std::optional<std::vector<std::string>>({"/bin/sh"}));
}

TEST_F(ImageArchiveIntegration, SkopeoReadsBerthsOciArchiveAndLayoutUnchanged) {
  if (!have("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  std::string out = dir_ + "/berth.oci.tar";
  ASSERT_TRUE(save_archive(*store_, {{image_.manifest, {"localhost/busybox:latest"}}},
                           ArchiveFormat::oci_archive, out));
  std::string layout = dir_ + "/skopeo-layout";
  auto copy =
      run("skopeo copy oci-archive:" + out + ":localhost/busybox:latest oci:" + layout + ":b");
  ASSERT_EQ(copy.status, 0) << copy.out;
  auto found = find_in_layout_index(layout, "b");
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_EQ(found->digest, image_.manifest.digest);

  std::string berth_layout = dir_ + "/berth-layout";
  ASSERT_TRUE(save_archive(*store_, {{image_.manifest, {"localhost/busybox:latest"}}},
                           ArchiveFormat::oci_layout_dir, berth_layout));
  auto inspect = run("skopeo inspect --raw oci:" + berth_layout + ":localhost/busybox:latest");
  ASSERT_EQ(inspect.status, 0) << inspect.out;
  EXPECT_EQ(sha256_of(inspect.out).str(), image_.manifest.digest);
  if (have("umoci")) {
    auto stat = run("umoci stat --image " + berth_layout + ":localhost/busybox:latest");
    EXPECT_EQ(stat.status, 0) << stat.out;
  }
}

TEST_F(ImageArchiveIntegration, PodmanLoadsBerthsArchivesAndBerthLoadsPodmans) {
  if (!have("podman")) GTEST_SKIP() << "podman is not installed";
  std::string config_hex(Digest::parse(image_.config.digest)->encoded());
  for (auto format : {ArchiveFormat::docker_archive, ArchiveFormat::oci_archive}) {
    SCOPED_TRACE(std::string(archive_format_name(format)));
    std::string out = dir_ + "/berth-" + std::string(archive_format_name(format)) + ".tar";
    ASSERT_TRUE(
        save_archive(*store_, {{image_.manifest, {"localhost/berthbox:latest"}}}, format, out));
    auto load = run(podman() + " load -i " + out);
    ASSERT_EQ(load.status, 0) << load.out;
    auto inspect = run(podman() + " image inspect --format '{{.Id}}' localhost/berthbox:latest");
    ASSERT_EQ(inspect.status, 0) << inspect.out;
    EXPECT_EQ(inspect.out.substr(0, 64), config_hex);
    (void)run(podman() + " rmi -f localhost/berthbox:latest");
  }
  auto load = run(podman() + " load -i " + dir_ + "/berth-docker-archive.tar");
  ASSERT_EQ(load.status, 0) << load.out;
  for (std::string format : {"docker-archive", "oci-archive"}) {
    SCOPED_TRACE(format);
    std::string out = dir_ + "/podman-" + format + ".tar";
    auto save =
        run(podman() + " save --format " + format + " -o " + out + " localhost/berthbox:latest");
    ASSERT_EQ(save.status, 0) << save.out;
    // podman's oci-archive re-serialises the Docker config it stored (a new image id).
    auto r = load_and_check(out, format == "docker-archive");
    ASSERT_FALSE(r.images.empty());
    EXPECT_EQ(r.images[0].names, std::vector<std::string>{"localhost/berthbox:latest"});
  }
}

}  // namespace
}  // namespace berth::image
