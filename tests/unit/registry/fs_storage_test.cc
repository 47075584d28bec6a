// The filesystem storage and gc on a temp dir: uploads (resume after a "restart", digest checks),
// blob visibility per repository, mounts, manifests, tags, referrers, the gc grace period.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <optional>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sys.h"
#include "registry/gc.h"
#include "registry/manifest.h"
#include "registry/storage.h"

using namespace berth;
using namespace berth::registry;

namespace {

class FsStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fmt::format("/tmp/berth-fs-storage-test-{}-{}", ::getpid(), counter_++);
    auto s = open_filesystem_storage(root_);
    ASSERT_TRUE(s) << s.error().message();
    storage_ = std::move(*s);
  }
  void TearDown() override { (void)sys::remove_all(root_); }

  image::Digest push(const std::string& repo, const std::string& data) {
    auto u = storage_->create_upload(repo);
    EXPECT_TRUE(u);
    EXPECT_TRUE((*u)->append(data.data(), data.size()));
    image::Digest d = image::sha256_of(data);
    auto c = (*u)->commit(d);
    EXPECT_TRUE(c) << (c ? "" : c.error().message());
    return d;
  }

  std::string read_blob(const std::string& repo, const image::Digest& d) {
    auto b = storage_->open_blob(repo, d);
    if (!b) return "<" + b.error().message() + ">";
    std::string out(b->size, '\0');
    EXPECT_EQ(::pread(b->fd.get(), out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
    return out;
  }

  std::string manifest_for(const image::Digest& config, const image::Digest& layer,
                           const std::string& extra = "") {
    return fmt::format(
        R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
        R"("config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},)"
        R"("layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":5}}]{}}})",
        config.str(), layer.str(), extra);
  }

  Result<void> put(const std::string& repo, const std::string& body,
                   std::optional<std::string> tag) {
    BERTH_TRY(auto facts, inspect_manifest(body, ""));
    image::Digest d = image::sha256_of(body);
    Referrer self{d, facts.media_type, body.size(), facts.artifact_type, facts.annotations_json};
    return storage_->put_manifest(repo, ManifestRecord{d, facts.media_type, body}, tag,
                                  facts.subject, self);
  }

  static inline int counter_ = 0;
  std::string root_;
  std::unique_ptr<Storage> storage_;
};

}  // namespace

TEST_F(FsStorageTest, ABlobIsVisibleOnlyAfterItsDigestMatchedAndOnlyInItsRepository) {
  auto u = storage_->create_upload("a/one");
  ASSERT_TRUE(u);
  ASSERT_TRUE((*u)->append("hello", 5));
  image::Digest d = image::sha256_of("hello");
  EXPECT_FALSE(storage_->stat_blob("a/one", d));
  auto wrong = (*u)->commit(image::sha256_of("other"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(wrong.error().message().find(d.str()), std::string::npos) << wrong.error().message();
  EXPECT_FALSE(storage_->stat_blob("a/one", d));
  // The session survives a failed check (its hash is recomputed from the file).
  auto again = storage_->open_upload("a/one", (*u)->id());
  ASSERT_TRUE(again);
  ASSERT_TRUE((*again)->commit(d));
  EXPECT_EQ(read_blob("a/one", d), "hello");
  EXPECT_FALSE(storage_->stat_blob("a/two", d));
  EXPECT_FALSE(storage_->open_upload("a/one", (*u)->id()));  // the session ended
}

TEST_F(FsStorageTest, AnUploadResumesInANewProcessFromWhatIsOnDisk) {
  auto u = storage_->create_upload("a/one");
  ASSERT_TRUE(u);
  std::string id = (*u)->id();
  ASSERT_TRUE((*u)->append("hello ", 6));
  // Another storage object on the same root: as a restarted server sees it.
  auto restarted = open_filesystem_storage(root_);
  ASSERT_TRUE(restarted);
  auto resumed = (*restarted)->open_upload("a/one", id);
  ASSERT_TRUE(resumed);
  EXPECT_EQ((*resumed)->size(), 6u);
  ASSERT_TRUE((*resumed)->append("world", 5));
  ASSERT_TRUE((*resumed)->commit(image::sha256_of("hello world")));
  EXPECT_EQ(read_blob("a/one", image::sha256_of("hello world")), "hello world");
  EXPECT_FALSE((*restarted)->open_upload("a/two", "0123"));
  EXPECT_FALSE((*restarted)->open_upload("a/one", "../../etc"));
}

TEST_F(FsStorageTest, MountLinksABlobOfAnotherRepository) {
  image::Digest d = push("a/one", "layer");
  ASSERT_TRUE(storage_->mount_blob("b/two", "a/one", d));
  EXPECT_EQ(read_blob("b/two", d), "layer");
  EXPECT_FALSE(storage_->mount_blob("c/three", "nowhere", d));
  ASSERT_TRUE(storage_->unlink_blob("b/two", d));
  EXPECT_FALSE(storage_->stat_blob("b/two", d));
  EXPECT_EQ(read_blob("a/one", d), "layer");
}

TEST_F(FsStorageTest, ManifestsTagsAndReferrers) {
  image::Digest config = push("a/one", "{}");
  image::Digest layer = push("a/one", "layer");
  std::string m = manifest_for(config, layer);
  ASSERT_TRUE(put("a/one", m, "v1"));
  ASSERT_TRUE(put("a/one", m, "v2"));
  auto got = storage_->get_manifest("a/one", "v1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->content, m);
  EXPECT_EQ(got->media_type, "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(*storage_->list_tags("a/one"), (std::vector<std::string>{"v1", "v2"}));
  EXPECT_EQ(*storage_->list_repositories(), (std::vector<std::string>{"a/one"}));
  std::string sig = manifest_for(
      config, layer,
      fmt::format(
          R"(,"artifactType":"application/x.sig","subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{}}})",
          got->digest.str(), m.size()));
  ASSERT_TRUE(put("a/one", sig, std::nullopt));
  auto refs = storage_->referrers("a/one", got->digest);
  ASSERT_TRUE(refs);
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].artifact_type, "application/x.sig");
  EXPECT_EQ((*refs)[0].digest, image::sha256_of(sig));
  ASSERT_TRUE(storage_->delete_manifest("a/one", image::sha256_of(sig)));
  EXPECT_TRUE(storage_->referrers("a/one", got->digest)->empty());
  ASSERT_TRUE(storage_->delete_tag("a/one", "v2"));
  ASSERT_TRUE(storage_->delete_manifest("a/one", got->digest));
  EXPECT_FALSE(storage_->get_manifest("a/one", "v1"));
  EXPECT_TRUE(storage_->list_tags("a/one")->empty());
  EXPECT_FALSE(storage_->list_tags("no/such"));
}

// The catalog: repositories nested in others, in byte order ("a-c" before "a/b"); a name with
// only an upload started (no blob or manifest yet) is not a repository.
TEST_F(FsStorageTest, RepositoriesAreListedNestedAndSortedWithoutUploadOnlyNames) {
  for (const char* repo : {"a", "a/b", "a-c", "c/d/e"}) push(repo, repo);
  ASSERT_TRUE(storage_->create_upload("x/y"));
  EXPECT_EQ(*storage_->list_repositories(), (std::vector<std::string>{"a", "a-c", "a/b", "c/d/e"}));
  EXPECT_TRUE(storage_->repository_exists("a/b"));
  EXPECT_FALSE(storage_->repository_exists("c/d"));
  EXPECT_FALSE(storage_->repository_exists("x/y"));
}

TEST_F(FsStorageTest, GcKeepsWhatManifestsNeedAndWhatIsYoungRemovesTheRest) {
  image::Digest config = push("a/one", "{}");
  image::Digest layer = push("a/one", "layer");
  image::Digest lone = push("a/two", "lone");
  ASSERT_TRUE(put("a/one", manifest_for(config, layer), "v1"));
  int64_t now = 2'000'000'000'000'000'000;  // far after every file's mtime
  GcOptions young;
  young.grace_seconds = 1'000'000'000;  // everything counts as young
  auto kept = collect_garbage(*storage_, young, now);
  ASSERT_TRUE(kept);
  EXPECT_TRUE(kept->removed_blobs.empty());
  EXPECT_EQ(kept->young_blobs, 1u);
  GcOptions dry;
  dry.dry_run = true;
  auto would = collect_garbage(*storage_, dry, now);
  ASSERT_TRUE(would);
  EXPECT_EQ(would->removed_blobs, (std::vector<image::Digest>{lone}));
  EXPECT_TRUE(storage_->stat_blob("a/two", lone));
  auto done = collect_garbage(*storage_, GcOptions{}, now);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->removed_blobs, (std::vector<image::Digest>{lone}));
  EXPECT_EQ(done->removed_bytes, 4u);
  EXPECT_EQ(done->kept_blobs, 3u);  // config, layer, manifest
  EXPECT_EQ(done->pruned_links, 1u);
  EXPECT_FALSE(storage_->stat_blob("a/two", lone));
  EXPECT_EQ(read_blob("a/one", layer), "layer");
}

TEST(InspectManifest, NamesWhatIsWrong) {
  EXPECT_FALSE(inspect_manifest("{", ""));
  auto schema1 = inspect_manifest(R"({"schemaVersion":1})", "");
  ASSERT_FALSE(schema1);
  EXPECT_NE(schema1.error().message().find("schema 1"), std::string::npos);
  // A version that is not a number is refused, not thrown over (that was a 500).
  for (const char* body : {R"({"schemaVersion":"2"})", R"({"schemaVersion":null})", R"({"schemaVersion":[2]})"}) {
    std::optional<bool> ok;
    EXPECT_NO_THROW(ok = bool(inspect_manifest(body, ""))) << body;
    EXPECT_EQ(ok, false) << body;
  }
  auto no_size = inspect_manifest(
      R"({"schemaVersion":2,"config":{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"layers":[]})",
      "application/vnd.oci.image.manifest.v1+json");
  ASSERT_FALSE(no_size);
  EXPECT_NE(no_size.error().message().find("config.size"), std::string::npos);
  auto index = inspect_manifest(R"({"schemaVersion":2,"manifests":[]})", "");
  ASSERT_TRUE(index);
  EXPECT_TRUE(index->is_index);
  auto other = inspect_manifest(R"({"schemaVersion":2})", "application/x-other");
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message().find("'application/x-other' is not supported"),
            std::string::npos);
}

// A non-distributable layer with urls is fetched from there, never pushed: the registry must not
// ask for it (distribution does not; the OCI conformance suite pushes one). Without urls nothing
// says where it lives, so it is a blob like any other.
TEST(InspectManifest, NonDistributableLayersWithUrlsAreForeignNotRequired) {
  const std::string a = "sha256:" + std::string(64, 'a'), b = "sha256:" + std::string(64, 'b'),
                    c = "sha256:" + std::string(64, 'c'), d = "sha256:" + std::string(64, 'd');
  auto facts = inspect_manifest(
      fmt::format(
          R"({{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[)"
          R"({{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"{}","size":9,"urls":["https://example.com/b"]}},)"
          R"({{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"{}","size":9,"urls":["https://example.com/c"]}},)"
          R"({{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"{}","size":9}}]}})",
          a, b, c, d),
      "application/vnd.oci.image.manifest.v1+json");
  ASSERT_TRUE(facts) << facts.error().message();
  auto digest = [](const std::string& s) { return image::Digest::parse(s).value(); };
  EXPECT_EQ(facts->blobs, (std::vector<image::Digest>{digest(a), digest(d)}));
  EXPECT_EQ(facts->foreign_layers, (std::vector<image::Digest>{digest(b), digest(c)}));
}

TEST_F(FsStorageTest, GcKeepsANonDistributableLayerSomeonePushedAnyway) {
  image::Digest config = push("a/one", "{}");
  image::Digest foreign = push("a/one", "foreign");
  ASSERT_TRUE(put(
      "a/one",
      fmt::format(
          R"({{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
          R"("config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},)"
          R"("layers":[{{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"{}","size":7,"urls":["https://example.com/f"]}}]}})",
          config.str(), foreign.str()),
      "v1"));
  auto done = collect_garbage(*storage_, GcOptions{}, 2'000'000'000'000'000'000);
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->removed_blobs.empty());
  EXPECT_EQ(read_blob("a/one", foreign), "foreign");
}

TEST_F(FsStorageTest, GcRemovesOldTemporariesACrashLeftAndKeepsFreshOnes) {
  std::string old_tmp = root_ + "/blobs/sha256/" + std::string(64, 'a') + ".tmp-0123456789abcdef";
  std::string new_tmp = root_ + "/blobs/sha256/" + std::string(64, 'b') + ".tmp-0123456789abcdef";
  ASSERT_TRUE(sys::mkdir_all(root_ + "/repositories/a/_manifests/tags"));
  std::string old_tag = root_ + "/repositories/a/_manifests/tags/v1.tmp-fedcba9876543210";
  for (const auto& p : {old_tmp, new_tmp, old_tag}) ASSERT_TRUE(sys::atomic_write(p, "x"));
  struct timespec past[2] = {{1000, 0}, {1000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, old_tmp.c_str(), past, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, old_tag.c_str(), past, 0), 0);
  GcOptions o;
  auto r = collect_garbage(*storage_, o, 1'000'000'000LL * (1000 + 2 * 24 * 3600));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->removed_temporaries, 2u);
  EXPECT_FALSE(sys::exists(old_tmp));
  EXPECT_FALSE(sys::exists(old_tag));
  EXPECT_TRUE(sys::exists(new_tmp));
}

TEST_F(FsStorageTest, GcRemovesWhatACrashLeftOfASession) {
  // Data already renamed into blobs/ (a crash before the cleanup), or no repository file yet.
  auto u = storage_->create_upload("a/one");
  ASSERT_TRUE(u);
  std::string dir = root_ + "/uploads/" + (*u)->id();
  ASSERT_EQ(::unlink((dir + "/data").c_str()), 0);
  std::string half = root_ + "/uploads/" + std::string(32, 'c');
  ASSERT_TRUE(sys::mkdir_all(half));
  auto r = collect_garbage(*storage_, GcOptions{}, 1'000'000'000LL * 4'000'000'000LL);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->removed_uploads.size(), 2u);
  EXPECT_FALSE(sys::exists(dir));
  EXPECT_FALSE(sys::exists(half));
  EXPECT_FALSE(storage_->cancel_upload("a/one", "../../x"));
}

namespace {
size_t open_descriptors() { return sys::list_dir("/proc/self/fd").size(); }
}  // namespace

TEST_F(FsStorageTest, AbandonedUploadsDoNotKeepADescriptorEachAndStayResumable) {
  const size_t before = open_descriptors();
  std::string first;
  for (int i = 0; i < 600; ++i) {
    auto u = storage_->create_upload("a/one");
    ASSERT_TRUE(u) << u.error().message();
    if (i == 0) {
      first = (*u)->id();
      ASSERT_TRUE((*u)->append("hel", 3));
    }
  }
  // Every session kept its data file open: 600 here, and a client starting uploads without end
  // took all of the process's descriptors. At most 256 stay open.
  EXPECT_LE(open_descriptors(), before + 256);
  // The first, long let go, resumes from what is on disk, hash included.
  auto again = storage_->open_upload("a/one", first);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ((*again)->size(), 3u);
  ASSERT_TRUE((*again)->append("lo", 2));
  auto c = (*again)->commit(image::sha256_of("hello"));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(read_blob("a/one", image::sha256_of("hello")), "hello");
}
