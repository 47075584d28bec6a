#include "oci/runtime_spec.h"

#include <fmt/format.h>
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
  EXPECT_EQ(spec.error().message(),
            "c.json: hostname: setting a hostname needs a uts namespace (new, or joined by path)");
  auto domain =
      parse_spec(R"({"ociVersion":"1.0.2","root":{"path":"r"},"domainname":"d"})", "c.json");
  ASSERT_FALSE(domain);
  EXPECT_EQ(
      domain.error().message(),
      "c.json: domainname: setting a domainname needs a uts namespace (new, or joined by path)");
}

TEST(RuntimeSpec, HostnameMayGoToAJoinedUtsNamespace) {
  auto spec = parse_spec(R"({"ociVersion":"1.0.2","root":{"path":"r"},"hostname":"h",
    "linux":{"namespaces":[{"type":"uts","path":"/proc/1/ns/uts"}]}})",
                         "c.json");
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->hostname, "h");
}

// A sysctl the container does not own would be written to the host's /proc/sys.
TEST(RuntimeSpec, SysctlsNeedTheirNamespace) {
  auto with = [](std::string_view namespaces, std::string_view sysctl) {
    return parse_spec(fmt::format(R"({{"ociVersion":"1.0.2","root":{{"path":"r"}},
      "linux":{{"namespaces":[{}],"sysctl":{{{}}}}}}})", namespaces, sysctl), "c.json");
  };
  EXPECT_TRUE(with(R"({"type":"network"},{"type":"ipc"},{"type":"uts"})",
                   R"("net.ipv4.ip_forward":"1","kernel.shmmax":"4096","fs.mqueue.msg_max":"20",
                      "kernel.domainname":"example.org")"));
  EXPECT_TRUE(with(R"({"type":"network","path":"/proc/1/ns/net"})", R"("net/core/somaxconn":"256")"));
  auto net = with(R"({"type":"ipc"})", R"("net.ipv4.ip_forward":"1")");
  ASSERT_FALSE(net);
  EXPECT_EQ(net.error().message(), "c.json: linux.sysctl.net.ipv4.ip_forward: needs a network namespace "
                                   "in linux.namespaces, or it would change the host's");
  EXPECT_FALSE(with(R"({"type":"network"})", R"("kernel.msgmax":"4096")"));
  EXPECT_FALSE(with(R"({"type":"network"})", R"("fs.mqueue.msg_max":"20")"));
  auto host = with(R"({"type":"network"},{"type":"ipc"},{"type":"uts"})", R"("vm.swappiness":"10")");
  ASSERT_FALSE(host);
  EXPECT_EQ(host.error().message(),
            "c.json: linux.sysctl.vm.swappiness: not namespaced: writing it would change the host");
  EXPECT_FALSE(with(R"({"type":"uts"})", R"("kernel.hostname":"x")"));
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

// A spec with every field of every struct set to something other than its default.
Spec every_field_spec() {
  Spec s;
  s.oci_version = "1.1.0";
  Process p;
  p.terminal = true;
  p.console_size = ConsoleSize{24, 80};
  p.user = User{1000, 1001, 022, {10, 20}};
  p.args = {"/bin/sh", "-c", "echo hi"};
  p.env = {"PATH=/bin", "EMPTY="};
  p.cwd = "/work";
  p.capabilities =
      Capabilities{{"CAP_CHOWN"}, {"CAP_KILL"}, {"CAP_SETUID"}, {"CAP_SETGID"}, {"CAP_NET_RAW"}};
  p.rlimits = {Rlimit{"RLIMIT_NOFILE", 4096, 1024}, Rlimit{"RLIMIT_CORE", UINT64_MAX, 0}};
  p.no_new_privileges = true;
  p.oom_score_adj = -500;
  p.apparmor_profile = "docker-default";
  p.selinux_label = "system_u:system_r:container_t:s0";
  s.process = p;
  s.root = Root{"/var/lib/rootfs", true};
  s.hostname = "web";
  s.domainname = "example.org";
  s.mounts = {Mount{"/proc", "proc", "proc", {}},
              Mount{"/data", "bind", "/srv/data", {"rbind", "ro"}}};
  Hook hook{"/usr/bin/hook", {"hook", "arg"}, {"A=1"}, 5};
  s.hooks = Hooks{{hook}, {hook}, {hook}, {hook}, {hook}, {Hook{"/bin/true", {}, {}, {}}}};
  s.annotations = {{"org.example/key", "value"}, {"another", ""}};
  Linux& l = s.linux;
  l.namespaces = {Namespace{"pid", ""},   Namespace{"network", "/run/netns/x"},
                  Namespace{"mount", ""}, Namespace{"uts", ""},
                  Namespace{"user", ""},  Namespace{"time", ""}};
  l.uid_mappings = {IdMapping{0, 100000, 65536}};
  l.gid_mappings = {IdMapping{0, 200000, 65536}, IdMapping{65536, 5, 1}};
  l.devices = {Device{"c", "/dev/fuse", 10, 229, 0666, 0, 0},
               Device{"p", "/dev/fifo", 0, 0, {}, {}, {}}};
  l.cgroups_path = "/berth/web";
  Resources r;
  r.devices = {DeviceRule{false, "a", {}, {}, "rwm"}, DeviceRule{true, "c", 1, 3, "rw"}};
  r.memory = Memory{1 << 30, 1 << 29, -1, 1 << 20, 1 << 21, 60, true};
  r.cpu = Cpu{1024, 50000, 100000, 950000, 1000000, "0-3", "0", 1};
  r.pids_limit = 100;
  r.block_io = BlockIo{500,
                       300,
                       {WeightDevice{8, 0, 200, 100}},
                       {ThrottleDevice{8, 0, 1 << 20}},
                       {ThrottleDevice{8, 16, 2 << 20}},
                       {ThrottleDevice{8, 0, 100}},
                       {ThrottleDevice{8, 16, 200}}};
  r.hugepage_limits = {HugepageLimit{"2MB", 1 << 22}};
  r.network = Network{0x100001, {InterfacePriority{"eth0", 5}, InterfacePriority{"lo", 2}}};
  r.unified = {{"memory.high", "1G"}};
  l.resources = r;
  l.rootfs_propagation = "rslave";
  l.masked_paths = {"/proc/kcore"};
  l.readonly_paths = {"/proc/sys"};
  Seccomp sec;
  sec.default_action = "SCMP_ACT_ERRNO";
  sec.default_errno_ret = 1;
  sec.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"};
  sec.flags = {"SECCOMP_FILTER_FLAG_LOG"};
  sec.listener_path = "/run/seccomp.sock";
  sec.syscalls = {SeccompSyscall{{"read", "write"}, "SCMP_ACT_ALLOW", {}, {}},
                  SeccompSyscall{{"clone"},
                                 "SCMP_ACT_ALLOW",
                                 {},
                                 {SeccompArg{0, 2114060288, 0, "SCMP_CMP_MASKED_EQ"},
                                  SeccompArg{1, 7, 3, "SCMP_CMP_GE"}}},
                  SeccompSyscall{{"clone3"}, "SCMP_ACT_ERRNO", 38, {}}};
  l.seccomp = sec;
  l.sysctl = {{"net.ipv4.ip_forward", "1"}};
  l.mount_label = "system_u:object_r:container_file_t:s0";
  return s;
}

TEST(RuntimeSpecToJson, RoundTripsEveryField) {
  Spec spec = every_field_spec();
  std::string text = to_json(spec);
  auto parsed = parse_spec(text, "config.json");
  ASSERT_TRUE(parsed) << parsed.error().message() << "\n" << text;
  EXPECT_TRUE(*parsed == spec) << text << "\nre-serialised:\n" << to_json(*parsed);
  EXPECT_EQ(to_json(*parsed), text);
}

TEST(RuntimeSpecToJson, UsesTheSpecsFieldNames) {
  std::string text = to_json(every_field_spec());
  for (const char* name : {"\"ociVersion\"",
                           "\"consoleSize\"",
                           "\"additionalGids\"",
                           "\"noNewPrivileges\"",
                           "\"oomScoreAdj\"",
                           "\"apparmorProfile\"",
                           "\"selinuxLabel\"",
                           "\"createRuntime\"",
                           "\"createContainer\"",
                           "\"startContainer\"",
                           "\"uidMappings\"",
                           "\"containerID\"",
                           "\"hostID\"",
                           "\"fileMode\"",
                           "\"cgroupsPath\"",
                           "\"kernelTCP\"",
                           "\"disableOOMKiller\"",
                           "\"realtimeRuntime\"",
                           "\"blockIO\"",
                           "\"leafWeight\"",
                           "\"weightDevice\"",
                           "\"throttleReadBpsDevice\"",
                           "\"throttleWriteIOPSDevice\"",
                           "\"hugepageLimits\"",
                           "\"pageSize\"",
                           "\"classID\"",
                           "\"priorities\"",
                           "\"rootfsPropagation\"",
                           "\"maskedPaths\"",
                           "\"readonlyPaths\"",
                           "\"defaultErrnoRet\"",
                           "\"listenerPath\"",
                           "\"errnoRet\"",
                           "\"valueTwo\"",
                           "\"mountLabel\""})
    EXPECT_NE(text.find(name), std::string::npos) << name;
}

TEST(RuntimeSpecToJson, LeavesOutWhatIsUnset) {
  Spec spec;
  spec.root.path = "rootfs";
  Process p;
  p.args = {"sh"};
  spec.process = p;
  std::string text = to_json(spec);
  EXPECT_EQ(text,
            "{\n"
            "\t\"linux\": {},\n"
            "\t\"ociVersion\": \"1.1.0\",\n"
            "\t\"process\": {\n"
            "\t\t\"args\": [\n\t\t\t\"sh\"\n\t\t],\n"
            "\t\t\"cwd\": \"/\",\n"
            "\t\t\"user\": {\n\t\t\t\"gid\": 0,\n\t\t\t\"uid\": 0\n\t\t}\n"
            "\t},\n"
            "\t\"root\": {\n\t\t\"path\": \"rootfs\"\n\t}\n"
            "}\n");
  auto parsed = parse_spec(text, "config.json");
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->oci_version, kRuntimeSpecVersion);
}

TEST(RuntimeSpecToJson, DefaultSpecReserialisesToTheSameSpec) {
  for (bool rootless : {false, true}) {
    auto first = parse_spec(default_spec_json(rootless), "config.json");
    ASSERT_TRUE(first) << first.error().message();
    std::string text = to_json(*first);
    auto second = parse_spec(text, "config.json");
    ASSERT_TRUE(second) << second.error().message() << "\n" << text;
    EXPECT_TRUE(*second == *first) << text;
    EXPECT_EQ(to_json(*second), text);
  }
}

TEST(RuntimeSpecToJson, ProcessRoundTripsForExec) {
  Process p = *every_field_spec().process;
  std::string text = to_json(p);
  auto parsed = parse_process(text, "process.json");
  ASSERT_TRUE(parsed) << parsed.error().message() << "\n" << text;
  EXPECT_TRUE(*parsed == p) << text;
}

}  // namespace
}  // namespace berth::oci
