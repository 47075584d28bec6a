#include <gtest/gtest.h>

#include "engine/containers.h"

namespace berth::engine {
namespace {

TEST(ExecArgv, RunsBerthExecOnTheSameStateWithTheRequestsOptions) {
  Layout layout;
  layout.root = "/tmp/r";
  layout.run_root = "/tmp/rr";
  Programs programs;
  programs.berth = "/usr/bin/berth";
  ExecRequest r;
  r.args = {"sh", "-c", "echo $A"};
  r.env = {"A=1", "B=2"};
  r.user = "1000:1000";
  r.workdir = "/srv";
  r.tty = true;
  r.interactive = true;
  auto argv = exec_argv(layout, programs, "abc", r);
  std::vector<std::string> want{
      "/usr/bin/berth", "--root", "/tmp/r", "--run-root", "/tmp/rr", "exec",   "--interactive",
      "--tty",          "--env",  "A=1",    "--env",      "B=2",     "--user", "1000:1000",
      "--workdir",      "/srv",   "abc",    "sh",         "-c",      "echo $A"};
  EXPECT_EQ(argv, want);
}

TEST(ExecArgv, LeavesOutWhatWasNotAsked) {
  Layout layout;
  Programs programs;
  programs.berth = "berth";
  ExecRequest r;
  r.args = {"true"};
  auto argv = exec_argv(layout, programs, "c", r);
  std::vector<std::string> want{"berth",         "--root", layout.root, "--run-root",
                                layout.run_root, "exec",   "c",         "true"};
  EXPECT_EQ(argv, want);
}

}  // namespace
}  // namespace berth::engine
