#include "registry/names.h"

#include <gtest/gtest.h>

using namespace berth::registry;

TEST(RepositoryName, AcceptsTheSpecGrammar) {
  for (const char* ok : {"a", "library/busybox", "a-b/c__d/e.f", "x--y", "0/1/2", "team/app-1.2_3"})
    EXPECT_TRUE(validate_repository(ok)) << ok;
}

TEST(RepositoryName, RefusesPathTricksUpperCaseAndEmptyComponents) {
  for (const char* bad : {"", "../etc", "a/../b", "a//b", "/a", "a/", "Busybox", "a/./b", "_a",
                          "a_", "a___b", "a..b", "a/.hidden", "a b", "a%2fb"})
    EXPECT_FALSE(validate_repository(bad)) << bad;
  auto e = validate_repository("Team/app");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message().find("upper-case"), std::string::npos) << e.error().message();
  EXPECT_FALSE(validate_repository(std::string(256, 'a')));
  EXPECT_TRUE(validate_repository(std::string(255, 'a')));
}

TEST(Tag, AcceptsTheSpecGrammarOnly) {
  EXPECT_TRUE(validate_tag("latest"));
  EXPECT_TRUE(validate_tag("_v1.2-RC"));
  EXPECT_TRUE(validate_tag(std::string(128, 'a')));
  EXPECT_FALSE(validate_tag(std::string(129, 'a')));
  EXPECT_FALSE(validate_tag(""));
  EXPECT_FALSE(validate_tag(".hidden"));
  EXPECT_FALSE(validate_tag("-x"));
  EXPECT_FALSE(validate_tag("a/b"));
  EXPECT_FALSE(validate_tag("a:b"));
}

TEST(ContentRange, ParsesTheSpecFormAndTolerantVariants) {
  auto r = parse_content_range("0-1023");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 0u);
  EXPECT_EQ(r->last, 1023u);
  EXPECT_EQ(r->size(), 1024u);
  auto b = parse_content_range("bytes 10-19/100");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->first, 10u);
  EXPECT_EQ(b->size(), 10u);
}

TEST(ContentRange, RefusesMalformedOrBackwardsRanges) {
  for (const char* bad : {"", "5", "a-b", "10-5", "-5", "5-", "1-2-3", "0x1-2"})
    EXPECT_FALSE(parse_content_range(bad)) << bad;
  auto e = parse_content_range("10-5");
  EXPECT_NE(e.error().message().find("'10-5'"), std::string::npos);
}

TEST(Range, ResolvesAgainstTheBlobSize) {
  auto r = parse_range("bytes=0-9", 100);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->first, 0u);
  EXPECT_EQ((*r)->last, 9u);
  auto open = parse_range("bytes=90-", 100);
  ASSERT_TRUE(open && *open);
  EXPECT_EQ((*open)->last, 99u);
  auto clamped = parse_range("bytes=90-1000", 100);
  ASSERT_TRUE(clamped && *clamped);
  EXPECT_EQ((*clamped)->last, 99u);
  auto suffix = parse_range("bytes=-10", 100);
  ASSERT_TRUE(suffix && *suffix);
  EXPECT_EQ((*suffix)->first, 90u);
}

TEST(Range, OutsideTheBlobIsUnsatisfiableAndOddFormsAreIgnored) {
  auto r = parse_range("bytes=100-", 100);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), berth::ErrorKind::failed_precondition);
  auto several = parse_range("bytes=0-1,5-6", 100);
  ASSERT_TRUE(several);
  EXPECT_FALSE(*several);
  auto other_unit = parse_range("items=0-1", 100);
  ASSERT_TRUE(other_unit);
  EXPECT_FALSE(*other_unit);
}

// RFC 9110 14.1.1: a range whose last byte comes before its first is invalid, and 14.2 answers
// an invalid range with 416 (the OCI conformance suite sends "bytes=500-0").
TEST(Range, BackwardsIsUnsatisfiable) {
  auto r = parse_range("bytes=50-10", 100);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), berth::ErrorKind::failed_precondition);
  EXPECT_NE(r.error().message().find("'bytes=50-10'"), std::string::npos);
}

TEST(Glob, StarCrossesSlashes) {
  EXPECT_TRUE(glob_match("team/*", "team/app"));
  EXPECT_TRUE(glob_match("team/*", "team/a/b"));
  EXPECT_FALSE(glob_match("team/*", "teams/app"));
  EXPECT_TRUE(glob_match("*", "anything/at/all"));
  EXPECT_TRUE(glob_match("lib?ary/*", "library/x"));
}
