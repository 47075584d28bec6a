#include "image/digest.h"

#include <gtest/gtest.h>

#include <unordered_set>

namespace berth::image {
namespace {

TEST(ImageDigest, Sha256OfKnownVectors) {
  EXPECT_EQ(sha256_of("").str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_of("abc").str(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ImageDigest, StreamingEqualsOneShotAndRestartsAfterFinish) {
  Sha256 h;
  h.update("a");
  h.update(std::string_view("bc"));
  EXPECT_EQ(h.finish(), sha256_of("abc"));
  h.update("");
  EXPECT_EQ(h.finish(), sha256_of(""));
}

TEST(ImageDigest, ParseAndParts) {
  auto d = Digest::parse(sha256_of("x").str());
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->is_sha256());
  EXPECT_EQ(d->algorithm(), "sha256");
  EXPECT_EQ(d->encoded().size(), 64u);
  EXPECT_EQ(d->short_id(), std::string(d->encoded().substr(0, 12)));
  std::unordered_set<Digest> set{*d, *d};
  EXPECT_EQ(set.size(), 1u);
  auto other = Digest::parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8");
  ASSERT_TRUE(other) << other.error().message();
  EXPECT_FALSE(other->is_sha256());
}

TEST(ImageDigest, ParseRejectsBadGrammarWithTheReason) {
  auto msg = [](std::string_view s) {
    auto d = Digest::parse(s);
    EXPECT_FALSE(d) << s;
    return d ? std::string() : d.error().message();
  };
  EXPECT_NE(msg("abc").find("want algorithm:encoded"), std::string::npos);
  EXPECT_NE(msg("SHA256:abc").find("bad algorithm"), std::string::npos);
  EXPECT_NE(msg("sha256+:abc").find("bad algorithm"), std::string::npos);
  EXPECT_NE(msg("sha256:").find("empty encoded part"), std::string::npos);
  EXPECT_NE(msg("sha256:" + std::string(63, 'a')).find("64 lower-case hex"), std::string::npos);
  EXPECT_NE(msg("sha256:" + std::string(64, 'A')).find("64 lower-case hex"), std::string::npos);
  EXPECT_NE(msg("foo:a/b").find("character '/'"), std::string::npos);
  EXPECT_TRUE(Digest::parse("sha512:" + std::string(128, 'f')));
}

}  // namespace
}  // namespace berth::image
