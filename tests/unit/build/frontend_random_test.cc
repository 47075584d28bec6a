// Random inputs built from the front end's own syntax (a fixed seed, so failures reproduce):
// nothing crashes, throws or hangs, and every error says where it is. A cheap stand-in for the
// fuzzers until they run.
#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <string>
#include <vector>

#include "build/context_filter.h"
#include "build/dockerfile.h"
#include "build/shell_words.h"

namespace berth::build {
namespace {

class Pieces {
 public:
  Pieces(std::vector<std::string> pieces, unsigned seed) : pieces_(std::move(pieces)), rng_(seed) {}

  std::string text(size_t max_pieces) {
    std::uniform_int_distribution<size_t> count(0, max_pieces);
    std::uniform_int_distribution<size_t> pick(0, pieces_.size() - 1);
    std::string out;
    for (size_t n = count(rng_); n > 0; --n) out += pieces_[pick(rng_)];
    return out;
  }

 private:
  std::vector<std::string> pieces_;
  std::mt19937 rng_;
};

TEST(FrontendRandom, DockerfilesParseOrFailWithALocation) {
  std::vector<std::string> pieces = {"\n",
                                     " ",
                                     "\t",
                                     "\\",
                                     "\\\n",
                                     "`",
                                     "#",
                                     "# escape=`\n",
                                     "# syntax=x\n",
                                     "\"",
                                     "'",
                                     "=",
                                     "[",
                                     "]",
                                     "\"a\"",
                                     ",",
                                     "<<EOF",
                                     "<<-EOF",
                                     "EOF\n",
                                     "\tEOF\n",
                                     "<<'E'",
                                     "E\n",
                                     "--",
                                     "--from=a",
                                     "--link",
                                     "--mount=type=cache",
                                     "--network=none",
                                     "--interval=1s",
                                     "--retries=2",
                                     "AS",
                                     "as x",
                                     "NONE",
                                     "CMD",
                                     "${",
                                     "}",
                                     "$A",
                                     "x",
                                     "1",
                                     "\r\n",
                                     "\xEF\xBB\xBF",
                                     "\xC3\xA9"};
  for (auto keyword : dockerfile_keywords()) {
    pieces.push_back(std::string(keyword) + " ");
    pieces.push_back("\n" + std::string(keyword) + " ");
  }
  Pieces gen(pieces, 1234);
  std::regex located(R"(^r:(\d+):(\d+): [^]+)");
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = (i % 2 ? "FROM a\n" : "") + gen.text(40);
    auto result = parse_dockerfile(text, "r");
    if (result) {
      ++parsed;
      continue;
    }
    EXPECT_TRUE(std::regex_match(result.error().message(), located))
        << result.error().message() << "\n--- input:\n"
        << text;
  }
  EXPECT_GT(parsed, 100);
}

TEST(FrontendRandom, ShellWordsNeverCrash) {
  Pieces gen({"$", "{", "}", ":", "-",  "+",  "?", "#", "%", "/",        "//", "A",
              "B", "1", "@", "'", "\"", "\\", "`", " ", "*", "\xC3\xA9", "<<", "x"},
             99);
  VariableLookup lookup = [](std::string_view name) -> std::optional<std::string> {
    if (name == "A") return std::string("a b/c*d");
    if (name == "B") return std::string();
    return std::nullopt;
  };
  for (int i = 0; i < 20000; ++i) {
    std::string text = gen.text(30);
    ExpandOptions options;
    options.escape = i % 3 == 0 ? '`' : '\\';
    std::vector<std::string> used;
    options.used = &used;
    auto word = expand_word(text, lookup, options);
    auto words = expand_words(text, lookup, options);
    auto body = expand_heredoc(text, lookup, options);
    // One word and the words agree on whether the text is well formed.
    EXPECT_EQ(word.ok(), words.ok()) << text;
    if (!word) {
      EXPECT_EQ(word.error().kind(), ErrorKind::invalid_argument) << text;
    }
  }
}

TEST(FrontendRandom, PatternsNeverCrash) {
  Pieces gen({"*", "**", "?", "[", "]", "^", "-", "a", "b", "/", "\\", "!", ".", "..", " ",
              "\xC3\xA9", "#", "\n"},
             7);
  for (int i = 0; i < 3000; ++i) {
    std::string text = gen.text(12);
    auto rules = IgnoreRules::parse(text, "r");
    std::string path = gen.text(8);
    if (rules) {
      (void)rules->excluded(path);
      (void)rules->may_reinclude_below(path);
    } else {
      EXPECT_EQ(rules.error().message().rfind("r:", 0), 0u) << rules.error().message();
    }
    (void)match_path(text, path);
    (void)has_glob(text);
  }
}

}  // namespace
}  // namespace berth::build
