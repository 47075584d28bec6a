#include "project/changes.h"

#include <gtest/gtest.h>

#include "project/load.h"

using namespace berth;
using namespace berth::project;

namespace {

Project load_yaml(const std::string& yaml, const std::map<std::string, std::string>& vars = {}) {
  LoadOptions o;
  o.files = {{"/srv/shop/compose.yaml", yaml}};
  o.vars = vars;
  auto r = load_project(o);
  EXPECT_TRUE(r) << r.error().message();
  return r ? r->project : Project{};
}

const char* kShop =
    "services:\n  web:\n    image: busybox:${TAG:-1}\n    environment: {A: a}\n"
    "  db:\n    image: busybox\n";

LoadWithVars loader(const std::string& yaml) {
  return [yaml](const std::map<std::string, std::string>& vars) -> Result<Project> {
    return load_yaml(yaml, vars);
  };
}

}  // namespace

TEST(Changes, ImageAndEnvironmentHoldUntilTheFilesChangeThatField) {
  Project files = load_yaml(kShop);
  Changes changes;
  note_change(changes, files, *files.service("web"), std::string("busybox:2"),
              {{"A", "changed"}, {"B", "new"}}, {});
  std::vector<std::string> notes;
  Project p = files;
  ASSERT_TRUE(apply_changes(p, changes, loader(kShop), notes));
  EXPECT_EQ(p.service("web")->image, "busybox:2");
  EXPECT_EQ(p.service("web")->environment,
            (std::map<std::string, std::string>{{"A", "changed"}, {"B", "new"}}));
  EXPECT_EQ(p.service("db")->image, "busybox");
  ASSERT_EQ(notes.size(), 3u);
  EXPECT_EQ(notes[0],
            "service web: keeps image busybox:2 from `berth compose change` (the files say "
            "busybox:1)");

  // The files now set B and another image: those fields are theirs again; A stays changed.
  std::string edited =
      "services:\n  web:\n    image: busybox:3\n    environment: {A: a, B: files}\n"
      "  db:\n    image: busybox\n";
  p = load_yaml(edited);
  notes.clear();
  ASSERT_TRUE(apply_changes(p, changes, loader(edited), notes));
  EXPECT_EQ(p.service("web")->image, "busybox:3");
  EXPECT_EQ(p.service("web")->environment,
            (std::map<std::string, std::string>{{"A", "changed"}, {"B", "files"}}));
  EXPECT_FALSE(changes.at("web").image);
  EXPECT_EQ(changes.at("web").env, (std::map<std::string, std::string>{{"A", "changed"}}));
  ASSERT_EQ(notes.size(), 3u);
  EXPECT_EQ(notes[0],
            "service web: the files changed its image (busybox:1 to busybox:3): it replaces "
            "busybox:2 from `berth compose change`");
  EXPECT_EQ(notes[1],
            "service web: keeps A=changed from `berth compose change` (the files say \"a\")");
  EXPECT_EQ(notes[2],
            "service web: the files changed environment B (nothing to \"files\"): it replaces "
            "\"new\" from `berth compose change`");

  // A removed service takes its change with it.
  std::string without = "services:\n  db:\n    image: busybox\n";
  p = load_yaml(without);
  notes.clear();
  ASSERT_TRUE(apply_changes(p, changes, loader(without), notes));
  EXPECT_TRUE(changes.empty());
}

TEST(Changes, VariablesHoldWhileTheServiceIsAsItWas) {
  Project files = load_yaml(kShop);
  Changes changes;
  note_change(changes, files, *files.service("web"), std::nullopt, {}, {{"TAG", "7"}});
  Project p = files;
  std::vector<std::string> notes;
  ASSERT_TRUE(apply_changes(p, changes, loader(kShop), notes));
  EXPECT_EQ(p.service("web")->image, "busybox:7");
  EXPECT_EQ(p.service("db")->image, "busybox");  // the variable is the service's alone
  // Scaling in the files is no change to the service.
  std::string scaled =
      "services:\n  web:\n    image: busybox:${TAG:-1}\n    environment: {A: a}\n    scale: 2\n"
      "  db:\n    image: busybox\n";
  p = load_yaml(scaled);
  ASSERT_TRUE(apply_changes(p, changes, loader(scaled), notes));
  EXPECT_EQ(p.service("web")->image, "busybox:7");
  EXPECT_EQ(p.service("web")->replicas, 2);
  // Any edit of the service: the files win.
  std::string edited =
      "services:\n  web:\n    image: busybox:${TAG:-1}\n    environment: {A: b}\n"
      "  db:\n    image: busybox\n";
  p = load_yaml(edited);
  notes.clear();
  ASSERT_TRUE(apply_changes(p, changes, loader(edited), notes));
  EXPECT_EQ(p.service("web")->image, "busybox:1");
  EXPECT_TRUE(changes.empty());
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0],
            "service web: the files changed it since `berth compose change --var TAG=7`: the "
            "files' version replaces the change");
}
