#include "project/plan.h"

#include <gtest/gtest.h>

#include "project/load.h"

using namespace berth::project;

namespace {
Project project_of(const char* yaml) {
  LoadOptions o;
  o.files = {{"/srv/shop/compose.yaml", yaml}};
  auto r = load_project(o);
  EXPECT_TRUE(r) << r.error().message();
  return r ? r->project : Project{};
}

std::string kinds(const std::vector<Step>& steps) {
  std::string out;
  for (const auto& s : steps) {
    const char* k[] = {"keep", "start", "create", "recreate", "remove"};
    out += fmt::format("{}{}:{} ", k[static_cast<int>(s.kind)], s.number, s.id);
  }
  return out;
}
}  // namespace

TEST(StartOrder, DependenciesFirstTiesByName) {
  auto p = project_of(
      "services:\n  web:\n    image: x\n    depends_on: [api, cache]\n  api:\n    image: x\n    "
      "depends_on: [db]\n  db:\n    image: x\n  cache:\n    image: x\n  zz:\n    image: x\n");
  auto order = start_order(p);
  ASSERT_TRUE(order);
  EXPECT_EQ(*order, (std::vector<std::string>{"db", "api", "cache", "web", "zz"}));
  auto some = with_dependencies(p, {"api"});
  ASSERT_TRUE(some);
  EXPECT_EQ(*some, (std::vector<std::string>{"db", "api"}));
  EXPECT_FALSE(with_dependencies(p, {"nope"}));
}

TEST(Names, InstancesNetworksVolumes) {
  auto p = project_of(
      "services:\n  web:\n    image: x\n  one:\n    image: x\n    container_name: "
      "fixed\nvolumes:\n  data:\n  ext: {external: true}\n");
  EXPECT_EQ(instance_name(p, *p.service("web"), 3), "shop-web-3");
  EXPECT_EQ(instance_name(p, *p.service("one"), 1), "fixed");
  EXPECT_EQ(volume_name(p, "data"), "shop_data");
  EXPECT_EQ(volume_name(p, "ext"), "ext");
  EXPECT_EQ(network_name(p, "default"), "shop_default");
}

TEST(ConfigHash, ChangesWithConfigurationNotWithReplicas) {
  auto a = project_of("services:\n  web:\n    image: x\n");
  auto b = project_of("services:\n  web:\n    image: x\n    scale: 4\n");
  auto c = project_of("services:\n  web:\n    image: x\n    environment: [A=1]\n");
  std::string ha = config_hash(a, *a.service("web"), "sha256:1");
  EXPECT_EQ(ha, config_hash(b, *b.service("web"), "sha256:1"));
  EXPECT_NE(ha, config_hash(c, *c.service("web"), "sha256:1"));
  EXPECT_NE(ha, config_hash(a, *a.service("web"), "sha256:2"));  // a new image behind the same tag
  EXPECT_EQ(ha.size(), 32u);
}

TEST(PlanService, CreatesWhatIsMissing) {
  auto p = project_of("services:\n  web:\n    image: x\n");
  EXPECT_EQ(kinds(plan_service(p, *p.service("web"), "h", 2, {})), "create1: create2: ");
}

TEST(PlanService, KeepsStartsAndRecreates) {
  auto p = project_of("services:\n  web:\n    image: x\n");
  std::vector<Instance> actual = {{"a", "shop-web-1", 1, "h", "running", true},
                                  {"b", "shop-web-2", 2, "h", "exited", false},
                                  {"c", "shop-web-3", 3, "old", "running", true}};
  EXPECT_EQ(kinds(plan_service(p, *p.service("web"), "h", 3, actual)),
            "keep1:a start2:b recreate3:c ");
}

TEST(PlanService, ScalesDownNewestFirst) {
  auto p = project_of("services:\n  web:\n    image: x\n");
  std::vector<Instance> actual = {{"a", "shop-web-1", 1, "h", "running", true},
                                  {"b", "shop-web-2", 2, "h", "running", true},
                                  {"c", "shop-web-3", 3, "h", "running", true}};
  EXPECT_EQ(kinds(plan_service(p, *p.service("web"), "h", 1, actual)),
            "remove3:c remove2:b keep1:a ");
}

TEST(PlanService, LeftoversOfAnInterruptedUpdateGo) {
  auto p = project_of("services:\n  web:\n    image: x\n");
  // An old instance renamed aside while its replacement started: the replacement stays.
  std::vector<Instance> actual = {{"old", "shop-web-1-old-12ab", 1, "h0", "running", true},
                                  {"new", "shop-web-1", 1, "h", "created", false}};
  EXPECT_EQ(kinds(plan_service(p, *p.service("web"), "h", 1, actual)), "remove1:old start1:new ");
  // Only the renamed one is left: it goes and a new one comes.
  std::vector<Instance> only_old = {{"old", "shop-web-1-old-12ab", 1, "h", "running", true}};
  EXPECT_EQ(kinds(plan_service(p, *p.service("web"), "h", 1, only_old)), "remove1:old create1: ");
}

TEST(StartFirst, UnlessAFixedHostPortOrStopFirst) {
  auto p = project_of(
      "services:\n  a:\n    image: x\n    ports: [\"80\"]\n  b:\n    image: x\n    ports: "
      "[\"8080:80\"]\n  c:\n    image: x\n    deploy: {update_config: {order: stop-first}}\n");
  EXPECT_TRUE(start_first(*p.service("a")));
  EXPECT_FALSE(start_first(*p.service("b")));
  EXPECT_FALSE(start_first(*p.service("c")));
}
