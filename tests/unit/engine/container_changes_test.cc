#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "base/sys.h"
#include "engine/containers.h"

namespace berth::engine {
namespace {

void put(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(LayerChanges, ListsAddedAndChangedPathsSorted) {
  char tmpl[] = "/tmp/berth-changes-XXXXXX";
  std::string root = ::mkdtemp(tmpl);
  ASSERT_TRUE(sys::mkdir_all(root + "/lower/etc", 0755));
  put(root + "/lower/etc/motd", "old");
  ASSERT_TRUE(sys::mkdir_all(root + "/upper/etc", 0755));
  put(root + "/upper/etc/motd", "new");
  ASSERT_TRUE(sys::mkdir_all(root + "/upper/srv/data", 0755));
  put(root + "/upper/srv/data/f", "x");
  auto changes = layer_changes(root + "/upper", {root + "/lower"});
  (void)sys::remove_all(root);
  std::vector<std::pair<std::string, int>> got;
  for (const auto& c : changes) got.emplace_back(c.path, c.kind);
  std::vector<std::pair<std::string, int>> want{
      {"/etc", 0}, {"/etc/motd", 0}, {"/srv", 1}, {"/srv/data", 1}, {"/srv/data/f", 1}};
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace berth::engine
