#include "build/shell_words.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace berth::build {
namespace {

VariableLookup env(std::map<std::string, std::string, std::less<>> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const VariableLookup& home_env() {
  static const VariableLookup lookup = env({{"PWD", "/home"},
                                            {"SHELL", "bash"},
                                            {"NULL", ""},
                                            {"KOREAN", "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4"}});
  return lookup;
}

struct WordCase {
  const char* input;
  const char* expected;  // nullptr: an error
};

// Each input expands to its expected word, or fails (expected == nullptr) as invalid input.
template <size_t N>
void expect_words(const WordCase (&cases)[N], const VariableLookup& lookup) {
  for (const auto& c : cases) {
    auto result = expand_word(c.input, lookup);
    if (c.expected == nullptr) {
      EXPECT_FALSE(result) << c.input << " gave " << (result ? *result : "");
      if (!result) {
        EXPECT_EQ(result.error().kind(), ErrorKind::invalid_argument) << c.input;
      }
    } else {
      ASSERT_TRUE(result) << c.input << ": " << result.error().message();
      EXPECT_EQ(*result, c.expected) << c.input;
    }
  }
}

// Words as docker's shell lexer substitutes them (cases from its behaviour, one per rule).
TEST(ExpandWord, FollowsDockerRules) {
  const WordCase cases[] = {
      {"hello", "hello"},
      {"he'll'o", "hello"},
      {"he'llo", nullptr},
      {"he\\'llo", "he'llo"},
      {"he\\\\'llo", nullptr},
      {"abc\\tdef", "abctdef"},
      {"\"abc\\tdef\"", "abc\\tdef"},
      {"\"abc\\\\tdef\"", "abc\\tdef"},
      {"'abc\\tdef'", "abc\\tdef"},
      {"hello\\", "hello"},
      {"hello\\\\", "hello\\"},
      {"\"hello", nullptr},
      {"\"hello\\\"", nullptr},
      {"\"hel'lo\"", "hel'lo"},
      {"'hello", nullptr},
      {"'hello\\'", "hello\\"},
      {"\"''\"", "''"},
      {"$.", "$."},
      {"he$1x", "hex"},
      {"he$.x", "he$.x"},
      {"he$pwd.", "he."},
      {"he$PWD", "he/home"},
      {"he\\$PWD", "he$PWD"},
      {"he\\\\$PWD", "he\\/home"},
      {"\"he\\$PWD\"", "he$PWD"},
      {"\"he\\\\$PWD\"", "he\\/home"},
      {"\\${}", "${}"},
      {"${}", nullptr},
      {"he${}xx", nullptr},
      {"he${hi}xx", "hexx"},
      {"he${PWD}", "he/home"},
      {"he${.}", nullptr},
      {"he${XXX:-000}xx", "he000xx"},
      {"he${PWD:-000}xx", "he/homexx"},
      {"he${XXX:-$PWD}xx", "he/homexx"},
      {"he${XXX:-${PWD:-yyy}}xx", "he/homexx"},
      {"he${XXX:-${YYY:-yyy}}xx", "heyyyxx"},
      {"he${XXX:YYY}", nullptr},
      {"he${XXX?}", nullptr},
      {"he${XXX:?}", nullptr},
      {"he${PWD?}", "he/home"},
      {"he${PWD:?}", "he/home"},
      {"he${NULL?}", "he"},
      {"he${NULL:?}", nullptr},
      {"he${NULL-x}", "he"},
      {"he${NULL:-x}", "hex"},
      {"he${NULL+x}", "hex"},
      {"he${NULL:+x}", "he"},
      {"he${XXX-x}", "hex"},
      {"he${XXX:+${PWD}}xx", "hexx"},
      {"he${PWD:+${XXX}}xx", "hexx"},
      {"he${PWD:+${SHELL}}xx", "hebashxx"},
      {"'he${XX}'", "he${XX}"},
      {"\"he${PWD}\"", "he/home"},
      {"\"he'$PWD'\"", "he'/home'"},
      {"'$PWD'", "$PWD"},
      {"'\\$PWD'", "\\$PWD"},
      {"he${PWD", nullptr},
      {"he${PWD:=000}xx", nullptr},
      {"he${PWD:+${PWD}:}xx", "he/home:xx"},
      {"he${XXX:-\\$PWD:}xx", "he$PWD:xx"},
      {"he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"},
      {"${aaa}}", "}"},
      {"${{aaa}", nullptr},
      {"${aaa:-bbb}}", "bbb}"},
      {"${aaa:-bbb", nullptr},
      {"${aaa:-bbb {foo}", "bbb {foo"},
      {"${:}", nullptr},
      {"${:-bbb}", nullptr},
      {"$999aaa", "aaa"},
      {"${1:-bbb}", "bbb"},
      {"$@@@", "@@"},
      {"${$:-bbb}", "bbb"},
      {"$KOREAN!", "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4!"},
      {"\xEC\x95\x88'\xEB\x85\x95'", "\xEC\x95\x88\xEB\x85\x95"},
  };
  expect_words(cases, home_env());
}

TEST(ExpandWord, ErrorMessagesNameTheProblem) {
  EXPECT_EQ(expand_word("\"abc", home_env()).error().message(),
            "failed to process \"\"abc\": unexpected end of statement while looking for matching "
            "double-quote");
  EXPECT_EQ(expand_word("'abc", home_env()).error().message(),
            "failed to process \"'abc\": unexpected end of statement while looking for matching "
            "single-quote");
  EXPECT_EQ(expand_word("${abc", home_env()).error().message(),
            "failed to process \"${abc\": syntax error: missing '}'");
  EXPECT_EQ(expand_word("${abc:-x", home_env()).error().message(),
            "failed to process \"${abc:-x\": syntax error: missing '}'");
  EXPECT_EQ(expand_word("${}", home_env()).error().message(),
            "failed to process \"${}\": syntax error: bad substitution");
  EXPECT_EQ(expand_word("${a:=b}", home_env()).error().message(),
            "failed to process \"${a:=b}\": unsupported modifier (:=) in substitution");
  EXPECT_EQ(expand_word("${a:#b}", home_env()).error().message(),
            "failed to process \"${a:#b}\": unsupported modifier (:#) in substitution");
}

TEST(ExpandWord, RequiredVariableMessages) {
  EXPECT_EQ(expand_word("${X?}", home_env()).error().message(),
            "failed to process \"${X?}\": X: is not allowed to be unset");
  EXPECT_EQ(expand_word("${NULL:?}", home_env()).error().message(),
            "failed to process \"${NULL:?}\": NULL: is not allowed to be empty");
  EXPECT_EQ(expand_word("${X:?set X to the version}", home_env()).error().message(),
            "failed to process \"${X:?set X to the version}\": X: set X to the version");
}

TEST(ExpandWord, PatternRemoval) {
  auto lookup = env({{"FOO", "xxyy"},
                     {"BAR", "x"},
                     {"EMPTY", ""},
                     {"PATHV", "/usr/local/bin/tool.tar.gz"},
                     {"STARS", "a***yy*"},
                     {"META", "()[]{}^$.*?|\\x"}});
  const WordCase cases[] = {
      {"${FOO#*x*y}", "y"},
      {"${FOO#*}", "xxyy"},
      {"${FOO#$BAR}", "xyy"},
      {"${FOO#$EMPTY}", "xxyy"},
      {"${FOO#}", "xxyy"},
      {"${FOO##*x}", "yy"},
      {"${FOO##}", "xxyy"},
      {"${FOO%y}", "xxy"},
      {"${FOO%%y*}", "xx"},
      {"${FOO%x}", "xxyy"},
      {"${PATHV##*/}", "tool.tar.gz"},
      {"${PATHV#*/}", "usr/local/bin/tool.tar.gz"},
      {"${PATHV%.*}", "/usr/local/bin/tool.tar"},
      {"${PATHV%%.*}", "/usr/local/bin/tool"},
      {"${PATHV%/*}", "/usr/local/bin"},
      {"${STARS%%\\**\\*}", "a"},
      {"${META#()[]{\\}^$.\\*\\?|\\\\}", "x"},
      {"${UNSET#x}", ""},
      {"${FOO#\\x}", nullptr},  // `\x` is not an escape a pattern knows
  };
  expect_words(cases, lookup);
}

TEST(ExpandWord, SubstitutionsThatGrowOrGrindStopAtTheirBounds) {
  // shell_words: each ${A///…} level inserts its replacement between every two characters, so
  // five levels of a 17-byte value made 30 MB (a timeout); a pattern starting with '*' on a
  // long value is tried at every position.
  auto lookup = env({{"A", "value with spaces"}, {"LONG", std::string(20000, 'a')}});
  std::string grow = "x";
  for (int i = 0; i < 6; ++i) grow = "${A///" + grow + "}";
  auto grown = expand_word(grow, lookup);
  ASSERT_FALSE(grown);
  EXPECT_NE(grown.error().message().find("variable substitutions make more than 1 MiB of this line"),
            std::string::npos)
      << grown.error().message();
  auto ground = expand_word("${LONG//*b*c*d*e/x}", lookup);
  ASSERT_FALSE(ground);
  EXPECT_NE(ground.error().message().find("pattern substitution on a value of 20000 bytes takes too long"),
            std::string::npos)
      << ground.error().message();
  // Within the bounds: as before.
  auto two = expand_word("${A///${A///x}}", lookup);
  ASSERT_TRUE(two) << two.error().message();
  EXPECT_EQ(two->size(), 17u + 18u * 35u);  // the 35 bytes of ${A///x} around each character
  EXPECT_EQ(two->substr(0, 8), "xvxaxlxu");
  // The bounds are options (the fuzz target uses small ones); each applies to every entry point.
  ExpandOptions small;
  small.bounds.max_bytes = 600;
  small.bounds.max_match_steps = 1000;
  for (auto* expand : {&expand_word, &expand_heredoc}) {
    auto over = (*expand)("${A///${A///x}}", lookup, small);
    ASSERT_FALSE(over);
    EXPECT_NE(over.error().message().find("more than 600 bytes of this line"), std::string::npos)
        << over.error().message();
  }
  auto words = expand_words("${LONG//*b/x}", lookup, small);
  ASSERT_FALSE(words);
  EXPECT_NE(words.error().message().find("takes too long"), std::string::npos) << words.error().message();
  EXPECT_TRUE(expand_word("${A///x}", lookup, small));
}

TEST(ExpandWord, PatternSubstitution) {
  auto lookup = env({{"FOO", "/foo*/*/*.txt"},
                     {"NEEDLE", "\\*/"},
                     {"TMP", "/tmp/tmp/bar.txt"},
                     {"URL", "http://google.de"},
                     {"XY", "xxyy"},
                     {"EMPTY", ""}});
  const WordCase cases[] = {
      {"${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", "/foo.*/*.txt - /foo..*.txt"},
      {"${TMP/\\/tmp/} - ${TMP//\\/tmp/}", "/tmp/bar.txt - /bar.txt"},
      {"${URL/http:\\/\\//https:\\/\\/}", "https:\\/\\/google.de"},
      {"${TMP//\\//\\/}", "\\/tmp\\/tmp\\/bar.txt"},
      {"${XY/$EMPTY/ww}", "wwxxyy"},
      {"${XY///}", "xxyy"},
      {"${XY/x?/z}", "zyy"},
      {"${XY//?/-}", "----"},
      {"${XY/x*/z}", "z"},
      {"${UNSET///}", ""},
      {"${XY//ww}", nullptr},
      {"${XY//}", nullptr},
  };
  expect_words(cases, lookup);
  EXPECT_EQ(expand_word("${XY//ww}", lookup).error().message(),
            "failed to process \"${XY//ww}\": syntax error: missing '/' in ${}");
  EXPECT_EQ(expand_word("${XY#\\q}", lookup).error().message(),
            "failed to process \"${XY#\\q}\": invalid pattern (\\q) in substitution: invalid "
            "escape '\\q'");
}

TEST(ExpandWord, BacktickEscape) {
  ExpandOptions options;
  options.escape = '`';
  EXPECT_EQ(*expand_word("c:\\dir `$PWD", home_env(), options), "c:\\dir $PWD");
  EXPECT_EQ(*expand_word("\"a`\"b\"", home_env(), options), "a\"b");
  EXPECT_EQ(*expand_word("a``b", home_env(), options), "a`b");
}

TEST(ExpandWord, CollectsUsedNamesOnce) {
  std::vector<std::string> used;
  ExpandOptions options;
  options.used = &used;
  auto result = expand_word("$PWD ${UNSET:-$PWD} ${SHELL+x} '$NOT'", home_env(), options);
  ASSERT_TRUE(result);
  EXPECT_EQ(used, (std::vector<std::string>{"PWD", "UNSET", "SHELL"}));
}

TEST(ExpandWord, UsedNamesAccumulateAcrossCalls) {
  std::vector<std::string> used{"PWD"};
  ExpandOptions options;
  options.used = &used;
  ASSERT_TRUE(expand_word("$PWD $A", home_env(), options));
  ASSERT_TRUE(expand_word("$A $B $PWD", home_env(), options));
  EXPECT_EQ(used, (std::vector<std::string>{"PWD", "A", "B"}));
}

TEST(ExpandWord, WithoutLookupEverythingIsUnset) {
  EXPECT_EQ(*expand_word("a$B${C:-c}", nullptr), "ac");
}

struct WordsCase {
  const char* input;
  std::vector<std::string> expected;
};

TEST(ExpandWords, SplitAtUnquotedWhitespaceAfterSubstitution) {
  auto lookup =
      env({{"hi", "hi"}, {"space", "abc  def"}, {"leading", "  ab c"}, {"trailing", "ab c   "}});
  const WordsCase cases[] = {
      {"hello", {"hello"}},
      {"hello${hi}bye", {"hellohibye"}},
      {"hello${space}bye", {"helloabc", "defbye"}},
      {"hello\"${space}\"bye", {"helloabc  defbye"}},
      {"hello \"${space}\"bye", {"hello", "abc  defbye"}},
      {"hello${leading}def", {"hello", "ab", "cdef"}},
      {"hello\"${leading}\" def", {"hello  ab c", "def"}},
      {"hello${leading}", {"hello", "ab", "c"}},
      {"hello${trailing}", {"helloab", "c"}},
      {"hello${trailing}d", {"helloab", "c", "d"}},
      {"hello\"${trailing}\"d", {"helloab c   d"}},
      {"hello\" there  \"", {"hello there  "}},
      {"hello there     ", {"hello", "there"}},
      {"hello\\ there", {"hello there"}},
      {"hello\\\" there", {"hello\"", "there"}},
      {"hello\"\\\\there\"", {"hello\\there"}},
      {"hello'\\\\there'", {"hello\\\\there"}},
      {"hello'$there'", {"hello$there"}},
      {"\"\" ''", {}},
      {"  ", {}},
  };
  for (const auto& c : cases) {
    auto result = expand_words(c.input, lookup);
    ASSERT_TRUE(result) << c.input << ": " << result.error().message();
    EXPECT_EQ(*result, c.expected) << c.input;
  }
  EXPECT_FALSE(expand_words("hello\" there", lookup));
}

TEST(ExpandHeredoc, SubstitutesVariablesAndKeepsQuotes) {
  auto lookup = env({{"NAME", "world"}});
  EXPECT_EQ(*expand_heredoc("\"quotes in file\"\n", lookup), "\"quotes in file\"\n");
  EXPECT_EQ(*expand_heredoc("hello '$NAME' \"${NAME}\"\n", lookup), "hello 'world' \"world\"\n");
  EXPECT_EQ(*expand_heredoc("${MISSING:-fallback}\n", lookup), "fallback\n");
}

TEST(ExpandHeredoc, BackslashEscapesAsBuildKit) {
  auto lookup = env({{"NAME", "world"}});
  EXPECT_EQ(*expand_heredoc("\\\n", lookup), "\n");
  EXPECT_EQ(*expand_heredoc("\\\\\n", lookup), "\\\n");
  EXPECT_EQ(*expand_heredoc("\\$NAME\n", lookup), "$NAME\n");
  // The `# escape=` character does not apply to heredoc bodies.
  ExpandOptions options;
  options.escape = '`';
  EXPECT_EQ(*expand_heredoc("`$NAME \\$NAME\n", lookup, options), "`world $NAME\n");
}

TEST(ExpandHeredoc, Errors) {
  EXPECT_FALSE(expand_heredoc("${NAME\n", nullptr));
  EXPECT_FALSE(expand_heredoc("${NAME:?required}\n", nullptr));
  // An unbalanced quote is only text here.
  EXPECT_EQ(*expand_heredoc("it's\n", nullptr), "it's\n");
}

TEST(ExpandWord, DeepNestingIsAnErrorNotACrash) {
  std::string word;
  for (int i = 0; i < 100000; ++i) word += "${a:-";
  auto result = expand_word(word, nullptr);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message().find("nested too deeply"), std::string::npos);
  // Moderate nesting still works.
  std::string nested = "x";
  for (int i = 0; i < 50; ++i) nested = "${U" + std::to_string(i) + ":-" + nested + "}";
  EXPECT_EQ(*expand_word(nested, nullptr), "x");
}

TEST(ExpandWord, PatternsOnLongValuesStayFast) {
  auto lookup = env({{"LONG", std::string(5000, 'a') + "b"}});
  EXPECT_EQ(*expand_word("${LONG##*a}", lookup), "b");
  EXPECT_EQ(*expand_word("${LONG%%a*}", lookup), "");
  EXPECT_EQ(expand_word("${LONG//a/}", lookup)->size(), 1u);
}

}  // namespace
}  // namespace berth::build
