#include <gtest/gtest.h>

#include "project/load.h"

using namespace berth::project;

namespace {
const std::map<std::string, std::string> kVars = {{"TAG", "1.2"}, {"EMPTY", ""}, {"HOST", "db"}};

std::string run(std::string_view text) {
  auto r = interpolate(text, kVars, "compose.yaml: services.web.image");
  return r ? *r : "ERROR: " + r.error().message();
}
}  // namespace

TEST(Interpolate, BracedAndBareVariables) {
  EXPECT_EQ(run("busybox:${TAG}"), "busybox:1.2");
  EXPECT_EQ(run("busybox:$TAG"), "busybox:1.2");
  EXPECT_EQ(run("$HOST-$TAG"), "db-1.2");
}

TEST(Interpolate, UnsetVariableIsEmpty) { EXPECT_EQ(run("a${NOPE}b"), "ab"); }

TEST(Interpolate, ColonDashDefaultCoversUnsetAndEmpty) {
  EXPECT_EQ(run("${NOPE:-x}"), "x");
  EXPECT_EQ(run("${EMPTY:-x}"), "x");
  EXPECT_EQ(run("${TAG:-x}"), "1.2");
}

TEST(Interpolate, DashDefaultCoversUnsetOnly) {
  EXPECT_EQ(run("${NOPE-x}"), "x");
  EXPECT_EQ(run("${EMPTY-x}"), "");
}

TEST(Interpolate, DefaultsMayNestVariables) { EXPECT_EQ(run("${NOPE:-${HOST}:5432}"), "db:5432"); }

TEST(Interpolate, RequiredVariableMissingIsAnErrorWithItsMessage) {
  EXPECT_EQ(
      run("${NOPE:?set NOPE first}"),
      "ERROR: compose.yaml: services.web.image: required variable NOPE is missing: set NOPE first");
  EXPECT_EQ(run("${EMPTY:?x}"),
            "ERROR: compose.yaml: services.web.image: required variable EMPTY is empty: x");
  EXPECT_EQ(run("${EMPTY?x}"), "");
  EXPECT_EQ(run("${TAG:?x}"), "1.2");
}

TEST(Interpolate, PlusGivesAlternativeWhenSet) {
  EXPECT_EQ(run("${TAG:+yes}"), "yes");
  EXPECT_EQ(run("${NOPE:+yes}"), "");
  EXPECT_EQ(run("${EMPTY+yes}"), "yes");
}

TEST(Interpolate, DoubleDollarIsADollar) {
  EXPECT_EQ(run("echo $$HOME"), "echo $HOME");
  EXPECT_EQ(run("$$$TAG"), "$1.2");
  EXPECT_EQ(run("cost 5$"), "cost 5$");
}

TEST(Interpolate, BadFormatsAreErrors) {
  EXPECT_EQ(run("${TAG"),
            "ERROR: compose.yaml: services.web.image: \"${TAG\": '${' without its '}'");
  EXPECT_NE(run("${}").find("invalid interpolation format"), std::string::npos);
  EXPECT_NE(run("${TAG:x}").find("invalid interpolation format"), std::string::npos);
  EXPECT_NE(run("$(date)").find("invalid interpolation format"), std::string::npos);
}

TEST(SubstituteVars, ReplacesKnownAndCollectsUnknown) {
  std::vector<std::string> unknown;
  EXPECT_EQ(substitute_vars("web.$domain ${port} $$5 $nope $other $nope",
                            {{"domain", "example.org"}, {"port", "80"}}, unknown),
            "web.example.org 80 $5   ");
  EXPECT_EQ(unknown, (std::vector<std::string>{"nope", "other"}));
}

TEST(EnvFile, ParsesCommentsQuotesAndExport) {
  auto env = parse_env_file(
      "# comment\nA=1\nexport B=two words\nC=\"x\\ny\"\nD='$raw'\nE=v # note\n\nF=\n", ".env");
  ASSERT_TRUE(env) << env.error().message();
  EXPECT_EQ(env->at("A"), "1");
  EXPECT_EQ(env->at("B"), "two words");
  EXPECT_EQ(env->at("C"), "x\ny");
  EXPECT_EQ(env->at("D"), "$raw");
  EXPECT_EQ(env->at("E"), "v");
  EXPECT_EQ(env->at("F"), "");
}

TEST(EnvFile, ALineWithoutEqualsIsAnErrorNamingTheLine) {
  auto env = parse_env_file("A=1\nnot a var\n", "/p/.env");
  ASSERT_FALSE(env);
  EXPECT_EQ(env.error().message(), "/p/.env:2: \"not a var\" is not NAME=value");
}

TEST(ProjectName, NormalisedAsDockerCompose) {
  EXPECT_EQ(normalise_project_name("My App"), "myapp");
  EXPECT_EQ(normalise_project_name("_shop-1"), "shop-1");
  EXPECT_EQ(normalise_project_name("Web.Store"), "webstore");
}

TEST(PortMapping, ShortSyntax) {
  auto p = parse_port_mapping("127.0.0.1:8080:80/udp");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host_ip, "127.0.0.1");
  EXPECT_EQ(p->host_port, 8080);
  EXPECT_EQ(p->container_port, 80);
  EXPECT_EQ(p->protocol, "udp");
  p = parse_port_mapping("3000");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host_port, 0);
  p = parse_port_mapping("9000-9002:8000-8002");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host_port_end, 9002);
  EXPECT_EQ(p->count(), 3);
  p = parse_port_mapping("127.0.0.1::80");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host_port, 0);
  EXPECT_EQ(p->host_ip, "127.0.0.1");
}

TEST(PortMapping, RejectsWhatIsNotAMapping) {
  for (const char* bad : {"80:80:80", "x", "0", "70000", "80/sctp", "1:2:3:4", "9000-9001:80",
                          "80-81:90-95", "a:80:80"})
    EXPECT_FALSE(parse_port_mapping(bad)) << bad;
}
