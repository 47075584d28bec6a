#include "build/context_filter.h"

#include <gtest/gtest.h>

#include <string>

namespace berth::build {
namespace {

IgnoreRules rules(std::string_view text) {
  auto parsed = IgnoreRules::parse(text, ".dockerignore");
  EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().message());
  return parsed ? *parsed : IgnoreRules{};
}

bool matches(std::string_view pattern, std::string_view path) {
  auto result = match_path(pattern, path);
  EXPECT_TRUE(result) << pattern << ": " << (result ? "" : result.error().message());
  return result && *result;
}

TEST(IgnoreRules, ParsesCommentsBlanksAndExceptions) {
  auto r = rules("# comment\n\n  *.log  \n!keep.log\n #not a comment\n");
  ASSERT_EQ(r.patterns().size(), 3u);
  EXPECT_EQ(r.patterns()[0].text, "*.log");
  EXPECT_FALSE(r.patterns()[0].exception);
  EXPECT_EQ(r.patterns()[1].text, "keep.log");
  EXPECT_TRUE(r.patterns()[1].exception);
  EXPECT_EQ(r.patterns()[2].text, "#not a comment");
  EXPECT_FALSE(r.empty());
  EXPECT_TRUE(rules("").empty());
}

TEST(IgnoreRules, CleansPatterns) {
  auto r = rules("/build\n./src/../dist/\n! /tmp//x\nfoo/./bar\n");
  ASSERT_EQ(r.patterns().size(), 4u);
  EXPECT_EQ(r.patterns()[0].text, "build");
  EXPECT_EQ(r.patterns()[1].text, "dist");
  EXPECT_EQ(r.patterns()[2].text, "tmp/x");
  EXPECT_TRUE(r.patterns()[2].exception);
  EXPECT_EQ(r.patterns()[3].text, "foo/bar");
}

TEST(IgnoreRules, StripsByteOrderMark) {
  auto r = rules(
      "\xEF\xBB\xBF"
      "node_modules\n");
  ASSERT_EQ(r.patterns().size(), 1u);
  EXPECT_EQ(r.patterns()[0].text, "node_modules");
}

TEST(IgnoreRules, MalformedPatternsAreErrors) {
  auto bad = IgnoreRules::parse("ok\n[a\n", ".dockerignore");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(bad.error().message(),
            ".dockerignore:2: invalid pattern '[a': syntax error in pattern");
  bad = IgnoreRules::parse("!\n", ".dockerignore");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), ".dockerignore:1: illegal exclusion pattern: \"!\"");
  EXPECT_FALSE(IgnoreRules::parse("a\\", "x"));
  EXPECT_FALSE(IgnoreRules::parse("[]", "x"));
  EXPECT_FALSE(IgnoreRules::parse("[z-a]", "x"));
}

TEST(IgnoreRules, StarStaysInsideOneElement) {
  auto r = rules("*.go\n");
  EXPECT_TRUE(r.excluded("main.go"));
  EXPECT_FALSE(r.excluded("pkg/x.go"));
  EXPECT_FALSE(r.excluded("main.gox"));
}

TEST(IgnoreRules, DoubleStarCrossesElements) {
  auto r = rules("**/*.go\n");
  EXPECT_TRUE(r.excluded("main.go"));
  EXPECT_TRUE(r.excluded("a/b/c/x.go"));
  EXPECT_FALSE(r.excluded("a/b/c/x.c"));
  r = rules("a/**/b\n");
  EXPECT_TRUE(r.excluded("a/b"));
  EXPECT_TRUE(r.excluded("a/x/y/b"));
  EXPECT_TRUE(r.excluded("a/x/y/b/inside"));
  EXPECT_FALSE(r.excluded("a/x/y/c"));
}

TEST(IgnoreRules, TrailingDoubleStarExcludesContentsNotTheDirectory) {
  auto r = rules("foo/**\n");
  EXPECT_TRUE(r.excluded("foo/x"));
  EXPECT_TRUE(r.excluded("foo/x/y"));
  EXPECT_FALSE(r.excluded("foo"));
  EXPECT_FALSE(r.excluded("foobar"));
}

TEST(IgnoreRules, LeadingDoubleStarIsASuffixMatch) {
  // patternmatcher's fast path: `**` then literal text matches any path ending in that text.
  auto r = rules("**foo\n");
  EXPECT_TRUE(r.excluded("barfoo"));
  EXPECT_TRUE(r.excluded("a/b/foo"));
  r = rules("**/foo\n");
  EXPECT_TRUE(r.excluded("foo"));
  EXPECT_TRUE(r.excluded("a/foo"));
  EXPECT_FALSE(r.excluded("afoo"));
}

TEST(IgnoreRules, ParentDirectoryMatchExcludesEverythingBelow) {
  auto r = rules("node_modules\na/b\n");
  EXPECT_TRUE(r.excluded("node_modules"));
  EXPECT_TRUE(r.excluded("node_modules/x/y.js"));
  EXPECT_TRUE(r.excluded("a/b/c/d"));
  EXPECT_FALSE(r.excluded("a"));
  EXPECT_FALSE(r.excluded("a/c"));
  EXPECT_FALSE(r.excluded("x/node_modules"));
}

TEST(IgnoreRules, ExceptionsAndLastMatchWins) {
  auto r = rules("docs\n!docs/README.md\n");
  EXPECT_TRUE(r.excluded("docs/guide.md"));
  EXPECT_FALSE(r.excluded("docs/README.md"));
  r = rules("!a.txt\n*.txt\n");
  EXPECT_TRUE(r.excluded("a.txt"));
  r = rules("*.txt\n!a.txt\n");
  EXPECT_FALSE(r.excluded("a.txt"));
  EXPECT_TRUE(r.excluded("b.txt"));
  r = rules("**\n!Dockerfile\n!src\n");
  EXPECT_FALSE(r.excluded("Dockerfile"));
  EXPECT_FALSE(r.excluded("src/main.c"));
  EXPECT_TRUE(r.excluded("README"));
}

TEST(IgnoreRules, ExceptionOfAParentReincludesBelow) {
  auto r = rules("*\n!keep\n");
  EXPECT_FALSE(r.excluded("keep/deep/file"));
  EXPECT_TRUE(r.excluded("other/file"));
}

TEST(IgnoreRules, ClassesQuestionMarksAndEscapes) {
  auto r = rules("[a-c].txt\n?.md\nlit\\*\n[^x]y\n");
  EXPECT_TRUE(r.excluded("b.txt"));
  EXPECT_FALSE(r.excluded("d.txt"));
  EXPECT_TRUE(r.excluded("a.md"));
  EXPECT_FALSE(r.excluded("ab.md"));
  EXPECT_TRUE(r.excluded("lit*"));
  EXPECT_FALSE(r.excluded("litx"));
  EXPECT_TRUE(r.excluded("ay"));
  EXPECT_FALSE(r.excluded("xy"));
}

TEST(IgnoreRules, DotsInPatternsAreLiteral) {
  auto r = rules("a.b\n(x)+\n");
  EXPECT_TRUE(r.excluded("a.b"));
  EXPECT_FALSE(r.excluded("axb"));
  EXPECT_TRUE(r.excluded("(x)+"));
}

TEST(IgnoreRules, PathsAreCleaned) {
  auto r = rules("build\n");
  EXPECT_TRUE(r.excluded("./build/x"));
  EXPECT_TRUE(r.excluded("build/"));
  EXPECT_FALSE(r.excluded(""));
  EXPECT_FALSE(r.excluded("."));
}

TEST(IgnoreRules, NonAsciiNames) {
  auto r = rules("caf\xC3\xA9/?.txt\n");
  EXPECT_TRUE(r.excluded("caf\xC3\xA9/\xC3\xBC.txt"));
  EXPECT_FALSE(r.excluded("caf\xC3\xA9/ab.txt"));
}

TEST(IgnoreRules, MayReincludeBelow) {
  auto r = rules("docs\n!docs/README.md\n");
  EXPECT_TRUE(r.may_reinclude_below("docs"));
  EXPECT_FALSE(r.may_reinclude_below("src"));
  r = rules("*\n!**/keep\n");
  EXPECT_TRUE(r.may_reinclude_below("any/dir"));
  r = rules("vendor\n!vendor/*/LICENSE\n");
  EXPECT_TRUE(r.may_reinclude_below("vendor"));
  EXPECT_TRUE(r.may_reinclude_below("vendor/lib"));
  EXPECT_FALSE(r.may_reinclude_below("vendor/lib/sub"));
  r = rules("node_modules\n");
  EXPECT_FALSE(r.may_reinclude_below("node_modules"));
}

TEST(IgnoreRules, LongPathsStayFast) {
  auto r = rules("**/**/**/**/**/**/**/**/*.x\n");
  std::string path;
  for (int i = 0; i < 200; ++i) path += "abcdefgh/";
  path += "file.y";
  EXPECT_FALSE(r.excluded(path));
}

TEST(MatchPath, GoPathMatchWithDoubleStar) {
  EXPECT_TRUE(matches("*.go", "main.go"));
  EXPECT_FALSE(matches("*.go", "a/b.go"));
  EXPECT_TRUE(matches("**/*.go", "a/b.go"));
  EXPECT_FALSE(matches("a/*", "a/b/c"));
  EXPECT_TRUE(matches("a/*/c", "a/b/c"));
  EXPECT_TRUE(matches("src/**", "src/a/b"));
  EXPECT_TRUE(matches("[!a]", "!"));  // Go's classes negate with ^, not !
  EXPECT_FALSE(matches("[^a]", "a"));
  EXPECT_TRUE(matches("\\[x\\]", "[x]"));
  EXPECT_TRUE(matches("*", ""));
  EXPECT_FALSE(matches("?", ""));
}

TEST(MatchPath, MalformedPatterns) {
  for (std::string_view bad : {"[", "[a", "a\\", "[a-]", "[]a]", "[\\"}) {
    auto result = match_path(bad, "a");
    EXPECT_FALSE(result) << bad;
    if (!result) {
      EXPECT_EQ(result.error().kind(), ErrorKind::invalid_argument);
    }
  }
}

TEST(HasGlob, SeesWildcardsButNotEscapedOnes) {
  EXPECT_TRUE(has_glob("*.go"));
  EXPECT_TRUE(has_glob("file?.txt"));
  EXPECT_TRUE(has_glob("[ab].txt"));
  EXPECT_FALSE(has_glob("plain/path.txt"));
  EXPECT_FALSE(has_glob("a\\*b"));
  EXPECT_FALSE(has_glob(""));
}

TEST(IgnoreRules, ManyStarsDoNotRecurse) {
  // As patternmatcher's regexp: each later `**` is (.*/)?, so "x" must start an element.
  auto r = rules(std::string(100000, '*') + "x\n");
  EXPECT_FALSE(r.excluded("abcx"));
  EXPECT_TRUE(r.excluded("abc/x"));
  EXPECT_TRUE(r.excluded("x"));
}

TEST(IgnoreRules, LongPatternsMatchParentsToo) {
  // More than 64 states: the matcher without bit masks.
  std::string dir = "very/" + std::string(80, 'd') + "/*";
  auto r = rules(dir + "\n");
  EXPECT_TRUE(r.excluded("very/" + std::string(80, 'd') + "/x/y/z"));
  EXPECT_FALSE(r.excluded("very/" + std::string(79, 'd') + "/x"));
}

TEST(IgnoreRules, CopiesShareTheirMatchers) {
  IgnoreRules copy;
  EXPECT_FALSE(copy.excluded("a"));
  {
    auto original = rules("a\n!a/keep\n");
    copy = original;
  }
  EXPECT_TRUE(copy.excluded("a/x"));
  EXPECT_FALSE(copy.excluded("a/keep"));
  EXPECT_TRUE(copy.may_reinclude_below("a"));
}

}  // namespace
}  // namespace berth::build
