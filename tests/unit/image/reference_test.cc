#include "image/reference.h"

#include <gtest/gtest.h>

namespace berth::image {
namespace {

std::string normal(std::string_view text) {
  auto ref = Reference::parse(text);
  EXPECT_TRUE(ref) << text << ": " << ref.error().message();
  return ref ? ref->to_string() : "";
}

std::string error_of(std::string_view text) {
  auto ref = Reference::parse(text);
  EXPECT_FALSE(ref) << text << " parsed as " << (ref ? ref->to_string() : "");
  return ref ? "" : ref.error().message();
}

constexpr const char* kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(ImageReference, NormalisesShortNamesToLocalhostLatest) {
  auto ref = Reference::parse("busybox");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->to_string(), "localhost/busybox:latest");
  EXPECT_EQ(ref->domain(), "localhost");
  EXPECT_EQ(ref->path(), "busybox");
  EXPECT_EQ(ref->tag(), "latest");
  EXPECT_FALSE(ref->digest());
  EXPECT_EQ(ref->repository(), "localhost/busybox");
}

TEST(ImageReference, KeepsTagsAndMultiComponentPaths) {
  EXPECT_EQ(normal("busybox:1.36"), "localhost/busybox:1.36");
  EXPECT_EQ(normal("library/busybox"), "localhost/library/busybox:latest");
  EXPECT_EQ(normal("a/b/c:v1.0-rc_1"), "localhost/a/b/c:v1.0-rc_1");
  EXPECT_EQ(normal("my-app.web__x"), "localhost/my-app.web__x:latest");
  EXPECT_EQ(normal("a--b"), "localhost/a--b:latest");
}

TEST(ImageReference, RecognisesDomainsByDotColonOrLocalhost) {
  EXPECT_EQ(normal("localhost/busybox"), "localhost/busybox:latest");
  EXPECT_EQ(normal("localhost:5000/busybox"), "localhost:5000/busybox:latest");
  EXPECT_EQ(normal("host:5000/a/b:tag"), "host:5000/a/b:tag");
  EXPECT_EQ(normal("docker.io/library/busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(normal("quay.io/x/y:1"), "quay.io/x/y:1");
  EXPECT_EQ(normal("[::1]:5000/a"), "[::1]:5000/a:latest");
  auto ref = Reference::parse("host:5000/a/b:tag");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->domain(), "host:5000");
  EXPECT_EQ(ref->path(), "a/b");
  EXPECT_EQ(ref->tag(), "tag");
}

TEST(ImageReference, DigestOnlyGetsNoDefaultTag) {
  std::string d = std::string("sha256:") + kHex;
  auto ref = Reference::parse("busybox@" + d);
  ASSERT_TRUE(ref) << ref.error().message();
  EXPECT_EQ(ref->tag(), "");
  ASSERT_TRUE(ref->digest());
  EXPECT_EQ(ref->digest()->str(), d);
  EXPECT_EQ(ref->to_string(), "localhost/busybox@" + d);
  EXPECT_EQ(normal("host:5000/a:1@" + d), "host:5000/a:1@" + d);
}

TEST(ImageReference, WithTagDropsDigest) {
  auto ref = Reference::parse(std::string("a@sha256:") + kHex);
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->with_tag("v2").to_string(), "localhost/a:v2");
}

TEST(ImageReference, ErrorsNameTheReferenceAndTheProblem) {
  EXPECT_EQ(error_of(""), "invalid reference '': empty");
  EXPECT_EQ(error_of("BusyBox"), "invalid reference 'BusyBox': repository name must be lower-case");
  EXPECT_NE(error_of("busybox:").find("tag '' is not valid"), std::string::npos);
  EXPECT_NE(error_of("busybox:-x").find("tag '-x' is not valid"), std::string::npos);
  EXPECT_NE(error_of("busybox:" + std::string(129, 'a')).find("is not valid"), std::string::npos);
  EXPECT_NE(error_of("a//b").find("empty path component"), std::string::npos);
  EXPECT_NE(error_of("a/b/").find("empty path component"), std::string::npos);
  EXPECT_NE(error_of("-a").find("path component '-a' is not valid"), std::string::npos);
  EXPECT_NE(error_of("a..b").find("'a..b' is not valid"), std::string::npos);
  EXPECT_NE(error_of("a___b").find("is not valid"), std::string::npos);
  EXPECT_NE(error_of("a@sha256:abc").find("sha256 wants 64 lower-case hex digits"),
            std::string::npos);
  EXPECT_NE(error_of("a@md5").find("want algorithm:encoded"), std::string::npos);
  EXPECT_NE(error_of(":tag").find("no repository name"), std::string::npos);
  EXPECT_NE(error_of("host:5000/").find("no repository name"), std::string::npos);
  EXPECT_NE(error_of("ho_st.com/a").find("'ho_st.com' is not a valid registry host"),
            std::string::npos);
  EXPECT_NE(error_of("host:abc/a").find("not a valid registry host"), std::string::npos);
  EXPECT_NE(error_of(kHex).find("image id"), std::string::npos);
  EXPECT_NE(error_of("a b").find("is not valid"), std::string::npos);
  EXPECT_NE(error_of(std::string(300, 'a')).find("longer than 255"), std::string::npos);
}

TEST(ImageReference, TagGrammar) {
  EXPECT_TRUE(is_valid_tag("latest"));
  EXPECT_TRUE(is_valid_tag("_x.Y-1"));
  EXPECT_TRUE(is_valid_tag(std::string(128, 'a')));
  EXPECT_FALSE(is_valid_tag(""));
  EXPECT_FALSE(is_valid_tag(".x"));
  EXPECT_FALSE(is_valid_tag("a/b"));
  EXPECT_FALSE(is_valid_tag(std::string(129, 'a')));
}

}  // namespace
}  // namespace berth::image
