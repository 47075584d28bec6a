#include "image/content_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "base/sys.h"

namespace berth::image {
namespace {

namespace fs = std::filesystem;

class ContentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-cs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = ContentStore::open(dir_ + "/store");
    ASSERT_TRUE(store) << store.error().message();
    store_.emplace(std::move(*store));
  }
  void TearDown() override { (void)sys::remove_all(dir_); }
  size_t ingest_dir_entries() const {
    size_t n = 0;
    for (auto& e : fs::directory_iterator(dir_ + "/store/ingest")) (void)e, ++n;
    return n;
  }

  std::string dir_;
  std::optional<ContentStore> store_;
};

TEST_F(ContentStoreTest, CreatesAnOciLayout) {
  auto layout = sys::read_file(dir_ + "/store/oci-layout");
  ASSERT_TRUE(layout);
  EXPECT_EQ(*layout, R"({"imageLayoutVersion":"1.0.0"})");
  EXPECT_TRUE(fs::is_directory(dir_ + "/store/blobs/sha256"));
  EXPECT_TRUE(ContentStore::open(dir_ + "/store/"));  // reopening is fine
}

TEST_F(ContentStoreTest, IngestsAndReadsBack) {
  IngestOptions opts;
  opts.media_type = "application/vnd.oci.image.config.v1+json";
  auto d = store_->ingest(std::string_view("hello"), opts);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->digest, sha256_of("hello").str());
  EXPECT_EQ(d->size, 5);
  EXPECT_EQ(d->media_type, opts.media_type);
  Digest digest = sha256_of("hello");
  EXPECT_TRUE(store_->exists(digest));
  EXPECT_EQ(fs::path(store_->blob_path(digest)),
            fs::path(dir_ + "/store/blobs/sha256/" + std::string(digest.encoded())));
  EXPECT_EQ(*store_->read(digest), "hello");
  EXPECT_EQ(*store_->size(digest), 5);
  EXPECT_TRUE(store_->verify(digest));
  EXPECT_EQ(ingest_dir_entries(), 0u);
}

TEST_F(ContentStoreTest, IngestsFromAFd) {
  std::string path = dir_ + "/src";
  std::string data(200000, 'x');
  ASSERT_TRUE(sys::atomic_write(path, data));
  auto fd = sys::open(path, O_RDONLY);
  ASSERT_TRUE(fd);
  IngestOptions opts;
  opts.expected_digest = sha256_of(data);
  opts.expected_size = 200000;
  auto d = store_->ingest(fd->get(), opts);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->digest, sha256_of(data).str());
}

TEST_F(ContentStoreTest, DigestMismatchLeavesNothingVisible) {
  IngestOptions opts;
  opts.expected_digest = sha256_of("something else");
  auto d = store_->ingest(std::string_view("hello"), opts);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind(), ErrorKind::corrupt);
  EXPECT_EQ(d.error().message(), fmt::format("digest mismatch: expected {}, got {}",
                                             sha256_of("something else").str(),
                                             sha256_of("hello").str()));
  EXPECT_FALSE(store_->exists(sha256_of("hello")));
  EXPECT_FALSE(store_->exists(sha256_of("something else")));
  EXPECT_TRUE(store_->list()->empty());
  EXPECT_EQ(ingest_dir_entries(), 0u);
}

TEST_F(ContentStoreTest, SizeMismatchLeavesNothingVisible) {
  IngestOptions opts;
  opts.expected_size = 4;
  auto d = store_->ingest(std::string_view("hello"), opts);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().kind(), ErrorKind::corrupt);
  EXPECT_NE(d.error().message().find("size mismatch: expected 4 bytes, got 5"), std::string::npos);
  EXPECT_FALSE(store_->exists(sha256_of("hello")));
  EXPECT_EQ(ingest_dir_entries(), 0u);
}

TEST_F(ContentStoreTest, AbandonedWriterLeavesNothing) {
  {
    auto w = store_->writer();
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->write("partial"));
    EXPECT_EQ(ingest_dir_entries(), 1u);
  }
  EXPECT_EQ(ingest_dir_entries(), 0u);
  EXPECT_TRUE(store_->list()->empty());
}

TEST_F(ContentStoreTest, StreamingWriterInPieces) {
  auto w = store_->writer();
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->write("hel"));
  ASSERT_TRUE(w->write("lo"));
  EXPECT_EQ(w->written(), 5);
  auto d = w->commit();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->digest, sha256_of("hello").str());
  EXPECT_FALSE(w->commit());  // a writer commits once
}

TEST_F(ContentStoreTest, ConcurrentIngestOfTheSameBlob) {
  std::string data(1 << 20, 'z');
  for (size_t i = 0; i < data.size(); i += 7) data[i] = static_cast<char>(i);
  Digest want = sha256_of(data);
  std::vector<Result<oci::Descriptor>> results(8, Error(ErrorKind::internal, "not run"));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t)
    threads.emplace_back([&, t] {
      IngestOptions opts;
      opts.expected_digest = want;
      // Write in pieces so the writers interleave.
      auto w = store_->writer(opts);
      if (!w) {
        results[t] = std::move(w).error();
        return;
      }
      for (size_t off = 0; off < data.size(); off += 4096)
        if (auto r = w->write(std::string_view(data).substr(off, 4096)); !r) {
          results[t] = std::move(r).error();
          return;
        }
      results[t] = w->commit();
    });
  for (auto& th : threads) th.join();
  for (auto& r : results) ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(store_->verify(want));
  EXPECT_EQ(store_->list()->size(), 1u);
  EXPECT_EQ(ingest_dir_entries(), 0u);
}

TEST_F(ContentStoreTest, ListRemoveAndNotFound) {
  ASSERT_TRUE(store_->ingest(std::string_view("a")));
  ASSERT_TRUE(store_->ingest(std::string_view("b")));
  ASSERT_TRUE(sys::atomic_write(dir_ + "/store/blobs/sha256/junk", "x"));
  auto list = store_->list();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  ASSERT_TRUE(store_->remove(sha256_of("a")));
  ASSERT_TRUE(store_->remove(sha256_of("a")));  // idempotent
  EXPECT_EQ(store_->list()->size(), 1u);
  auto missing = store_->open_blob(sha256_of("a"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind(), ErrorKind::not_found);
  EXPECT_EQ(missing.error().message(), fmt::format("blob {} not found", sha256_of("a").str()));
  EXPECT_EQ(store_->size(sha256_of("a")).error().kind(), ErrorKind::not_found);
}

TEST_F(ContentStoreTest, VerifyDetectsCorruptionAndOtherAlgorithmsAreUnsupported) {
  ASSERT_TRUE(store_->ingest(std::string_view("good")));
  Digest d = sha256_of("good");
  ASSERT_TRUE(sys::atomic_write(store_->blob_path(d), "evil"));
  auto v = store_->verify(d);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().kind(), ErrorKind::corrupt);
  auto other = Digest::parse("sha512:" + std::string(128, 'a'));
  ASSERT_TRUE(other);
  EXPECT_EQ(store_->open_blob(*other).error().kind(), ErrorKind::unsupported);
  IngestOptions opts;
  opts.expected_digest = *other;
  EXPECT_EQ(store_->ingest(std::string_view("x"), opts).error().kind(), ErrorKind::unsupported);
}

}  // namespace
}  // namespace berth::image
