// The readers' building blocks: typed reads with paths, durations, sizes, shell words, paths,
// YAML scalars, merging.
#include "project/detail/reader.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "project/detail/formats.h"
#include "project/detail/json.h"

using namespace berth::project::detail;
using nlohmann::json;

namespace {
const Ctx kCtx{"compose.yaml"};
}

TEST(Reader, DurationsInComposeSyntax) {
  EXPECT_EQ(*read_duration_ms(kCtx, "x", "1m30s"), 90'000);
  EXPECT_EQ(*read_duration_ms(kCtx, "x", "1h"), 3'600'000);
  EXPECT_EQ(*read_duration_ms(kCtx, "x", "500ms"), 500);
  EXPECT_EQ(*read_duration_ms(kCtx, "x", "1.5s"), 1500);
  EXPECT_EQ(*read_duration_ms(kCtx, "x", 10), 10'000);
  EXPECT_EQ(*read_duration_ms(kCtx, "x", "10"), 10'000);
  auto bad = read_duration_ms(kCtx, "services.web.stop_grace_period", "5 minutes");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(),
            "compose.yaml: services.web.stop_grace_period: \"5 minutes\" is not a duration "
            "(\"1m30s\", \"500ms\")");
  EXPECT_FALSE(read_duration_ms(kCtx, "x", "10x"));
  EXPECT_FALSE(read_duration_ms(kCtx, "x", -1));
}

TEST(Reader, SizesAsDockerWritesThem) {
  EXPECT_EQ(*read_size(kCtx, "x", "64m"), 64 << 20);
  EXPECT_EQ(*read_size(kCtx, "x", "64M"), 64 << 20);
  EXPECT_EQ(*read_size(kCtx, "x", "1gb"), 1LL << 30);
  EXPECT_EQ(*read_size(kCtx, "x", "512k"), 512 << 10);
  EXPECT_EQ(*read_size(kCtx, "x", 1024), 1024);
  EXPECT_EQ(*read_size(kCtx, "x", "100b"), 100);
  EXPECT_FALSE(read_size(kCtx, "x", "lots"));
  EXPECT_FALSE(read_size(kCtx, "x", "1t"));
}

// Found by fuzz/project_load_fuzz.cc: casting 6.7e21 bytes to int64_t is undefined behaviour.
TEST(Reader, AmountsBeyondAnyRealOneAreErrors) {
  EXPECT_EQ(read_size(kCtx, "services.web.shm_size", "6734190000000g").error().message(),
            "compose.yaml: services.web.shm_size: \"6734190000000g\" is too large");
  EXPECT_FALSE(read_duration_ms(kCtx, "x", 1e300));
  EXPECT_FALSE(read_duration_ms(kCtx, "x", std::string(400, '9') + "h"));
  EXPECT_EQ(*read_size(kCtx, "x", "1048576g"), int64_t{1} << 50);  // 1 PiB still is one
}

TEST(Reader, IntegersBooleansStrings) {
  EXPECT_EQ(*read_int(kCtx, "x", "3", 0, 10), 3);
  EXPECT_EQ(read_int(kCtx, "deploy.replicas", 11, 0, 10).error().message(),
            "compose.yaml: deploy.replicas: 11 is not in 0..10");
  EXPECT_FALSE(read_int(kCtx, "x", "3.5", 0, 10));
  EXPECT_FALSE(read_int(kCtx, "x", true, 0, 10));
  EXPECT_TRUE(*read_bool(kCtx, "x", "yes"));
  EXPECT_FALSE(*read_bool(kCtx, "x", "False"));
  EXPECT_FALSE(read_bool(kCtx, "x", "maybe"));
  EXPECT_EQ(*read_string(kCtx, "x", 80), "80");
  EXPECT_EQ(*read_string(kCtx, "x", true), "true");
  EXPECT_EQ(read_string(kCtx, "image", json::object()).error().message(),
            "compose.yaml: image: {} is not a string");
}

TEST(Reader, KeyValuesFromMapsAndLists) {
  auto m = read_key_values(kCtx, "environment", json::array({"A=1", "B=", "C", "D=x=y"}));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("A"), "1");
  EXPECT_EQ(m->at("B"), "");
  EXPECT_FALSE(m->at("C"));
  EXPECT_EQ(m->at("D"), "x=y");
  auto map = read_key_values(kCtx, "environment", json{{"A", 1}, {"B", nullptr}, {"C", true}});
  ASSERT_TRUE(map);
  EXPECT_EQ(map->at("A"), "1");
  EXPECT_FALSE(map->at("B"));
  EXPECT_EQ(map->at("C"), "true");
  EXPECT_EQ(read_key_values(kCtx, "environment", json::array({"=x"})).error().message(),
            "compose.yaml: environment[0]: \"=x\" is not KEY=VALUE");
  EXPECT_FALSE(read_key_values(kCtx, "environment", json{{"A", json::array()}}));
}

TEST(Reader, UnknownKeysWarnOrFail) {
  std::vector<std::string> warnings;
  Ctx warn{"compose.yaml", &warnings, false};
  EXPECT_TRUE(check_keys(warn, "services.web", json{{"image", "x"}, {"colour", 1}, {"x-note", 2}},
                         {"image"}));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "compose.yaml: services.web.colour: unknown field, ignored");
  Ctx strict{"p.json", nullptr, true};
  auto e = check_keys(strict, "services[0]", json{{"x-note", 2}}, {"id"}, false);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message(), "p.json: services[0].x-note: unknown field");
}

TEST(ShellSplit, QuotesAndEscapes) {
  EXPECT_EQ(*shell_split("sh -c 'echo hi; exit 3'"),
            (std::vector<std::string>{"sh", "-c", "echo hi; exit 3"}));
  EXPECT_EQ(*shell_split(R"(echo "a \"b\" $x" c\ d)"),
            (std::vector<std::string>{"echo", "a \"b\" $x", "c d"}));
  EXPECT_EQ(*shell_split("  a   b  "), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*shell_split("''"), std::vector<std::string>{""});
  EXPECT_TRUE(shell_split("")->empty());
  EXPECT_FALSE(shell_split("echo 'open"));
  EXPECT_FALSE(shell_split("echo \"open"));
}

TEST(ResolvePath, AgainstTheProjectDirectory) {
  EXPECT_EQ(resolve_path("/srv/app", "./data"), "/srv/app/data");
  EXPECT_EQ(resolve_path("/srv/app", "../shared/x"), "/srv/shared/x");
  EXPECT_EQ(resolve_path("/srv/app", "/etc//app/./conf"), "/etc/app/conf");
  EXPECT_EQ(resolve_path("/srv/app", "."), "/srv/app");
  EXPECT_EQ(resolve_path("/", "../../x"), "/x");
  EXPECT_EQ(resolve_path("/backend/api", "../redis"), "/backend/redis");
}

TEST(YamlToJson, CoreSchemaScalars) {
  auto j = yaml_to_json(
      "a: 1\nb: '1'\nc: true\nd: ~\ne:\nf: 1.5\ng: 0755\nh: 80:80\ni: -3\nj: \"true\"\n", "f.yaml");
  ASSERT_TRUE(j) << j.error().message();
  EXPECT_EQ((*j)["a"], 1);
  EXPECT_EQ((*j)["b"], "1");
  EXPECT_EQ((*j)["c"], true);
  EXPECT_TRUE((*j)["d"].is_null());
  EXPECT_TRUE((*j)["e"].is_null());
  EXPECT_DOUBLE_EQ((*j)["f"].get<double>(), 1.5);
  EXPECT_EQ((*j)["g"], "0755");
  EXPECT_EQ((*j)["h"], "80:80");
  EXPECT_EQ((*j)["i"], -3);
  EXPECT_EQ((*j)["j"], "true");
}

TEST(YamlToJson, MergeKeysAndAnchors) {
  auto j = yaml_to_json("base: &b {x: 1, y: 2}\nother: &o {z: 3}\nuse:\n  <<: [*b, *o]\n  y: 9\n",
                        "f.yaml");
  ASSERT_TRUE(j) << j.error().message();
  EXPECT_EQ((*j)["use"], (json{{"x", 1}, {"y", 9}, {"z", 3}}));
}

// Found by fuzz/project_load_fuzz.cc: an alias inside its own anchor made a cycle that the
// conversion followed until the stack overflowed; nested aliases grow exponentially.
TEST(YamlToJson, AliasesExpandWithinBounds) {
  auto cycle = yaml_to_json("x: &c\n  a: 1\n  self: *c\n", "compose.yaml");
  ASSERT_FALSE(cycle);
  EXPECT_EQ(cycle.error().message(),
            "compose.yaml: more than 200000 values or 256 levels once aliases are expanded (an "
            "alias inside its own anchor?)");
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'f'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    laughs += fmt::format("{0}: &{0} [*{1}, *{1}, *{1}, *{1}, *{1}, *{1}, *{1}, *{1}, *{1}, *{1}]\n",
                          std::string(1, c), prev);
  }
  EXPECT_FALSE(yaml_to_json(laughs, "compose.yaml"));  // 10^6 values
  auto fine = yaml_to_json("a: &a [1, 2]\nb: [*a, *a]\n", "compose.yaml");
  ASSERT_TRUE(fine) << fine.error().message();
  EXPECT_EQ((*fine)["b"], (json{{1, 2}, {1, 2}}));
}

TEST(YamlToJson, SyntaxErrorsHaveALineAndColumn) {
  auto j = yaml_to_json("a: [1, 2\n", "compose.yaml");
  ASSERT_FALSE(j);
  EXPECT_TRUE(j.error().message().starts_with("compose.yaml:")) << j.error().message();
  auto k = parse_json("{\"a\": }", "p.json");
  ASSERT_FALSE(k);
  EXPECT_TRUE(k.error().message().starts_with("p.json: ")) << k.error().message();
}

TEST(MergeCompose, MapsMergeListsAppendCommandsReplace) {
  json base = {{"services",
                {{"web",
                  {{"image", "a"},
                   {"command", {"x"}},
                   {"ports", {"80"}},
                   {"environment", {{"A", "1"}}},
                   {"healthcheck", {{"test", {"CMD", "a"}}}}}}}}};
  json over = {{"services",
                {{"web",
                  {{"command", {"y"}},
                   {"ports", {"80", "81"}},
                   {"environment", {{"B", "2"}}},
                   {"healthcheck", {{"test", {"CMD", "b"}}}}}}}}};
  merge_compose(base, over);
  const json& web = base["services"]["web"];
  EXPECT_EQ(web["image"], "a");
  EXPECT_EQ(web["command"], json::array({"y"}));
  EXPECT_EQ(web["ports"], json::array({"80", "81"}));
  EXPECT_EQ(web["environment"], (json{{"A", "1"}, {"B", "2"}}));
  EXPECT_EQ(web["healthcheck"]["test"], json::array({"CMD", "b"}));
}

TEST(MergeCompose, ListFormsBecomeMapsFirst) {
  json svc = {{"environment", {"A=1", "B"}},
              {"depends_on", {"db"}},
              {"networks", {"front"}},
              {"build", {{"args", {"V=2"}}}}};
  normalise_for_merge(svc);
  EXPECT_EQ(svc["environment"], (json{{"A", "1"}, {"B", nullptr}}));
  EXPECT_EQ(svc["depends_on"], (json{{"db", nullptr}}));
  EXPECT_EQ(svc["networks"], (json{{"front", nullptr}}));
  EXPECT_EQ(svc["build"]["args"], (json{{"V", "2"}}));
}
