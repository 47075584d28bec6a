#include "base/process.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace berth::proc {
namespace {

TEST(ProcessRun, CapturesStdoutAndFeedsStdin) {
  std::string out;
  RunOptions o{"/bin/sh", {"sh", "-c", "read line; echo \"got $line\"; exit 3"}, {}, "hello\n", std::nullopt, &out};
  auto code = run(o);
  ASSERT_TRUE(code) << code.error().message();
  EXPECT_EQ(*code, 3);
  EXPECT_EQ(out, "got hello\n");
}

TEST(ProcessRun, CapturesMoreThanAPipeHolds) {
  std::string out;
  RunOptions o{"/bin/sh", {"sh", "-c", "i=0; while [ $i -lt 20000 ]; do echo 0123456789; i=$((i+1)); done"}, {}, "",
               10, &out};
  auto code = run(o);
  ASSERT_TRUE(code) << code.error().message();
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(out.size(), 20000u * 11);
}

TEST(ProcessRun, KillsAProgramPastItsTimeoutEvenWhileReadingItsOutput) {
  std::string out;
  RunOptions o{"/bin/sh", {"sh", "-c", "echo started; exec sleep 30"}, {}, "", 1, &out};
  auto code = run(o);
  ASSERT_FALSE(code);
  EXPECT_NE(code.error().message().find("timeout"), std::string::npos) << code.error().message();
  EXPECT_EQ(out, "started\n");
}

TEST(ProcessFindInPath, LooksThroughPathAndTakesPathsAsTheyAre) {
  const char* saved = std::getenv("PATH");
  std::string keep = saved ? saved : "";
  ::setenv("PATH", "/nonexistent:/bin", 1);
  EXPECT_EQ(find_in_path("sh"), std::optional<std::string>("/bin/sh"));
  EXPECT_EQ(find_in_path("no-such-program-berth"), std::nullopt);
  EXPECT_EQ(find_in_path("/bin/sh"), std::optional<std::string>("/bin/sh"));
  EXPECT_EQ(find_in_path("/nonexistent/sh"), std::nullopt);
  EXPECT_EQ(find_in_path(""), std::nullopt);
  ::setenv("PATH", keep.c_str(), 1);
}

}  // namespace
}  // namespace berth::proc
