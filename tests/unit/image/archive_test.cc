#include "image/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "base/sys.h"
#include "image/import.h"
#include "image/layers.h"
#include "tar_builder.h"

namespace berth::image {
namespace {

namespace fs = std::filesystem;
using namespace testing;
using ::testing::HasSubstr;

std::string slurp(const std::string& path) {
  auto text = sys::read_file(path);
  EXPECT_TRUE(text) << text.error().message();
  return text ? *text : "";
}

// Every regular member of a (possibly compressed) tar, by name.
std::map<std::string, std::string> tar_members(const std::string& path) {
  std::map<std::string, std::string> out;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 1 << 16), ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string data;
    char buf[8192];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
      data.append(buf, static_cast<size_t>(n));
    out[archive_entry_pathname(e)] = data;
  }
  archive_read_free(a);
  return out;
}

class ArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-archive-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_.emplace(open_store("store"));
  }
  void TearDown() override { (void)sys::remove_all(dir_); }

  ContentStore open_store(const std::string& name) {
    auto store = ContentStore::open(dir_ + "/" + name);
    EXPECT_TRUE(store) << store.error().message();
    return std::move(*store);
  }

  // A layer tar's bytes, compressed as asked ("", "gzip", "zstd").
  std::string layer(const std::string& content, const std::string& compression = "") {
    std::string path = dir_ + "/layer.tmp";
    write_tar(path, {dir("etc"), file("etc/" + content, content)}, compression);
    std::string bytes = slurp(path);
    fs::remove(path);
    return bytes;
  }
  Digest diff_id(const std::string& layer_bytes) {
    std::string path = dir_ + "/diff.tmp";
    EXPECT_TRUE(sys::atomic_write(path, layer_bytes));
    auto fd = sys::open(path, O_RDONLY);
    auto r = diff_id_of(fd->get());
    EXPECT_TRUE(r) << r.error().message();
    fs::remove(path);
    return r->diff_id;
  }
  std::string config(const std::vector<Digest>& diff_ids, const std::string& arch = "amd64") {
    oci::ImageConfig c;
    c.architecture = arch;
    c.os = "linux";
    c.created = "2024-01-02T03:04:05Z";
    for (const auto& d : diff_ids) c.diff_ids.push_back(d.str());
    return oci::to_json(c);
  }
  static std::string manifest_json(const std::string& config, const std::vector<std::string>& tags,
                                   const std::vector<std::string>& layers) {
    auto quoted = [](const std::vector<std::string>& v) {
      std::string out;
      for (const auto& s : v) out += (out.empty() ? "\"" : ",\"") + s + "\"";
      return out;
    };
    return fmt::format(R"({{"Config":"{}","RepoTags":[{}],"Layers":[{}]}})", config, quoted(tags),
                       quoted(layers));
  }

  std::string archive(const std::vector<TarEntry>& entries, const std::string& compression = "",
                      const std::string& name = "in.tar") {
    std::string path = dir_ + "/" + name;
    write_tar(path, entries, compression);
    return path;
  }

  // A docker-archive with two layers (plain and gzip), manifest.json last, two tags.
  std::string docker_archive(const std::string& compression = "") {
    std::string l1 = layer("one"), l2 = layer("two", "gzip");
    std::string cfg = config({diff_id(l1), diff_id(l2)});
    config_digest_ = sha256_of(cfg);
    return archive(
        {file("l1/layer.tar", l1), file("l2.tar.gz", l2),
         file(std::string(config_digest_.encoded()) + ".json", cfg),
         file("manifest.json", "[" +
                                   manifest_json(std::string(config_digest_.encoded()) + ".json",
                                                 {"busybox:latest", "localhost/app:1"},
                                                 {"l1/layer.tar", "l2.tar.gz"}) +
                                   "]")},
        compression);
  }

  Result<LoadResult> load(const std::string& path) { return load_archive(*store_, path); }

  oci::Manifest manifest_of(const oci::Descriptor& d, const ContentStore& store) {
    auto text = store.read(*Digest::parse(d.digest));
    EXPECT_TRUE(text) << text.error().message();
    auto m = oci::parse_manifest(text ? *text : "", "manifest");
    EXPECT_TRUE(m) << m.error().message();
    return m ? *m : oci::Manifest{};
  }
  oci::ImageConfig config_of(const oci::Manifest& m, const ContentStore& store) {
    auto text = store.read(*Digest::parse(m.config.digest));
    auto c = oci::parse_image_config(text ? *text : "", "config");
    EXPECT_TRUE(c) << c.error().message();
    return c ? *c : oci::ImageConfig{};
  }

  // Nothing but what was there: no blob and nothing left in ingest/.
  void expect_store_empty() {
    auto blobs = store_->list();
    ASSERT_TRUE(blobs);
    EXPECT_TRUE(blobs->empty()) << blobs->size() << " blobs, first " << blobs->front().str();
    EXPECT_TRUE(fs::is_empty(store_->root() + "/ingest"));
  }

  ImportResult import_image(ContentStore& store, const std::string& content) {
    std::string path = dir_ + "/rootfs.tar";
    write_tar(path, {dir("bin"), file("bin/" + content, content, 0755)});
    auto fd = sys::open(path, O_RDONLY);
    ImportOptions opts;
    opts.created = "2024-01-02T03:04:05Z";
    opts.architecture = "amd64";
    auto r = import_tar(store, fd->get(), opts);
    EXPECT_TRUE(r) << r.error().message();
    return *r;
  }

  std::string dir_;
  std::optional<ContentStore> store_;
  Digest config_digest_;
};

// --- docker-archive ---

TEST_F(ArchiveTest, DockerArchiveLoadsWithManifestAfterTheLayers) {
  auto r = load(docker_archive());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->format, ArchiveFormat::docker_archive);
  ASSERT_EQ(r->images.size(), 1u);
  EXPECT_EQ(r->images[0].names,
            (std::vector<std::string>{"docker.io/library/busybox:latest", "localhost/app:1"}));
  EXPECT_EQ(r->images[0].manifest.media_type, oci::media_type::kImageManifest);
  auto m = manifest_of(r->images[0].manifest, *store_);
  EXPECT_EQ(m.config.digest, config_digest_.str());
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.layers[0].media_type, oci::media_type::kLayer);
  EXPECT_EQ(m.layers[1].media_type, oci::media_type::kLayerGzip);
  for (const auto& l : m.layers) EXPECT_TRUE(store_->verify(*Digest::parse(l.digest)));
  EXPECT_TRUE(store_->exists(*Digest::parse(r->images[0].manifest.digest)));
}

TEST_F(ArchiveTest, WholeArchiveCompressionIsDetected) {
  for (std::string compression : {"gzip", "zstd"}) {
    auto r = load(docker_archive(compression));
    ASSERT_TRUE(r) << compression << ": " << r.error().message();
    EXPECT_EQ(r->images.size(), 1u);
  }
}

TEST_F(ArchiveTest, DockerArchiveWithSeveralImagesAndZstdLayers) {
  std::string a = layer("a", "zstd"), b = layer("b");
  std::string ca = config({diff_id(a)}), cb = config({diff_id(a), diff_id(b)});
  auto path =
      archive({file("a.tar", a), file("b.tar", b), file("ca.json", ca), file("cb.json", cb),
               file("manifest.json", "[" + manifest_json("ca.json", {"a:1"}, {"a.tar"}) + "," +
                                         manifest_json("cb.json", {}, {"a.tar", "b.tar"}) + "]")});
  auto r = load(path);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->images.size(), 2u);
  EXPECT_EQ(r->images[0].names, std::vector<std::string>{"docker.io/library/a:1"});
  EXPECT_TRUE(r->images[1].names.empty());
  auto m = manifest_of(r->images[0].manifest, *store_);
  EXPECT_EQ(m.layers[0].media_type, oci::media_type::kLayerZstd);
  EXPECT_EQ(config_of(manifest_of(r->images[1].manifest, *store_), *store_).diff_ids.size(), 2u);
}

TEST_F(ArchiveTest, LegacyDockerLayoutWithSymlinkedLayersLoads) {
  std::string l = layer("x");
  std::string cfg = config({diff_id(l), diff_id(l)});
  auto path = archive(
      {file("repositories", R"({"busybox":{"latest":"id2"}})"), dir("id1"),
       file("id1/VERSION", "1.0"), file("id1/json", "{}"), file("id1/layer.tar", l), dir("id2"),
       symlink("id2/layer.tar", "../id1/layer.tar"), file("c.json", cfg),
       file("manifest.json",
            "[" + manifest_json("c.json", {"busybox:latest"}, {"id1/layer.tar", "id2/layer.tar"}) +
                "]")});
  auto r = load(path);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(manifest_of(r->images[0].manifest, *store_).layers.size(), 2u);
}

TEST_F(ArchiveTest, DiffIdMismatchIsCorruptAndStoresNothing) {
  std::string l = layer("one");
  std::string cfg = config({diff_id(layer("other"))});
  auto path =
      archive({file("l.tar", l), file("c.json", cfg),
               file("manifest.json", "[" + manifest_json("c.json", {"x:1"}, {"l.tar"}) + "]")});
  auto r = load(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt);
  EXPECT_THAT(r.error().message(), HasSubstr("layer 'l.tar': diff id mismatch: the config says"));
  expect_store_empty();
}

TEST_F(ArchiveTest, DiffIdCountMismatchIsCorrupt) {
  std::string l = layer("one");
  auto path = archive({file("l.tar", l), file("c.json", config({})),
                       file("manifest.json", "[" + manifest_json("c.json", {}, {"l.tar"}) + "]")});
  auto r = load(path);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(),
              HasSubstr("config 'c.json': 0 diff ids in rootfs.diff_ids for 1 layers"));
}

TEST_F(ArchiveTest, MissingLayerIsNotFoundAndNamesIt) {
  auto path =
      archive({file("c.json", config({diff_id(layer("a"))})),
               file("manifest.json", "[" + manifest_json("c.json", {}, {"gone.tar"}) + "]")});
  auto r = load(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::not_found);
  EXPECT_THAT(r.error().message(),
              HasSubstr("manifest.json: [0].Layers[0] 'gone.tar': no such member in the archive"));
  expect_store_empty();
}

TEST_F(ArchiveTest, LayerPathEscapingTheArchiveIsRefused) {
  std::string l = layer("a");
  auto path =
      archive({file("l.tar", l), file("c.json", config({diff_id(l)})),
               file("manifest.json", "[" + manifest_json("c.json", {}, {"../l.tar"}) + "]")});
  auto r = load(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  EXPECT_THAT(r.error().message(),
              HasSubstr("manifest.json: [0].Layers[0] '../l.tar': '..' escapes the archive"));
  expect_store_empty();
}

TEST_F(ArchiveTest, ConfigOutsideTheArchiveIsRefused) {
  auto path = archive({file("manifest.json", "[" + manifest_json("/etc/passwd", {}, {}) + "]")});
  auto r = load(path);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(),
              HasSubstr("[0].Config '/etc/passwd': absolute path: outside the archive"));
}

TEST_F(ArchiveTest, SymlinkOutOfTheArchiveIsRefused) {
  auto path = archive({symlink("evil.tar", "../../etc/passwd"), file("manifest.json", "[]")});
  auto r = load(path);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(),
              HasSubstr("member 'evil.tar': target '../../etc/passwd' escapes"));
}

TEST_F(ArchiveTest, MemberWithDotDotIsRefused) {
  auto path = archive({file("../evil", "x"), file("manifest.json", "[]")});
  auto r = load(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  EXPECT_THAT(r.error().message(), HasSubstr("member '../evil': '..' escapes the archive"));
}

TEST_F(ArchiveTest, DuplicateMemberIsCorrupt) {
  auto r = load(archive({file("manifest.json", "[]"), file("manifest.json", "[]")}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt);
  EXPECT_THAT(r.error().message(),
              HasSubstr("member 'manifest.json': appears twice in the archive"));
}

TEST_F(ArchiveTest, HardLinkedLayerIsFollowed) {
  std::string l = layer("x");
  auto path =
      archive({file("a/layer.tar", l), hardlink("b/layer.tar", "a/layer.tar"),
               file("c.json", config({diff_id(l), diff_id(l)})),
               file("manifest.json",
                    "[" + manifest_json("c.json", {}, {"a/layer.tar", "b/layer.tar"}) + "]")});
  auto r = load(path);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(manifest_of(r->images[0].manifest, *store_).layers.size(), 2u);
}

TEST_F(ArchiveTest, MalformedManifestJsonIsCorrupt) {
  auto r = load(archive({file("manifest.json", "[{\"Config\": ")}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt);
  EXPECT_THAT(r.error().message(), HasSubstr("load '"));
  EXPECT_THAT(r.error().message(), HasSubstr("manifest.json: malformed JSON"));

  r = load(archive({file("manifest.json", R"([{"Config": 3, "Layers": []}])")}));
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("manifest.json: [0].Config: want a string"));
}

TEST_F(ArchiveTest, MalformedConfigIsCorrupt) {
  auto r = load(archive({file("c.json", "{not json"),
                         file("manifest.json", "[" + manifest_json("c.json", {}, {}) + "]")}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt);
  EXPECT_THAT(r.error().message(), HasSubstr("config 'c.json'"));
}

TEST_F(ArchiveTest, TruncatedArchiveIsCorrupt) {
  std::string path = docker_archive();
  fs::resize_file(path, fs::file_size(path) / 2 + 100);
  auto r = load(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt);
  EXPECT_THAT(r.error().message(), HasSubstr("member '"));
  expect_store_empty();
}

TEST_F(ArchiveTest, TruncatedCompressedArchiveIsCorrupt) {
  std::string path = docker_archive("gzip");
  fs::resize_file(path, fs::file_size(path) - 40);
  auto r = load(path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt);
  expect_store_empty();
}

TEST_F(ArchiveTest, NotAnArchiveOrNeitherFormat) {
  ASSERT_TRUE(sys::atomic_write(dir_ + "/junk", std::string(5000, 'j')));
  auto r = load(dir_ + "/junk");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("not a tar archive"));

  r = load(archive({file("hello", "world")}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
  EXPECT_THAT(r.error().message(), HasSubstr("neither an OCI archive"));

  r = load(dir_ + "/absent.tar");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("stat '"));
}

TEST_F(ArchiveTest, LoadsFromStdin) {
  std::string path = docker_archive("gzip");
  int saved = ::dup(0);
  auto fd = sys::open(path, O_RDONLY);
  ASSERT_EQ(::dup2(fd->get(), 0), 0);
  auto r = load("-");
  ::dup2(saved, 0);
  ::close(saved);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->images.size(), 1u);
  EXPECT_TRUE(fs::is_empty(store_->root() + "/ingest"));
}

TEST_F(ArchiveTest, DockerLayersUnderBlobsAreCheckedWhileIngesting) {
  // Outside blobs/ the scan checks diff ids; under it (where OCI blobs live) the ingest does.
  std::string l = layer("one", "gzip");
  std::string name = "blobs/sha256/" + std::string(sha256_of(l).encoded());
  auto path = archive({file(name, l), file("c.json", config({diff_id(l)})),
                       file("manifest.json", "[" + manifest_json("c.json", {"a:1"}, {name}) + "," +
                                                 manifest_json("c.json", {"a:2"}, {name}) + "]")});
  std::vector<std::string> progress;
  LoadOptions opts;
  opts.progress = [&](std::string_view what, int64_t) { progress.emplace_back(what); };
  auto r = load_archive(*store_, path, opts);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->images.size(), 1u) << "two entries of one manifest are one image";
  EXPECT_EQ(r->images[0].names,
            (std::vector<std::string>{"docker.io/library/a:1", "docker.io/library/a:2"}));
  EXPECT_EQ(progress.size(), 2u);  // config and layer; the manifest was built here

  ContentStore other = open_store("other");
  path = archive({file(name, l), file("c.json", config({diff_id(layer("two"))})),
                  file("manifest.json", "[" + manifest_json("c.json", {}, {name}) + "]")});
  r = load_archive(other, path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt);
  EXPECT_THAT(r.error().message(), HasSubstr("layer '" + name + "': diff id mismatch"));
  EXPECT_FALSE(other.exists(sha256_of(l)));
}

// --- saving and round trips ---

TEST_F(ArchiveTest, DockerArchiveRoundTripKeepsIdsDiffIdsAndManifestDigest) {
  auto image = import_image(*store_, "sh");
  std::string out = dir_ + "/saved.tar";
  auto saved = save_archive(
      *store_, {{image.manifest, {"docker.io/library/busybox:latest", "localhost/app:1"}}},
      ArchiveFormat::docker_archive, out);
  ASSERT_TRUE(saved) << saved.error().message();
  auto members = tar_members(out);
  EXPECT_EQ(
      members["manifest.json"],
      fmt::format(
          R"([{{"Config":"{}.json","Layers":["{}.tar"],"RepoTags":["busybox:latest","localhost/app:1"]}}])",
          Digest::parse(image.config.digest)->encoded(),
          Digest::parse(image.layer.digest)->encoded()));
  EXPECT_FALSE(fs::exists(out + ".tmp-" + std::to_string(::getpid())));

  ContentStore other = open_store("other");
  auto r = load_archive(other, out);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->images.size(), 1u);
  EXPECT_EQ(r->images[0].manifest.digest, image.manifest.digest);
  EXPECT_EQ(r->images[0].names,
            (std::vector<std::string>{"docker.io/library/busybox:latest", "localhost/app:1"}));
  auto m = manifest_of(r->images[0].manifest, other);
  EXPECT_EQ(m.config.digest, image.config.digest);
  EXPECT_EQ(config_of(m, other).diff_ids, std::vector<std::string>{image.diff_id.str()});
}

TEST_F(ArchiveTest, OciArchiveRoundTripKeepsManifestDigestAndNames) {
  auto a = import_image(*store_, "a");
  auto b = import_image(*store_, "b");
  std::string out = dir_ + "/saved.oci.tar";
  auto saved =
      save_archive(*store_, {{a.manifest, {"localhost/a:1", "quay.io/x/a:2"}}, {b.manifest, {}}},
                   ArchiveFormat::oci_archive, out);
  ASSERT_TRUE(saved) << saved.error().message();
  auto members = tar_members(out);
  EXPECT_EQ(members["oci-layout"], oci::image_layout_json());
  EXPECT_TRUE(
      members.count("blobs/sha256/" + std::string(Digest::parse(a.layer.digest)->encoded())));
  auto index = oci::parse_index(members["index.json"], "index.json");
  ASSERT_TRUE(index) << index.error().message();
  ASSERT_EQ(index->manifests.size(), 3u);
  EXPECT_EQ(index->manifests[0].annotations.at(std::string(oci::kAnnotationRefName)),
            "localhost/a:1");

  ContentStore other = open_store("other");
  auto r = load_archive(other, out);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->format, ArchiveFormat::oci_archive);
  ASSERT_EQ(r->images.size(), 2u);
  EXPECT_EQ(r->images[0].manifest.digest, a.manifest.digest);
  EXPECT_EQ(r->images[0].names, (std::vector<std::string>{"localhost/a:1", "quay.io/x/a:2"}));
  EXPECT_EQ(r->images[1].manifest.digest, b.manifest.digest);
  EXPECT_TRUE(r->images[1].names.empty());
  auto blobs = other.list();
  ASSERT_TRUE(blobs);
  for (const auto& d : blobs.value()) EXPECT_TRUE(other.verify(d)) << d.str();
}

TEST_F(ArchiveTest, OciLayoutDirRoundTrip) {
  auto a = import_image(*store_, "a");
  std::string out = dir_ + "/layout";
  auto saved =
      save_archive(*store_, {{a.manifest, {"localhost/a:1"}}}, ArchiveFormat::oci_layout_dir, out);
  ASSERT_TRUE(saved) << saved.error().message();
  EXPECT_TRUE(fs::exists(out + "/index.json"));
  ContentStore other = open_store("other");
  auto r = load_archive(other, out);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->format, ArchiveFormat::oci_layout_dir);
  EXPECT_EQ(r->images[0].manifest.digest, a.manifest.digest);
  EXPECT_EQ(r->images[0].names, std::vector<std::string>{"localhost/a:1"});
}

TEST_F(ArchiveTest, SaveToStdoutStreamsATar) {
  auto a = import_image(*store_, "a");
  std::string out = dir_ + "/stdout.tar";
  auto fd = sys::open(out, O_WRONLY | O_CREAT | O_TRUNC);
  int saved_fd = ::dup(1);
  ::fflush(stdout);
  ASSERT_EQ(::dup2(fd->get(), 1), 1);
  auto saved =
      save_archive(*store_, {{a.manifest, {"localhost/a:1"}}}, ArchiveFormat::oci_archive, "-");
  ::dup2(saved_fd, 1);
  ::close(saved_fd);
  ASSERT_TRUE(saved) << saved.error().message();
  EXPECT_TRUE(tar_members(out).count("index.json"));
}

TEST_F(ArchiveTest, FailedSaveLeavesNoFile) {
  auto a = import_image(*store_, "a");
  ASSERT_TRUE(store_->remove(*Digest::parse(a.layer.digest)));
  std::string out = dir_ + "/saved.tar";
  auto saved = save_archive(*store_, {{a.manifest, {}}}, ArchiveFormat::docker_archive, out);
  ASSERT_FALSE(saved);
  EXPECT_EQ(saved.error().kind(), ErrorKind::not_found);
  EXPECT_THAT(saved.error().message(), HasSubstr("layer " + a.layer.digest + ": not in the store"));
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp-" + std::to_string(::getpid())));
}

TEST_F(ArchiveTest, SaveRefusesABlobCorruptedInTheStore) {
  auto a = import_image(*store_, "a");
  std::string blob = store_->blob_path(*Digest::parse(a.layer.digest));
  std::string bytes = slurp(blob);
  bytes[bytes.size() / 2] ^= 1;
  ASSERT_TRUE(sys::atomic_write(blob, bytes));
  auto saved =
      save_archive(*store_, {{a.manifest, {}}}, ArchiveFormat::oci_archive, dir_ + "/x.tar");
  ASSERT_FALSE(saved);
  EXPECT_EQ(saved.error().kind(), ErrorKind::corrupt);
  EXPECT_THAT(saved.error().message(),
              HasSubstr("blob " + a.layer.digest + " in the store hashes to"));
  EXPECT_FALSE(fs::exists(dir_ + "/x.tar"));
}

// --- OCI archives built by hand ---

class OciArchiveTest : public ArchiveTest {
 protected:
  std::string blob_name(const std::string& data) {
    return "blobs/sha256/" + std::string(sha256_of(data).encoded());
  }
  std::string descriptor(std::string_view media_type, const std::string& data,
                         const std::string& extra = "") {
    return fmt::format(R"({{"mediaType":"{}","digest":"{}","size":{}{}}})", media_type,
                       sha256_of(data).str(), data.size(), extra);
  }
  // An image for `arch`: adds its blobs to `entries`, returns its manifest.
  std::string image(std::vector<TarEntry>& entries, const std::string& arch,
                    const std::string& content) {
    std::string l = layer(content, "gzip");
    std::string c = config({diff_id(l)}, arch);
    std::string m =
        fmt::format(R"({{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{}]}})",
                    oci::media_type::kImageManifest, descriptor(oci::media_type::kImageConfig, c),
                    descriptor(oci::media_type::kLayerGzip, l));
    for (const auto& blob : {l, c, m}) entries.push_back(file(blob_name(blob), blob));
    return m;
  }
  std::string index(const std::vector<std::string>& descriptors) {
    std::string list;
    for (const auto& d : descriptors) list += (list.empty() ? "" : ",") + d;
    return fmt::format(R"({{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}})",
                       oci::media_type::kImageIndex, list);
  }
  static std::string ref(const std::string& name) {
    return fmt::format(R"(,"annotations":{{"org.opencontainers.image.ref.name":"{}"}})", name);
  }
};

TEST_F(OciArchiveTest, NestedIndexPicksTheWantedPlatformAndBareTagsNameTheArchive) {
  std::vector<TarEntry> entries{file("oci-layout", oci::image_layout_json())};
  std::string arm = image(entries, "arm64", "arm"), amd = image(entries, "amd64", "amd");
  std::string nested = index({descriptor(oci::media_type::kImageManifest, arm,
                                         R"(,"platform":{"architecture":"arm64","os":"linux"})"),
                              descriptor(oci::media_type::kImageManifest, amd,
                                         R"(,"platform":{"architecture":"amd64","os":"linux"})")});
  entries.push_back(file(blob_name(nested), nested));
  entries.push_back(
      file("index.json", index({descriptor(oci::media_type::kImageIndex, nested, ref("v1"))})));
  auto path = archive(entries, "", "My_Image.oci.tar");
  LoadOptions opts;
  opts.architecture = "amd64";
  auto r = load_archive(*store_, path, opts);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->images.size(), 1u);
  EXPECT_EQ(r->images[0].manifest.digest, sha256_of(amd).str());
  EXPECT_EQ(r->images[0].names, std::vector<std::string>{"localhost/my_image:v1"});
  EXPECT_FALSE(store_->exists(sha256_of(arm)));

  opts.architecture = "s390x";
  r = load_archive(*store_, path, opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::not_found);
  EXPECT_THAT(r.error().message(),
              HasSubstr("index.json: manifests[0]: no manifest for linux/s390x"));
}

TEST_F(OciArchiveTest, PlatformManifestsListedInIndexJsonAreFiltered) {
  std::vector<TarEntry> entries{file("oci-layout", oci::image_layout_json())};
  std::string arm = image(entries, "arm64", "arm"), amd = image(entries, "amd64", "amd");
  entries.push_back(file(
      "index.json", index({descriptor(oci::media_type::kImageManifest, arm,
                                      R"(,"platform":{"architecture":"arm64","os":"linux"})"),
                           descriptor(oci::media_type::kImageManifest, amd,
                                      R"(,"platform":{"architecture":"amd64","os":"linux"})")})));
  LoadOptions opts;
  opts.architecture = "amd64";
  auto r = load_archive(*store_, archive(entries), opts);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->images.size(), 1u);
  EXPECT_EQ(r->images[0].manifest.digest, sha256_of(amd).str());
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_THAT(r->warnings[0],
              HasSubstr("manifests[0]: skipped: platform linux/arm64, not linux/amd64"));

  opts.architecture = "riscv64";
  r = load_archive(*store_, archive(entries), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::not_found);
  EXPECT_THAT(r.error().message(), HasSubstr("index.json: no image manifest for linux/riscv64"));
}

TEST_F(OciArchiveTest, ContainerdNameAndFullRefNamesAreNormalised) {
  std::vector<TarEntry> entries{file("oci-layout", oci::image_layout_json())};
  std::string m = image(entries, "amd64", "x");
  entries.push_back(file(
      "index.json",
      index(
          {descriptor(oci::media_type::kImageManifest, m, ref("busybox:1")),
           descriptor(
               oci::media_type::kImageManifest, m,
               R"(,"annotations":{"io.containerd.image.name":"docker.io/library/busybox:2","org.opencontainers.image.ref.name":"2"})")})));
  auto r = load(archive(entries));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->images.size(), 1u);
  EXPECT_EQ(r->images[0].names,
            (std::vector<std::string>{"localhost/busybox:1", "docker.io/library/busybox:2"}));
}

TEST_F(OciArchiveTest, BlobDigestMismatchIsCorruptAndStoresNothing) {
  std::vector<TarEntry> entries{file("oci-layout", oci::image_layout_json())};
  std::string m = image(entries, "amd64", "x");
  std::string layer_name = entries[1].path;  // layer, config, manifest
  entries[1].data[entries[1].data.size() / 2] ^= 1;
  entries.push_back(file("index.json", index({descriptor(oci::media_type::kImageManifest, m)})));
  auto r = load(archive(entries));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt);
  EXPECT_THAT(r.error().message(),
              HasSubstr("blob '" + layer_name + "': digest mismatch: expected"));
  expect_store_empty();
}

TEST_F(OciArchiveTest, MissingBlobIsNotFound) {
  std::vector<TarEntry> entries{file("oci-layout", oci::image_layout_json())};
  std::string m = image(entries, "amd64", "x");
  std::string layer_name = entries[1].path;
  entries.erase(entries.begin() + 1);
  entries.push_back(file("index.json", index({descriptor(oci::media_type::kImageManifest, m)})));
  auto r = load(archive(entries));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::not_found);
  EXPECT_THAT(r.error().message(),
              HasSubstr("layers[0]: blob '" + layer_name + "': no such member in the archive"));
  expect_store_empty();
}

TEST_F(OciArchiveTest, MalformedIndexIsCorrupt) {
  auto r = load(archive({file("oci-layout", oci::image_layout_json()), file("index.json", "{]")}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt);
  EXPECT_THAT(r.error().message(), HasSubstr("index.json"));
}

TEST_F(OciArchiveTest, LayoutDirBlobMismatchIsCorrupt) {
  auto a = import_image(*store_, "a");
  std::string out = dir_ + "/layout";
  ASSERT_TRUE(save_archive(*store_, {{a.manifest, {}}}, ArchiveFormat::oci_layout_dir, out));
  std::string blob = out + "/blobs/sha256/" + std::string(Digest::parse(a.layer.digest)->encoded());
  std::string bytes = slurp(blob);
  bytes[bytes.size() / 2] ^= 1;
  ASSERT_TRUE(sys::atomic_write(blob, bytes));
  ContentStore other = open_store("other");
  auto r = load_archive(other, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::corrupt);
  EXPECT_THAT(r.error().message(), HasSubstr("digest mismatch"));
  EXPECT_FALSE(other.exists(*Digest::parse(a.layer.digest)));
  EXPECT_FALSE(other.exists(*Digest::parse(a.manifest.digest)));
}

TEST(ArchiveFormat, NamesParseBack) {
  for (auto f :
       {ArchiveFormat::docker_archive, ArchiveFormat::oci_archive, ArchiveFormat::oci_layout_dir})
    EXPECT_EQ(*parse_archive_format(archive_format_name(f)), f);
  EXPECT_FALSE(parse_archive_format("zip"));
}

}  // namespace
}  // namespace berth::image
