#include "runtime/detail/process_env.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace berth::runtime {
namespace {

std::string write_passwd(const std::string& text) {
  std::string path = ::testing::TempDir() + "passwd-" +
                     ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::ofstream(path) << text;
  return path;
}

TEST(WithHome, KeepsAHomeTheConfigSets) {
  auto env = with_home({"PATH=/bin", "HOME=/data"}, 0, "/nonexistent");
  EXPECT_EQ(env, (std::vector<std::string>{"PATH=/bin", "HOME=/data"}));
}

TEST(WithHome, TakesTheUsersHomeFromPasswdWithEmptyFields) {
  auto path = write_passwd("root:x:0:0::/root:/bin/sh\nweb:x:1000:1000::/srv/web:\n");
  EXPECT_EQ(with_home({"PATH=/bin"}, 1000, path),
            (std::vector<std::string>{"PATH=/bin", "HOME=/srv/web"}));
  EXPECT_EQ(with_home({}, 0, path), (std::vector<std::string>{"HOME=/root"}));
  std::remove(path.c_str());
}

TEST(WithHome, FallsBackToSlashForAnUnknownUserOrNoPasswd) {
  auto path = write_passwd("root:x:0:0:root:/root:/bin/sh\n");
  EXPECT_EQ(with_home({}, 4242, path), (std::vector<std::string>{"HOME=/"}));
  EXPECT_EQ(with_home({}, 0, "/nonexistent/passwd"), (std::vector<std::string>{"HOME=/"}));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace berth::runtime
