#include "engine/security.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "runtime/seccomp.h"

namespace berth::engine {
namespace {

bool has(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// The rules of a resolved profile that name `syscall`.
std::vector<oci::SeccompSyscall> rules_for(const oci::Seccomp& s, const std::string& syscall) {
  std::vector<oci::SeccompSyscall> out;
  for (const auto& rule : s.syscalls)
    if (has(rule.names, syscall)) out.push_back(rule);
  return out;
}

// Allowed whatever the arguments.
bool allows(const oci::Seccomp& s, const std::string& syscall) {
  for (const auto& rule : rules_for(s, syscall))
    if (rule.action == "SCMP_ACT_ALLOW" && rule.args.empty()) return true;
  return false;
}

TEST(Capabilities, DefaultsAreDockers) {
  auto caps = default_capabilities();
  EXPECT_EQ(caps.size(), 14u);
  for (const char* cap : {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                          "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                          "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"})
    EXPECT_TRUE(has(caps, cap)) << cap;
  EXPECT_FALSE(has(caps, "CAP_SYS_ADMIN"));
}

TEST(Capabilities, NoAddOrDropGivesTheDefaults) {
  auto caps = effective_capabilities({}, {});
  ASSERT_TRUE(caps) << caps.error().message();
  EXPECT_EQ(*caps, default_capabilities());
}

TEST(Capabilities, AddAndDropAcceptEverySpelling) {
  auto caps = effective_capabilities({"NET_ADMIN", "cap_sys_ptrace", "CAP_SYS_TIME", "chown"},
                                     {"chown", "CAP_KILL", "net_raw"});
  ASSERT_TRUE(caps) << caps.error().message();
  EXPECT_TRUE(has(*caps, "CAP_NET_ADMIN"));
  EXPECT_TRUE(has(*caps, "CAP_SYS_PTRACE"));
  EXPECT_TRUE(has(*caps, "CAP_SYS_TIME"));
  EXPECT_FALSE(has(*caps, "CAP_KILL"));
  EXPECT_FALSE(has(*caps, "CAP_NET_RAW"));
  // Added and dropped: the add wins, as in Docker; and it is listed once.
  EXPECT_EQ(std::count(caps->begin(), caps->end(), "CAP_CHOWN"), 1);
  EXPECT_EQ(caps->size(), 14u - 2 + 3);
}

TEST(Capabilities, AddAllGivesEveryCapabilityButTheDropped) {
  auto caps = effective_capabilities({"ALL"}, {"NET_RAW", "mknod"});
  ASSERT_TRUE(caps) << caps.error().message();
  EXPECT_TRUE(has(*caps, "CAP_SYS_ADMIN"));
  EXPECT_TRUE(has(*caps, "CAP_SYS_MODULE"));
  EXPECT_TRUE(has(*caps, "CAP_CHOWN"));
  EXPECT_FALSE(has(*caps, "CAP_NET_RAW"));
  EXPECT_FALSE(has(*caps, "CAP_MKNOD"));
  EXPECT_FALSE(has(*caps, "ALL"));
  EXPECT_GE(caps->size(), 36u);  // 38 capabilities since Linux 4.3, minus the two dropped
}

TEST(Capabilities, DropAllKeepsOnlyTheAdded) {
  auto caps = effective_capabilities({"net_bind_service", "CAP_CHOWN"}, {"all"});
  ASSERT_TRUE(caps) << caps.error().message();
  EXPECT_EQ(*caps, (std::vector<std::string>{"CAP_NET_BIND_SERVICE", "CAP_CHOWN"}));
  auto none = effective_capabilities({}, {"ALL"});
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_TRUE(none->empty());
}

TEST(Capabilities, UnknownNamesAreRefusedNamingTheValue) {
  auto add = effective_capabilities({"NET_ADMIN", "FOO"}, {});
  ASSERT_FALSE(add);
  EXPECT_EQ(add.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(add.error().message(), "--cap-add: unknown capability 'FOO'");
  auto drop = effective_capabilities({}, {"CAP_NOPE"});
  ASSERT_FALSE(drop);
  EXPECT_EQ(drop.error().message(), "--cap-drop: unknown capability 'CAP_NOPE'");
}

TEST(DefaultSeccomp, DeniesWithEpermAndAllowsTheUsualSyscalls) {
  oci::Seccomp s = default_seccomp_profile(default_capabilities());
  EXPECT_EQ(s.default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(s.default_errno_ret, EPERM);
#if defined(__x86_64__) && !defined(__ILP32__)
  EXPECT_EQ(s.architectures,
            (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  EXPECT_TRUE(allows(s, "arch_prctl"));
  EXPECT_FALSE(allows(s, "s390_runtime_instr"));
#endif
  for (const char* name : {"read", "write", "openat", "execve", "getpid", "futex", "wait4",
                           "io_uring_setup", "chroot" /* CAP_SYS_CHROOT is a default */})
    EXPECT_TRUE(allows(s, name)) << name;
  for (const char* name : {"mount", "umount2", "unshare", "setns", "kexec_load", "reboot",
                           "init_module", "bpf", "perf_event_open", "clock_settime", "acct",
                           "open_by_handle_at", "iopl", "vhangup", "syslog", "mbind"})
    EXPECT_FALSE(allows(s, name)) << name;
}

TEST(DefaultSeccomp, ArgumentConditionsAsDocker) {
  oci::Seccomp s = default_seccomp_profile(default_capabilities());
  auto clone = rules_for(s, "clone");
  ASSERT_EQ(clone.size(), 1u);
  EXPECT_EQ(clone[0].action, "SCMP_ACT_ALLOW");
  ASSERT_EQ(clone[0].args.size(), 1u);
  EXPECT_EQ(clone[0].args[0].op, "SCMP_CMP_MASKED_EQ");
  EXPECT_EQ(clone[0].args[0].value, 0x7E020000u);  // CLONE_NEW{NS,UTS,IPC,USER,PID,NET,CGROUP}
  EXPECT_EQ(clone[0].args[0].value_two, 0u);

  auto clone3 = rules_for(s, "clone3");
  ASSERT_EQ(clone3.size(), 1u);
  EXPECT_EQ(clone3[0].action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(clone3[0].errno_ret, ENOSYS);

  auto socket = rules_for(s, "socket");
  ASSERT_EQ(socket.size(), 1u);
  ASSERT_EQ(socket[0].args.size(), 1u);
  EXPECT_EQ(socket[0].args[0].op, "SCMP_CMP_NE");
  EXPECT_EQ(socket[0].args[0].value, uint64_t{AF_VSOCK});

  std::vector<uint64_t> personas;
  for (const auto& rule : rules_for(s, "personality")) {
    ASSERT_EQ(rule.args.size(), 1u);
    EXPECT_EQ(rule.args[0].op, "SCMP_CMP_EQ");
    personas.push_back(rule.args[0].value);
  }
  EXPECT_EQ(personas, (std::vector<uint64_t>{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}));
}

TEST(DefaultSeccomp, CapabilitiesAddTheirSyscalls) {
  auto with = [](const char* cap) {
    auto caps = default_capabilities();
    caps.push_back(cap);
    return default_seccomp_profile(caps);
  };
  oci::Seccomp admin = with("CAP_SYS_ADMIN");
  for (const char* name : {"mount", "umount2", "unshare", "setns", "clone", "clone3", "sethostname",
                           "fsopen", "move_mount"})
    EXPECT_TRUE(allows(admin, name)) << name;
  EXPECT_TRUE(rules_for(admin, "clone3").size() == 1 &&
              rules_for(admin, "clone3")[0].action == "SCMP_ACT_ALLOW");
  EXPECT_TRUE(allows(with("CAP_SYS_PTRACE"), "kcmp"));
  EXPECT_TRUE(allows(with("CAP_SYS_PTRACE"), "pidfd_getfd"));
  EXPECT_TRUE(allows(with("CAP_SYS_MODULE"), "finit_module"));
  EXPECT_TRUE(allows(with("CAP_SYS_BOOT"), "reboot"));
  EXPECT_TRUE(allows(with("CAP_SYS_TIME"), "clock_settime"));
  EXPECT_TRUE(allows(with("CAP_SYS_NICE"), "mbind"));
  EXPECT_TRUE(allows(with("CAP_SYS_PACCT"), "acct"));
  EXPECT_TRUE(allows(with("CAP_SYS_RAWIO"), "iopl"));
  EXPECT_TRUE(allows(with("CAP_SYS_TTY_CONFIG"), "vhangup"));
  EXPECT_TRUE(allows(with("CAP_SYSLOG"), "syslog"));
  EXPECT_TRUE(allows(with("CAP_BPF"), "bpf"));
  EXPECT_TRUE(allows(with("CAP_PERFMON"), "perf_event_open"));
  EXPECT_TRUE(allows(with("CAP_DAC_READ_SEARCH"), "open_by_handle_at"));
  // Any spelling of the capability counts.
  EXPECT_TRUE(allows(default_seccomp_profile({"sys_admin"}), "mount"));
  // Without CAP_SYS_CHROOT, no chroot.
  EXPECT_FALSE(allows(default_seccomp_profile({"CAP_CHOWN"}), "chroot"));
}

TEST(DefaultSeccomp, CompilesWithTheRuntimesSeccompCode) {
  for (const auto& caps :
       {default_capabilities(), std::vector<std::string>{}, *effective_capabilities({"ALL"}, {})}) {
    auto program = runtime::compile_seccomp(default_seccomp_profile(caps));
    ASSERT_TRUE(program) << program.error().message();
    EXPECT_FALSE(program->empty());
  }
}

// Runs body in a forked child under the filter (never in the test process); returns the child's
// exit code, or 100+ for set-up failures.
int run_filtered(const oci::Seccomp& seccomp, const std::function<int()>& body) {
  auto program = runtime::compile_seccomp(seccomp);
  if (!program) return 99;
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) ::_exit(100);
    if (!runtime::load_seccomp(*program)) ::_exit(101);
    ::_exit(body());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

int errno_of(long rc) { return rc < 0 ? errno : 0; }

TEST(DefaultSeccomp, LoadedProfileDeniesWhatDockerDenies) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "a deny-by-default filter also denies the sanitizer runtime's own syscalls";
#endif
  int code = run_filtered(default_seccomp_profile(default_capabilities()), [] {
    if (::syscall(SYS_getpid) <= 0) return 1;
    // Invalid flags: without the filter root gets EINVAL, and nothing is (un)loaded.
    if (errno_of(::syscall(SYS_kexec_load, 0UL, 0UL, 0UL, 0x80000000UL)) != EPERM) return 2;
    if (errno_of(::unshare(0)) != EPERM) return 3;  // would succeed without the filter
    if (errno_of(::unshare(CLONE_NEWUSER)) != EPERM) return 4;
    if (errno_of(::syscall(SYS_personality, 0x0006UL /* PER_BSD */)) != EPERM) return 5;
    if (errno_of(::syscall(SYS_personality, 0xffffffffUL)) != 0) return 6;
    if (errno_of(::socket(AF_VSOCK, SOCK_STREAM, 0)) != EPERM) return 7;
#ifdef SYS_clone3
    if (errno_of(::syscall(SYS_clone3, nullptr, 0UL)) != ENOSYS) return 8;
#endif
    // clone without namespace flags (fork) still works.
    pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    int status = 0;
    if (child < 0 || ::waitpid(child, &status, 0) != child || status != 0) return 9;
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(DefaultSeccomp, CapSysAdminAllowsUnshare) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "a deny-by-default filter also denies the sanitizer runtime's own syscalls";
#endif
  auto caps = default_capabilities();
  caps.push_back("CAP_SYS_ADMIN");
  int code = run_filtered(default_seccomp_profile(caps), [] {
    if (errno_of(::unshare(0)) != 0) return 1;
    if (errno_of(::syscall(SYS_kexec_load, 0UL, 0UL, 0UL, 0x80000000UL)) != EPERM) return 2;
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(DefaultSeccomp, RoundTripsThroughConfigJson) {
  oci::Spec spec;
  spec.root.path = "rootfs";
  spec.mounts = default_mounts();
  spec.linux.masked_paths = default_masked_paths();
  spec.linux.readonly_paths = default_readonly_paths();
  spec.linux.seccomp = default_seccomp_profile(default_capabilities());
  auto parsed = oci::parse_spec(oci::to_json(spec), "config.json");
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_TRUE(parsed->linux.seccomp == spec.linux.seccomp);
  EXPECT_TRUE(parsed->mounts == spec.mounts);
}

TEST(DefaultPaths, MaskedReadonlyAndMountsAsDocker) {
  auto masked = default_masked_paths();
  for (const char* path : {"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                           "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                           "/proc/sched_debug", "/proc/scsi", "/sys/firmware"})
    EXPECT_TRUE(has(masked, path)) << path;
  EXPECT_EQ(default_readonly_paths(),
            (std::vector<std::string>{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                      "/proc/sysrq-trigger"}));
  auto mounts = default_mounts();
  std::vector<std::string> destinations;
  for (const auto& m : mounts) destinations.push_back(m.destination);
  EXPECT_EQ(destinations, (std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/sys",
                                                    "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"}));
  auto find = [&](const std::string& dest) {
    return *std::find_if(mounts.begin(), mounts.end(),
                         [&](const oci::Mount& m) { return m.destination == dest; });
  };
  EXPECT_EQ(find("/dev").type, "tmpfs");
  EXPECT_TRUE(has(find("/dev/shm").options, "size=65536k"));
  EXPECT_TRUE(has(find("/sys").options, "ro"));
  EXPECT_TRUE(has(find("/sys/fs/cgroup").options, "ro"));
  EXPECT_TRUE(has(find("/dev/pts").options, "newinstance"));
}

// A temporary directory for profile files, removed with the test.
class SeccompProfileFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-security-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& text) {
    std::string path = dir_ + "/profile.json";
    std::ofstream(path) << text;
    return path;
  }
  // The error for a profile, with the directory cut off the file name.
  std::string error_for(const std::string& text, ErrorKind kind = ErrorKind::invalid_argument) {
    auto result = load_seccomp_profile(write(text), default_capabilities());
    if (result) return "(no error)";
    EXPECT_EQ(result.error().kind(), kind) << result.error().message();
    std::string message = result.error().message();
    if (message.starts_with(dir_ + "/")) message.erase(0, dir_.size() + 1);
    return message;
  }

  std::string dir_;
};

constexpr const char* kHost =
#if defined(__x86_64__) && !defined(__ILP32__)
    "amd64";
#elif defined(__aarch64__)
    "arm64";
#else
    "";
#endif

TEST_F(SeccompProfileFile, ResolvesConditionsForThisContainerAndHost) {
  std::string host = kHost;
  if (host.empty()) GTEST_SKIP() << "the test knows the arch names of amd64 and arm64 only";
  std::string profile = R"({
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
                {"architecture": "SCMP_ARCH_S390X", "subArchitectures": null}],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [
      {"name": "read", "action": "SCMP_ACT_ALLOW", "comment": "one name"},
      {"names": ["write", "close"], "action": "SCMP_ACT_ALLOW", "args": []},
      {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
      {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
      {"names": ["future"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
      {"names": ["here"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["HOST"]}},
      {"names": ["elsewhere"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
      {"names": ["not_here"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["HOST"]}},
      {"names": ["no_admin"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
       "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
      {"names": ["no_chroot"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_CHROOT"]}},
      {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}
    ]})";
  for (size_t at; (at = profile.find("HOST")) != std::string::npos;) profile.replace(at, 4, host);
  auto result = load_seccomp_profile(write(profile), {"sys_chroot", "CAP_KILL"});
  ASSERT_TRUE(result) << result.error().message();
  const oci::Seccomp& s = *result;
  EXPECT_EQ(s.default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(s.default_errno_ret, 38u);
  EXPECT_EQ(s.flags, std::vector<std::string>{"SECCOMP_FILTER_FLAG_LOG"});
  EXPECT_EQ(s.architectures.size(), 2u);
  std::vector<std::string> names;
  for (const auto& rule : s.syscalls)
    names.insert(names.end(), rule.names.begin(), rule.names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"read", "write", "close", "chroot", "ptrace", "here",
                                             "no_admin", "personality"}));
  EXPECT_EQ(rules_for(s, "no_admin")[0].errno_ret, 1u);
  EXPECT_EQ(rules_for(s, "personality")[0].args[0].value, 8u);
  auto program = runtime::compile_seccomp(s);
  EXPECT_TRUE(program) << program.error().message();
}

TEST_F(SeccompProfileFile, ExplicitArchitecturesAreKept) {
  auto result = load_seccomp_profile(
      write(
          R"({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_AARCH64"]})"),
      {});
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->architectures,
            (std::vector<std::string>{"SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"}));
  EXPECT_TRUE(result->syscalls.empty());
}

TEST_F(SeccompProfileFile, ErrorsNameTheFileAndTheField) {
  const std::string rules =
      R"({"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["write"],"action":"SCMP_ACT_ALLOW"},)"
      R"({"names":["close"],"action":"SCMP_ACT_ALLOW"},)";
  auto with_rule = [&](const std::string& rule) {
    return R"({"defaultAction":"SCMP_ACT_ERRNO","syscalls":[)" + rules + rule + "]}";
  };
  EXPECT_EQ(error_for(with_rule(R"({"names":["mkdir"],"action":"SCMP_ACT_FOO"})")),
            "profile.json: syscalls[3].action: unknown action 'SCMP_ACT_FOO'");
  EXPECT_EQ(error_for(with_rule(R"({"names":["mkdir"]})")),
            "profile.json: syscalls[3].action: required field missing");
  EXPECT_EQ(error_for(with_rule(R"({"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"})")),
            "profile.json: syscalls[3]: give either name or names, not both");
  EXPECT_EQ(error_for(with_rule(R"({"names":[],"action":"SCMP_ACT_ALLOW"})")),
            "profile.json: syscalls[3].names: required: at least one syscall name");
  EXPECT_EQ(error_for(with_rule(R"({"names":[1],"action":"SCMP_ACT_ALLOW"})")),
            "profile.json: syscalls[3].names[0]: expected a string, got number");
  EXPECT_EQ(
      error_for(with_rule(
          R"({"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":1,"op":"SCMP_CMP_XX"}]})")),
      "profile.json: syscalls[3].args[1].op: unknown operator 'SCMP_CMP_XX'");
  EXPECT_EQ(
      error_for(with_rule(
          R"({"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]})")),
      "profile.json: syscalls[3].args[0].index: 6 is above 5");
  EXPECT_EQ(
      error_for(with_rule(
          R"({"names":["x"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":-1,"op":"SCMP_CMP_EQ"}]})")),
      "profile.json: syscalls[3].args[0].value: expected a non-negative integer, got -1");
  EXPECT_EQ(error_for(with_rule(
                R"({"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"four"}})")),
            "profile.json: syscalls[3].includes.minKernel: 'four' is not a kernel version "
            "(MAJOR.MINOR)");
  EXPECT_EQ(
      error_for(with_rule(R"({"names":["x"],"action":"SCMP_ACT_NOTIFY"})"), ErrorKind::unsupported),
      "profile.json: syscalls[3].action: action 'SCMP_ACT_NOTIFY' is not supported (berth "
      "has no seccomp agent)");
  EXPECT_EQ(error_for(R"({"syscalls":[]})"), "profile.json: defaultAction: required field missing");
  EXPECT_EQ(error_for(R"([])"), "profile.json: (top): expected an object, got array");
  EXPECT_EQ(error_for(R"({"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_VAX"]})"),
            "profile.json: architectures[0]: unknown architecture 'SCMP_ARCH_VAX'");
  EXPECT_EQ(error_for(R"({"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86"],
                         "archMap":[]})"),
            "profile.json: archMap: give either architectures or archMap, not both");
  EXPECT_EQ(error_for(R"({"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"subArchitectures":[]}]})"),
            "profile.json: archMap[0].architecture: required field missing");
  EXPECT_EQ(error_for(R"({"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":"EPERM"})"),
            "profile.json: defaultErrnoRet: expected a non-negative integer, got \"EPERM\"");
}

TEST_F(SeccompProfileFile, MalformedJsonAndMissingFile) {
  std::string message = error_for(R"({"defaultAction": )");
  EXPECT_TRUE(message.starts_with("profile.json: malformed JSON: ")) << message;
  auto missing = load_seccomp_profile(dir_ + "/absent.json", {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind(), ErrorKind::not_found);
  EXPECT_NE(missing.error().message().find("absent.json"), std::string::npos)
      << missing.error().message();
}

}  // namespace
}  // namespace berth::engine
