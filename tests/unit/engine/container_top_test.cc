// engine/container_top.h: ps output kept to a container's processes, as dockerd does.
#include "engine/container_top.h"

#include <gtest/gtest.h>

namespace berth::engine {
namespace {

TEST(ParsePsOutput, KeepsTheContainersRowsWithTheCommandWhole) {
  std::string out =
      "UID   PID  PPID  C STIME TTY   TIME     CMD\n"
      "root    1     0  0 10:00 ?     00:00:01 /sbin/init\n"
      "root  200     1  0 10:01 ?     00:00:00 sleep 300\n"
      "nobody 201  200  0 10:01 ?     00:00:00 sh -c echo hi\n";
  auto t = parse_ps_output(out, {200, 201});
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->titles,
            (std::vector<std::string>{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"}));
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_EQ(t->rows[0][1], "200");
  EXPECT_EQ(t->rows[0][7], "sleep 300");
  EXPECT_EQ(t->rows[1][0], "nobody");
  EXPECT_EQ(t->rows[1][7], "sh -c echo hi");
}

TEST(ParsePsOutput, ThreadLinesFollowTheirProcess) {
  std::string out = "PID TID CMD\n7 - a\n- 8 -\n9 - b\n- 10 -\n";
  auto t = parse_ps_output(out, {7});
  ASSERT_TRUE(t);
  ASSERT_EQ(t->rows.size(), 2u);
  EXPECT_EQ(t->rows[1][1], "8");
}

TEST(ParsePsOutput, NeedsAPidColumn) {
  auto t = parse_ps_output("USER CMD\nroot x\n", {1});
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message(), "Couldn't find PID field in ps output");
}

}  // namespace
}  // namespace berth::engine
