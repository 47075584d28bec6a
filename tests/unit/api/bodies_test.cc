#include "api/bodies.h"

#include <gtest/gtest.h>

namespace berth::api {
namespace {

std::string error_of(const Error& e) { return e.message(); }

TEST(ApiBodies, ExecCreateReadsDockersBody) {
  auto e = exec_create_from_json(
      R"({"User":"","Privileged":false,"Tty":true,"ConsoleSize":[24,80],"AttachStdin":true,)"
      R"("AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,)"
      R"("WorkingDir":"/w","Cmd":["sh","-c","id"]})");
  ASSERT_TRUE(e) << error_of(e.error());
  EXPECT_EQ(e->request.args, (std::vector<std::string>{"sh", "-c", "id"}));
  EXPECT_TRUE(e->request.tty);
  EXPECT_TRUE(e->request.interactive);
  EXPECT_EQ(e->request.workdir, "/w");
  ASSERT_TRUE(e->size);
  EXPECT_EQ(*e->size, (ConsoleSize{24, 80}));
}

TEST(ApiBodies, ConsoleSizeOutOfRangeIsRefusedNotConverted) {
  // A double beyond int (or a negative number) was converted unchecked: UB.
  for (const char* size : {"[1e300,1]", "[5,-1]", "[70000,1]", "[1.5,2]", "\"24x80\""}) {
    auto e = exec_create_from_json(std::string(R"({"Cmd":["true"],"ConsoleSize":)") + size + "}");
    ASSERT_FALSE(e) << size;
    EXPECT_EQ(e.error().message(),
              "exec: field ConsoleSize must be [rows, columns], each from 0 to 65535");
    auto s = exec_start_from_json(std::string(R"({"ConsoleSize":)") + size + "}");
    ASSERT_FALSE(s) << size;
  }
  auto none = exec_start_from_json(R"({"Detach":true,"ConsoleSize":[0,0]})");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->detach);
  EXPECT_FALSE(none->size);
}

TEST(ApiBodies, WrongTypesNameTheField) {
  EXPECT_EQ(error_of(exec_create_from_json(R"({"Cmd":["a",1]})").error()),
            "exec: field Cmd must be a list of strings");
  EXPECT_EQ(error_of(exec_create_from_json(R"({"Cmd":["a"],"Bogus":1})").error()),
            "exec: field Bogus is not supported by berth");
  EXPECT_EQ(error_of(network_create_from_json(R"({"Name":"n","Labels":{"a":1}})").error()),
            "network create: field Labels.a must be a string");
  EXPECT_EQ(error_of(network_create_from_json(R"({"Name":"n","IPAM":{"Config":[7]}})").error()),
            "network create: field IPAM.Config[0] must be an object");
  EXPECT_EQ(error_of(network_connect_from_json(R"({"Container":5})", true).error()),
            "network connect: field Container must be a string");
  EXPECT_EQ(error_of(network_connect_from_json(
                         R"({"Container":"c","EndpointConfig":{"Links":["x"]}})", true)
                         .error()),
            "network connect: field EndpointConfig.Links is not supported by berth");
  EXPECT_EQ(error_of(login_from_json(R"({"username":["u"]})").error()),
            "auth: field username must be a string");
  EXPECT_EQ(error_of(login_from_json("[1]").error()), "auth: the body must be a JSON object");
  EXPECT_EQ(error_of(login_from_json("{").error()), "auth: the body is not JSON");
}

TEST(ApiBodies, NetworkCreateReadsDockersBody) {
  auto n = network_create_from_json(
      R"({"Name":"front","CheckDuplicate":true,"Driver":"","Scope":"","EnableIPv6":false,)"
      R"("IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.9.0.0/24",)"
      R"("Gateway":"10.9.0.1","AuxiliaryAddresses":{}}]},"Internal":true,"Attachable":false,)"
      R"("Ingress":false,"ConfigOnly":false,"ConfigFrom":{"Network":""},"Options":{"mtu":"1400"},)"
      R"("Labels":{"a":"b"}})");
  ASSERT_TRUE(n) << error_of(n.error());
  EXPECT_EQ(n->name, "front");
  EXPECT_EQ(n->driver, "bridge");
  EXPECT_EQ(n->subnet, "10.9.0.0/24");
  EXPECT_EQ(n->gateway, "10.9.0.1");
  EXPECT_TRUE(n->internal);
  EXPECT_EQ(n->options.at("mtu"), "1400");
  EXPECT_FALSE(network_create_from_json(R"({"Driver":"bridge"})"));
}

TEST(ApiBodies, VolumeCreateTakesLocalOnly) {
  auto v = volume_create_from_json(
      R"({"Name":"data","Driver":"local","DriverOpts":{"type":"tmpfs"},"Labels":{"a":"b"}})");
  ASSERT_TRUE(v) << error_of(v.error());
  EXPECT_EQ(v->name, "data");
  EXPECT_EQ(v->options.at("type"), "tmpfs");
  EXPECT_EQ(error_of(volume_create_from_json(R"({"Driver":"nfs"})").error()),
            "volume create: Driver 'nfs' is not supported: only local");
  EXPECT_EQ(error_of(volume_create_from_json(R"({"Labels":{"a":[]}})").error()),
            "volume create: field Labels.a must be a string");
}

TEST(ApiBodies, LoginServerIsAHost) {
  auto l = login_from_json(
      R"({"username":"u","password":"p","serveraddress":"https://index.docker.io/v1/"})");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->server, "docker.io");
  l = login_from_json(R"({"username":"u","password":"p","serveraddress":"127.0.0.1:5000"})");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->server, "127.0.0.1:5000");
}

using Query = std::vector<std::pair<std::string, std::string>>;

TEST(ApiBodies, BuildQueryReadsDockersParameters) {
  // What docker build (the classic builder) sends, ignored parameters included.
  auto q = build_query_from(Query{{"buildargs", R"({"A":"1","FROM_ENV":null})"},
                                  {"cachefrom", "[]"},
                                  {"cpushares", "0"},
                                  {"dockerfile", "sub/Dockerfile.dev"},
                                  {"labels", R"({"team":"web"})"},
                                  {"memory", "67108864"},
                                  {"networkmode", "none"},
                                  {"nocache", "1"},
                                  {"q", "true"},
                                  {"rm", "1"},
                                  {"t", "web:1"},
                                  {"t", "localhost:5000/web:latest"},
                                  {"t", ""},
                                  {"target", "build"},
                                  {"ulimits", "null"},
                                  {"version", "1"}});
  ASSERT_TRUE(q) << error_of(q.error());
  EXPECT_EQ(q->dockerfile, "sub/Dockerfile.dev");
  EXPECT_EQ(q->tags, (std::vector<std::string>{"web:1", "localhost:5000/web:latest"}));
  EXPECT_EQ(q->build_args, (std::map<std::string, std::string>{{"A", "1"}}));
  EXPECT_EQ(q->labels, (std::map<std::string, std::string>{{"team", "web"}}));
  EXPECT_EQ(q->target, "build");
  EXPECT_EQ(q->network, "none");
  EXPECT_TRUE(q->no_cache);
  EXPECT_TRUE(q->quiet);
  EXPECT_EQ(q->memory, 67108864);
  auto defaults = build_query_from(Query{{"dockerfile", ""}, {"networkmode", ""}});
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->dockerfile, "Dockerfile");
  EXPECT_EQ(defaults->network, "default");
  EXPECT_FALSE(defaults->no_cache);
  // The first of a repeated parameter counts, as dockerd's FormValue.
  auto first = build_query_from(Query{{"target", "a"}, {"target", "b"}});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->target, "a");
}

TEST(ApiBodies, BuildQueryRefusesBadParametersBeforeTheBuild) {
  // Bad JSON in buildargs or labels was ignored (the build ran without them); a bad tag failed
  // the build at its very end; a bad network at its first RUN.
  const std::pair<Query, std::string> cases[] = {
      {{{"buildargs", "{A:1}"}}, "build: query buildargs must be a JSON object of strings"},
      {{{"buildargs", "[]"}}, "build: query buildargs must be a JSON object of strings"},
      {{{"buildargs", R"({"A":1})"}}, "build: query buildargs: the value of 'A' must be a string"},
      {{{"labels", R"({"a":{"b":"c"}})"}},
       "build: query labels: the value of 'a' must be a string"},
      {{{"dockerfile", "../Dockerfile"}},
       "build: dockerfile '../Dockerfile': give a path inside the context"},
      {{{"dockerfile", "/etc/passwd"}},
       "build: dockerfile '/etc/passwd': give a path inside the context"},
      {{{"dockerfile", std::string("Dockerfile\0x", 12)}},
       std::string("build: dockerfile 'Dockerfile\0x': give a path inside the context", 64)},
      {{{"networkmode", "bridge"}},
       "build: networkmode 'bridge': builds run with default, none or host"},
      {{{"memory", "1g"}}, "build: memory '1g': want a number of bytes"},
      {{{"memory", "-1"}}, "build: memory '-1': want a number of bytes"},
      {{{"t", "web@sha256:" + std::string(64, 'a')}},
       "build: t 'web@sha256:" + std::string(64, 'a') +
           "': a name for an image needs a tag, not a digest"},
  };
  for (const auto& [query, message] : cases) {
    auto q = build_query_from(query);
    ASSERT_FALSE(q) << message;
    EXPECT_EQ(q.error().message(), message);
  }
  auto bad_tag = build_query_from(Query{{"t", "Web:1"}});
  ASSERT_FALSE(bad_tag);
  EXPECT_TRUE(error_of(bad_tag.error()).starts_with("build: t 'Web:1': "))
      << error_of(bad_tag.error());
}

}  // namespace
}  // namespace berth::api
