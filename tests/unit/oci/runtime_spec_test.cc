#include "oci/runtime_spec.h"

#include <gtest/gtest.h>

namespace berth::oci {
namespace {

std::string minimal(std::string_view extra = "") {
  return std::string(R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/")") +
         std::string(extra) + "}}";
}

TEST(RuntimeSpec, DefaultSpecParses) {
  auto spec = parse_spec(default_spec_json(false), "config.json");
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->root.path, "rootfs");
  EXPECT_TRUE(spec->root.readonly);
  ASSERT_TRUE(spec->process);
  EXPECT_EQ(spec->process->args, std::vector<std::string>{"sh"});
  EXPECT_NE(spec->linux.find_namespace("pid"), nullptr);
  EXPECT_EQ(spec->linux.find_namespace("user"), nullptr);
  EXPECT_EQ(spec->mounts.size(), 7u);
}

TEST(RuntimeSpec, RootlessDefaultHasUserNamespaceAndMappings) {
  auto spec = parse_spec(default_spec_json(true), "config.json");
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_NE(spec->linux.find_namespace("user"), nullptr);
  EXPECT_EQ(spec->linux.uid_mappings.size(), 1u);
}

TEST(RuntimeSpec, MalformedJsonNamesFileAndPosition) {
  auto spec = parse_spec("{\"ociVersion\": ", "/b/config.json");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(spec.error().message().find("/b/config.json: malformed JSON"), std::string::npos)
      << spec.error().message();
}

TEST(RuntimeSpec, UnknownNamespaceNamesTheField) {
  auto spec = parse_spec(R"({"ociVersion":"1.0.2","root":{"path":"r"},"linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}})", "c.json");
  ASSERT_FALSE(spec);
  EXPECT_NE(spec.error().message().find("c.json: linux.namespaces[1].type: unknown namespace type 'bogus'"), std::string::npos)
      << spec.error().message();
}

TEST(RuntimeSpec, WrongTypeNamesTheField) {
  auto spec = parse_spec(minimal(R"(,"user":{"uid":"root"})"), "c.json");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().message(), "c.json: process.user.uid: expected a non-negative integer, got \"root\"");
}

TEST(RuntimeSpec, RlimitSoftAboveHardIsRefused) {
  auto spec = parse_spec(minimal(R"(,"rlimits":[{"type":"RLIMIT_NOFILE","soft":10,"hard":5}])"), "c.json");
  ASSERT_FALSE(spec);
  EXPECT_NE(spec.error().message().find("process.rlimits[0]: RLIMIT_NOFILE: soft limit 10 is above hard limit 5"), std::string::npos);
}

TEST(RuntimeSpec, UnknownRlimitIsRefused) {
  auto spec = parse_spec(minimal(R"(,"rlimits":[{"type":"RLIMIT_BOGUS","soft":1,"hard":1}])"), "c.json");
  ASSERT_FALSE(spec);
  EXPECT_NE(spec.error().message().find("unknown rlimit 'RLIMIT_BOGUS'"), std::string::npos);
}

TEST(RuntimeSpec, MissingRootIsRefused) {
  auto spec = parse_spec(R"({"ociVersion":"1.0.2"})", "c.json");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().message(), "c.json: root: required field missing");
}

TEST(RuntimeSpec, UserNamespaceNeedsMappings) {
  auto spec = parse_spec(R"({"ociVersion":"1.0.2","root":{"path":"r"},"linux":{"namespaces":[{"type":"user"}]}})", "c.json");
  ASSERT_FALSE(spec);
  EXPECT_NE(spec.error().message().find("uidMappings"), std::string::npos);
}

TEST(RuntimeSpec, HostnameNeedsUtsNamespace) {
  auto spec = parse_spec(R"({"ociVersion":"1.0.2","root":{"path":"r"},"hostname":"h"})", "c.json");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().message(), "c.json: hostname: setting a hostname needs a new uts namespace");
}

TEST(RuntimeSpec, ParsesResourcesSeccompAndHooks) {
  auto spec = parse_spec(R"({"ociVersion":"1.0.2","root":{"path":"r"},
    "hooks":{"createRuntime":[{"path":"/bin/true","args":["true"],"timeout":5}]},
    "linux":{"resources":{"memory":{"limit":1048576,"swap":2097152},"cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0"},
      "pids":{"limit":32},"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]},
     "seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}}})", "c.json");
  ASSERT_TRUE(spec) << spec.error().message();
  ASSERT_TRUE(spec->linux.resources);
  EXPECT_EQ(*spec->linux.resources->memory->limit, 1048576);
  EXPECT_EQ(*spec->linux.resources->pids_limit, 32);
  EXPECT_EQ(spec->linux.resources->devices.size(), 2u);
  EXPECT_EQ(*spec->linux.resources->devices[1].major, 1);
  EXPECT_EQ(spec->hooks.create_runtime[0].timeout, 5);
  EXPECT_EQ(*spec->linux.seccomp->syscalls[0].errno_ret, 1u);
}

TEST(RuntimeSpec, ParseProcessForExec) {
  auto p = parse_process(R"({"args":["ls","-l"],"cwd":"/tmp","env":["A=1"],"terminal":true})", "process.json");
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_TRUE(p->terminal);
  EXPECT_EQ(p->cwd, "/tmp");
  auto bad = parse_process(R"({"args":[],"cwd":"/"})", "process.json");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "process.json: args: required: at least the program to run");
  auto bad_env = parse_process(R"({"args":["x"],"env":["NOEQUALS"]})", "p.json");
  ASSERT_FALSE(bad_env);
  EXPECT_EQ(bad_env.error().message(), "p.json: env[0]: 'NOEQUALS' is not of the form NAME=value");
}

}  // namespace
}  // namespace berth::oci
