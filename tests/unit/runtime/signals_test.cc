#include <signal.h>

#include <gtest/gtest.h>

#include "runtime/runtime.h"

namespace berth::runtime {
namespace {

TEST(ParseSignal, AcceptsNamesWithAndWithoutSigAndNumbers) {
  EXPECT_EQ(*parse_signal("KILL"), SIGKILL);
  EXPECT_EQ(*parse_signal("SIGTERM"), SIGTERM);
  EXPECT_EQ(*parse_signal("hup"), SIGHUP);
  EXPECT_EQ(*parse_signal("9"), 9);
  EXPECT_EQ(*parse_signal("RTMIN+1"), SIGRTMIN + 1);
}

TEST(ParseSignal, RejectsUnknownNamesAndNumbersOutOfRange) {
  auto bad = parse_signal("SIGBOGUS");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "unknown signal 'SIGBOGUS'");
  EXPECT_FALSE(parse_signal("0"));
  EXPECT_FALSE(parse_signal("65"));
  EXPECT_FALSE(parse_signal("9x"));
}

}  // namespace
}  // namespace berth::runtime
