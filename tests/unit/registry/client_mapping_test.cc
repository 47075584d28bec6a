// Where a reference's requests go (endpoint, URLs) and which manifest of an index is taken.
#include <gtest/gtest.h>

#include "http/client.h"
#include "oci/image_spec.h"
#include "registry/client.h"

namespace berth::registry {
namespace {

TEST(Endpoints, LoopbackTriesPlainHttpFirstOthersHttpsOnly) {
  auto local = candidate_endpoints("127.0.0.1:5000", true);
  ASSERT_EQ(local.size(), 2u);
  EXPECT_EQ(local[0].base(), "http://127.0.0.1:5000");
  EXPECT_EQ(local[1].base(), "https://127.0.0.1:5000");
  EXPECT_EQ(candidate_endpoints("localhost:5000", true)[0].scheme, "http");
  EXPECT_EQ(candidate_endpoints("[::1]:5000", true)[0].scheme, "http");
  auto remote = candidate_endpoints("registry.example:443", true);
  ASSERT_EQ(remote.size(), 1u);
  EXPECT_EQ(remote[0].base(), "https://registry.example:443");
  auto insecure = candidate_endpoints("registry.example", false);
  ASSERT_EQ(insecure.size(), 2u);
  EXPECT_EQ(insecure[1].base(), "http://registry.example");
  EXPECT_EQ(candidate_endpoints("docker.io", true)[0].base(), "https://registry-1.docker.io");
}

TEST(Endpoints, ReferenceToUrls) {
  Endpoint e{"http", "127.0.0.1:5000"};
  auto tagged = image::Reference::parse("127.0.0.1:5000/team/app:1");
  ASSERT_TRUE(tagged);
  EXPECT_EQ(e.manifest_url(*tagged), "http://127.0.0.1:5000/v2/team/app/manifests/1");
  std::string d = "sha256:" + std::string(64, 'a');
  auto pinned = image::Reference::parse("127.0.0.1:5000/team/app@" + d);
  ASSERT_TRUE(pinned);
  EXPECT_EQ(e.manifest_url(*pinned), "http://127.0.0.1:5000/v2/team/app/manifests/" + d);
  EXPECT_EQ(e.blob_url("team/app", d), "http://127.0.0.1:5000/v2/team/app/blobs/" + d);
  EXPECT_EQ(e.uploads_url("team/app"), "http://127.0.0.1:5000/v2/team/app/blobs/uploads/");
}

TEST(Urls, ParseAndResolveLocations) {
  auto u = http::Url::parse("http://127.0.0.1:5000/v2/team/app/blobs/uploads/abc?_state=x");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "5000");
  EXPECT_EQ(u->target, "/v2/team/app/blobs/uploads/abc?_state=x");
  EXPECT_EQ(u->resolve("/v2/x")->str(), "http://127.0.0.1:5000/v2/x");
  EXPECT_EQ(u->resolve("def")->str(), "http://127.0.0.1:5000/v2/team/app/blobs/uploads/def");
  EXPECT_EQ(u->resolve("https://s3.example/b?sig=1")->str(), "https://s3.example/b?sig=1");
  auto v6 = http::Url::parse("https://[::1]/v2/");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "443");
  EXPECT_EQ(v6->authority(), "[::1]");
  auto bad = http::Url::parse("ftp://x/");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("scheme 'ftp'"), std::string::npos);
  EXPECT_FALSE(http::Url::parse("http://host:port/"));
}

oci::Descriptor entry(std::string os, std::string arch, std::string variant, char fill) {
  oci::Descriptor d;
  d.media_type = oci::media_type::kImageManifest;
  d.digest = "sha256:" + std::string(64, fill);
  d.size = 100;
  d.platform = oci::Platform{arch, os, "", {}, variant};
  return d;
}

TEST(Platforms, PicksTheWantedPlatformFromAnIndex) {
  oci::Index index;
  index.manifests = {entry("linux", "arm", "v7", 'a'), entry("linux", "arm64", "v8", 'b'),
                     entry("linux", "amd64", "", 'c'), entry("unknown", "unknown", "", 'd'),
                     entry("windows", "amd64", "", 'e')};
  PlatformWanted amd64{"linux", "amd64", ""};
  auto chosen = select_platform(index, amd64, "x:1");
  ASSERT_TRUE(chosen) << chosen.error().message();
  EXPECT_EQ(chosen->digest[7], 'c');
  auto arm64 = select_platform(index, PlatformWanted{"linux", "arm64", ""}, "x:1");
  ASSERT_TRUE(arm64);
  EXPECT_EQ(arm64->digest[7], 'b');
  auto armv7 = select_platform(index, *PlatformWanted::parse("linux/arm/v7"), "x:1");
  ASSERT_TRUE(armv7);
  EXPECT_EQ(armv7->digest[7], 'a');
}

TEST(Platforms, Arm64V8MatchesAnEntryWithoutVariant) {
  oci::Index index;
  index.manifests = {entry("linux", "arm64", "", 'b')};
  auto chosen = select_platform(index, *PlatformWanted::parse("linux/arm64/v8"), "x:1");
  ASSERT_TRUE(chosen);
  EXPECT_EQ(chosen->digest[7], 'b');
}

TEST(Platforms, NamesWhatThereIsWhenNothingFits) {
  oci::Index index;
  index.manifests = {entry("linux", "arm64", "v8", 'b'), entry("unknown", "unknown", "", 'd')};
  auto chosen = select_platform(index, PlatformWanted{"linux", "s390x", ""}, "127.0.0.1:5000/x:1");
  ASSERT_FALSE(chosen);
  EXPECT_EQ(chosen.error().kind(), ErrorKind::not_found);
  EXPECT_EQ(chosen.error().message(), "no linux/s390x image in 127.0.0.1:5000/x:1: it has linux/arm64/v8");
  EXPECT_FALSE(PlatformWanted::parse("linux"));
}

TEST(Platforms, AnIndexOfOneImageWithoutPlatformIsThatImage) {
  oci::Index index;
  auto d = entry("linux", "amd64", "", 'f');
  d.platform.reset();
  index.manifests = {d};
  auto chosen = select_platform(index, PlatformWanted{"linux", "amd64", ""}, "x");
  ASSERT_TRUE(chosen);
  EXPECT_EQ(chosen->digest[7], 'f');
}

}  // namespace
}  // namespace berth::registry
