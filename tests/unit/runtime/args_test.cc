#include "cli/runtime/args.h"

#include <gtest/gtest.h>

namespace berth::cli {
namespace {

const std::vector<OptionSpec> kSpecs = {{"b,bundle", true}, {"d,detach", false}, {"e,env", true}};

TEST(Args, LongShortAndEqualsForms) {
  auto a = parse_args({"x", "--bundle", "/b", "-d", "--env=A=1", "-e", "B=2", "id"}, 1, kSpecs, "run");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->value("bundle"), "/b");
  EXPECT_TRUE(a->flag("detach"));
  EXPECT_EQ(a->values_of("env"), (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(a->positionals, std::vector<std::string>{"id"});
}

TEST(Args, SingleDashLongNamesAsGoFlagsAccept) {
  auto a = parse_args({"x", "-bundle", "/b", "id"}, 1, kSpecs, "run");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->value("bundle"), "/b");
}

TEST(Args, OptionsStopAfterTheCommandPositionals) {
  auto a = parse_args({"x", "-d", "id", "ls", "-l", "--bundle"}, 1, kSpecs, "exec", 1);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->positionals, (std::vector<std::string>{"id", "ls", "-l", "--bundle"}));
}

TEST(Args, UnknownOptionAndMissingValueAreErrors) {
  auto unknown = parse_args({"x", "--bogus", "id"}, 1, kSpecs, "run");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message(), "unknown option '--bogus' for 'run'");
  auto missing = parse_args({"x", "id", "--bundle"}, 1, kSpecs, "run");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message(), "option '--bundle' of 'run' needs a value");
}

TEST(Args, FlagsCanBeTurnedOffExplicitly) {
  auto a = parse_args({"x", "--detach=false", "id"}, 1, kSpecs, "run");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->flag("detach"));
}

}  // namespace
}  // namespace berth::cli
