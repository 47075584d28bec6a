// api/translate.h: what the Docker Engine API's requests become, and the bytes clients read.
#include "api/translate.h"

#include <gtest/gtest.h>

namespace berth::api {
namespace {

TEST(SplitVersion, StripsTheVersionPrefix) {
  auto v = split_version("/v1.41/containers/json");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->version, "1.41");
  EXPECT_EQ(v->path, "/containers/json");
}

TEST(SplitVersion, KeepsAPathWithoutPrefix) {
  auto v = split_version("/_ping");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->version, "");
  EXPECT_EQ(v->path, "/_ping");
  // A volume named "v1" is not a version.
  EXPECT_EQ(split_version("/volumes/v1")->path, "/volumes/v1");
}

TEST(SplitVersion, RefusesVersionsOutOfRangeAsDockerdSays) {
  auto too_new = split_version("/v1.50/info");
  ASSERT_FALSE(too_new);
  EXPECT_EQ(too_new.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(too_new.error().message(),
            "client version 1.50 is too new. Maximum supported API version is 1.41");
  EXPECT_FALSE(split_version("/v1.12/info"));
  EXPECT_FALSE(split_version("/v1.x/info"));
  // 1.9 < 1.24 < 1.41: compared as numbers, not text.
  EXPECT_FALSE(split_version("/v1.9/info"));
  EXPECT_TRUE(split_version("/v1.24/info"));
}

TEST(ContainerConfigFromJson, MapsConfigAndHostConfig) {
  auto c = container_config_from_json(R"({
    "Image": "busybox", "Cmd": ["echo", "hi"], "Entrypoint": ["/bin/sh", "-c"],
    "Env": ["A=1"], "WorkingDir": "/tmp", "User": "1000", "Tty": true, "OpenStdin": true,
    "Labels": {"app": "web"}, "StopSignal": "SIGINT", "StopTimeout": 3,
    "HostConfig": {
      "Binds": ["/srv:/data:ro", "vol:/v"],
      "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                       "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]},
      "NetworkMode": "mynet", "AutoRemove": true,
      "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
      "Memory": 67108864, "NanoCpus": 500000000, "CapAdd": ["NET_ADMIN"], "CapDrop": ["MKNOD"],
      "Init": true, "ReadonlyRootfs": true, "Tmpfs": {"/run": "size=1m"},
      "SecurityOpt": ["no-new-privileges"], "Privileged": false, "Devices": []
    },
    "NetworkingConfig": {"EndpointsConfig": {"mynet": {"Aliases": ["db"]}}}
  })");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->image, "busybox");
  EXPECT_EQ(c->command, (std::vector<std::string>{"echo", "hi"}));
  ASSERT_TRUE(c->entrypoint);
  EXPECT_EQ(*c->entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(c->env, (std::vector<std::string>{"A=1"}));
  EXPECT_EQ(c->workdir, "/tmp");
  EXPECT_EQ(c->user, "1000");
  EXPECT_TRUE(c->tty);
  EXPECT_TRUE(c->interactive);
  EXPECT_EQ(c->labels.at("app"), "web");
  EXPECT_EQ(c->stop_signal, "SIGINT");
  EXPECT_EQ(c->stop_timeout, 3);
  ASSERT_EQ(c->volumes.size(), 2u);
  EXPECT_EQ(c->volumes[0].source, "/srv");
  EXPECT_TRUE(c->volumes[0].read_only);
  EXPECT_EQ(c->volumes[1].source, "vol");
  EXPECT_EQ(c->publish, (std::vector<std::string>{"127.0.0.1:5353:53/udp", "8080:80/tcp"}));
  EXPECT_EQ(c->network, "mynet");
  EXPECT_EQ(c->network_aliases, (std::vector<std::string>{"db"}));
  EXPECT_TRUE(c->auto_remove);
  EXPECT_EQ(c->restart, "on-failure:2");
  EXPECT_EQ(c->memory, 67108864);
  EXPECT_DOUBLE_EQ(c->cpus.value_or(0), 0.5);
  EXPECT_EQ(c->cap_add, (std::vector<std::string>{"NET_ADMIN"}));
  EXPECT_EQ(c->cap_drop, (std::vector<std::string>{"MKNOD"}));
  EXPECT_TRUE(c->init);
  EXPECT_TRUE(c->read_only);
  EXPECT_EQ(c->tmpfs, (std::vector<std::string>{"/run:size=1m"}));
  EXPECT_TRUE(c->no_new_privileges);
}

TEST(ContainerConfigFromJson, DefaultsAsTheDockerCliSendsThem) {
  auto c = container_config_from_json(R"({"Image": "busybox", "Cmd": null, "Entrypoint": null,
    "HostConfig": {"NetworkMode": "default", "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
                   "Memory": 0, "Init": null, "PortBindings": {}, "Binds": null}})");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->network, "bridge");
  EXPECT_EQ(c->restart, "no");
  EXPECT_FALSE(c->memory);
  EXPECT_FALSE(c->entrypoint);
  EXPECT_FALSE(c->init);
}

TEST(ContainerConfigFromJson, AnEmptyEntrypointClearsTheImages) {
  auto c = container_config_from_json(R"({"Image": "busybox", "Entrypoint": [""]})");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->entrypoint);
  EXPECT_TRUE(c->entrypoint->empty());
}

TEST(ContainerConfigFromJson, ABodyNestedTooDeepIsMalformedNotACrash) {
  // Copying a Cmd of 200,000 nested arrays overflowed the API server's stack (api_translate,
  // run on a larger input than the fuzzer makes).
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  auto c = container_config_from_json(R"({"Image": "busybox", "Cmd": )" + deep + "}");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("nested more than 512 deep"), std::string::npos)
      << c.error().message();
}

TEST(ContainerConfigFromJson, BadInputIsAnErrorNamingTheField) {
  auto missing = container_config_from_json(R"({"Cmd": ["true"]})");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message(), "Image: an image is required");
  auto privileged =
      container_config_from_json(R"({"Image": "b", "HostConfig": {"Privileged": true}})");
  ASSERT_FALSE(privileged);
  EXPECT_EQ(privileged.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(privileged.error().message(), "HostConfig.Privileged is not supported by berth");
  auto cmd = container_config_from_json(R"({"Image": "b", "Cmd": [1]})");
  ASSERT_FALSE(cmd);
  EXPECT_EQ(cmd.error().message(), "Cmd: expected a list of strings");
  auto port = container_config_from_json(
      R"({"Image": "b", "HostConfig": {"PortBindings": {"x/tcp": [{"HostPort": "1"}]}}})");
  ASSERT_FALSE(port);
  EXPECT_NE(port.error().message().find("HostConfig.PortBindings"), std::string::npos);
  auto malformed = container_config_from_json("{");
  ASSERT_FALSE(malformed);
  EXPECT_TRUE(malformed.error().message().starts_with("malformed JSON"));
}

// Found by fuzz/api_translate_fuzz.cc: nlohmann's get<int64_t> of 1e300 is undefined behaviour.
TEST(ContainerConfigFromJson, NumbersThatAreNotIntegersInRangeAreErrors) {
  auto huge = container_update_from_json(R"({"PidsLimit": 3333333333333333333333333333})");
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().message(), "PidsLimit: expected an integer, got 3.3333333333333336e+27");
  auto beyond = container_config_from_json(
      R"({"Image": "b", "HostConfig": {"Memory": 18446744073709551615}})");
  ASSERT_FALSE(beyond);
  EXPECT_EQ(beyond.error().message(), "Memory: expected an integer, got 18446744073709551615");
  auto fraction = container_config_from_json(R"({"Image": "b", "HostConfig": {"NanoCpus": 1.5}})");
  ASSERT_FALSE(fraction);
  EXPECT_EQ(fraction.error().message(), "NanoCpus: expected an integer, got 1.5");
  auto timeout = container_config_from_json(R"({"Image": "b", "StopTimeout": 4294967296})");
  ASSERT_FALSE(timeout);
  EXPECT_EQ(timeout.error().message(), "StopTimeout: 4294967296 is out of range");
  auto ok = container_config_from_json(R"({"Image": "b", "StopTimeout": -1})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->stop_timeout, -1);
}

TEST(ParseFilters, ReadsListsAndDockersOlderMaps) {
  auto f = parse_filters(R"({"label":["a=1","b"],"status":{"running":true,"exited":false}})",
                         {"label", "status"});
  ASSERT_TRUE(f);
  EXPECT_EQ(f->at("label"), (std::vector<std::string>{"a=1", "b"}));
  EXPECT_EQ(f->at("status"), (std::vector<std::string>{"running"}));
  EXPECT_TRUE(parse_filters("", {})->empty());
}

TEST(ParseFilters, RefusesUnknownKeysAndBadJson) {
  auto unknown = parse_filters(R"({"colour":["red"]})", {"label"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message(), "invalid filter 'colour'");
  EXPECT_FALSE(parse_filters("[1]", {"label"}));
  EXPECT_FALSE(parse_filters(R"({"label":"a"})", {"label"}));
}

TEST(LabelsMatch, KeyAloneOrKeyAndValue) {
  std::map<std::string, std::string> labels{{"app", "web"}, {"tier", ""}};
  EXPECT_TRUE(labels_match({}, labels));
  EXPECT_TRUE(labels_match({"app"}, labels));
  EXPECT_TRUE(labels_match({"app=web", "tier"}, labels));
  EXPECT_FALSE(labels_match({"app=db"}, labels));
  EXPECT_FALSE(labels_match({"owner"}, labels));
}

TEST(FrameStream, HeaderIsStreamThenBigEndianSize) {
  std::string f = frame_stream(2, "hello");
  ASSERT_EQ(f.size(), 13u);
  EXPECT_EQ(f.substr(0, 8), std::string("\x02\0\0\0\0\0\0\x05", 8));
  EXPECT_EQ(f.substr(8), "hello");
  std::string big(70000, 'x');
  std::string g = frame_stream(1, big);
  EXPECT_EQ(g.substr(0, 8), std::string("\x01\0\0\0\0\x01\x11\x70", 8));
}

TEST(HttpStatusFor, MapsKindsAsDocker) {
  EXPECT_EQ(http_status_for(ErrorKind::not_found), 404);
  EXPECT_EQ(http_status_for(ErrorKind::already_exists), 409);
  EXPECT_EQ(http_status_for(ErrorKind::failed_precondition), 409);
  EXPECT_EQ(http_status_for(ErrorKind::invalid_argument), 400);
  EXPECT_EQ(http_status_for(ErrorKind::io), 500);
}

TEST(QueryTrue, AcceptsDockersSpellings) {
  EXPECT_TRUE(query_true("1"));
  EXPECT_TRUE(query_true("true"));
  EXPECT_TRUE(query_true("True"));
  EXPECT_FALSE(query_true("0"));
  EXPECT_FALSE(query_true(""));
}

}  // namespace
}  // namespace berth::api

namespace berth::api {
namespace {

TEST(UpdateFromJson, TakesSharesCpusetsSwapAndBlkioWeightZeroKeeps) {
  auto u = container_update_from_json(
      R"({"CpuShares":512,"CpusetCpus":"0-1","CpusetMems":"","MemorySwap":-1,"BlkioWeight":0,"Memory":0})");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->cpu_shares, 512);
  EXPECT_EQ(u->cpuset_cpus, "0-1");
  EXPECT_FALSE(u->cpuset_mems);
  EXPECT_EQ(u->memory_swap, -1);
  EXPECT_FALSE(u->blkio_weight);
  EXPECT_FALSE(u->memory);
}

TEST(CommitConfigFromJson, TakesTheImageSettingsAndRefusesRuntimeOnes) {
  auto c = commit_config_from_json(
      R"({"Cmd":["cat","/f"],"Env":["A=1"],"Labels":{"k":"v"},"ExposedPorts":{"80/tcp":{},"53":{}},"Entrypoint":null})");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->cmd, (std::vector<std::string>{"cat", "/f"}));
  EXPECT_FALSE(c->entrypoint);
  EXPECT_EQ(c->env, std::vector<std::string>{"A=1"});
  EXPECT_EQ(c->labels.at("k"), "v");
  EXPECT_EQ(c->exposed_ports, (std::set<std::string>{"53/tcp", "80/tcp"}));
  EXPECT_TRUE(commit_config_from_json(""));
  EXPECT_TRUE(commit_config_from_json("null"));
  auto tty = commit_config_from_json(R"({"Tty":true})");
  ASSERT_FALSE(tty);
  EXPECT_EQ(tty.error().message(), "Config.Tty is not supported by berth");
  EXPECT_FALSE(commit_config_from_json(R"({"Labels":{"k":1}})"));
}

}  // namespace
}  // namespace berth::api
