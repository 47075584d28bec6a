#include "runtime/seccomp.h"

#include <gtest/gtest.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>

namespace berth::runtime {
namespace {

oci::Seccomp allow_all_but(oci::SeccompSyscall rule) {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ALLOW";
  s.syscalls.push_back(std::move(rule));
  return s;
}

oci::SeccompSyscall errno_rule(std::vector<std::string> names, unsigned errno_ret,
                               std::vector<oci::SeccompArg> args = {}) {
  oci::SeccompSyscall rule;
  rule.names = std::move(names);
  rule.action = "SCMP_ACT_ERRNO";
  rule.errno_ret = errno_ret;
  rule.args = std::move(args);
  return rule;
}

oci::SeccompArg arg(unsigned index, std::string op, uint64_t value, uint64_t value_two = 0) {
  return oci::SeccompArg{index, value, value_two, std::move(op)};
}

// Runs body in a forked child (the filter must not reach the test process) after setting
// no_new_privs and loading program; returns the child's exit code, or 100+ for set-up failures.
int run_filtered(const SeccompProgram& program, const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) ::_exit(100);
    if (!load_seccomp(program)) ::_exit(101);
    ::_exit(body());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

// errno of a raw syscall that returned -1, or 0 if it succeeded.
int errno_of(long rc) { return rc < 0 ? errno : 0; }

TEST(CompileSeccomp, RejectsUnknownActionNamingTheField) {
  oci::Seccomp s = allow_all_but(errno_rule({"mkdir"}, 1));
  s.syscalls.push_back(errno_rule({"rmdir"}, 1));
  s.syscalls.push_back(errno_rule({"chdir"}, 1));
  s.syscalls[2].action = "SCMP_ACT_FOO";
  auto result = compile_seccomp(s);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(result.error().message(),
            "linux.seccomp.syscalls[2].action: unknown action 'SCMP_ACT_FOO'");
}

TEST(CompileSeccomp, RejectsUnknownDefaultAction) {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_MAYBE";
  auto result = compile_seccomp(s);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message(),
            "linux.seccomp.defaultAction: unknown action 'SCMP_ACT_MAYBE'");
}

TEST(CompileSeccomp, NotifyIsUnsupported) {
  oci::SeccompSyscall rule = errno_rule({"mkdir"}, 1);
  rule.action = "SCMP_ACT_NOTIFY";
  auto result = compile_seccomp(allow_all_but(rule));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::unsupported);
  EXPECT_EQ(result.error().message(),
            "linux.seccomp.syscalls[0].action: action 'SCMP_ACT_NOTIFY' is not supported "
            "(berth has no seccomp agent)");
}

TEST(CompileSeccomp, RejectsUnknownOperatorNamingTheArgument) {
  auto result = compile_seccomp(allow_all_but(
      errno_rule({"personality"}, 1, {arg(0, "SCMP_CMP_EQ", 1), arg(1, "SCMP_CMP_XX", 2)})));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(result.error().message(),
            "linux.seccomp.syscalls[0].args[1].op: unknown operator 'SCMP_CMP_XX'");
}

TEST(CompileSeccomp, RejectsUnknownArchitecture) {
  oci::Seccomp s = allow_all_but(errno_rule({"mkdir"}, 1));
  s.architectures = {"SCMP_ARCH_FOO"};
  auto result = compile_seccomp(s);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(result.error().message(),
            "linux.seccomp.architectures[0]: unknown architecture 'SCMP_ARCH_FOO'");
}

TEST(CompileSeccomp, AcceptsTheUsualArchitecturesIncludingTheNativeOne) {
  oci::Seccomp s = allow_all_but(errno_rule({"mkdir"}, 1));
  s.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
                     "SCMP_ARCH_ARM"};
  auto result = compile_seccomp(s);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_FALSE(result->empty());
}

TEST(CompileSeccomp, MapsFlagsAndRejectsUnknownOnes) {
  oci::Seccomp s = allow_all_but(errno_rule({"mkdir"}, 1));
  s.flags = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
             "SECCOMP_FILTER_FLAG_SPEC_ALLOW"};
  auto result = compile_seccomp(s);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->flags, unsigned{SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG |
                                    SECCOMP_FILTER_FLAG_SPEC_ALLOW});

  s.flags.push_back("SECCOMP_FILTER_FLAG_BOGUS");
  auto bad = compile_seccomp(s);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(bad.error().message(),
            "linux.seccomp.flags[3]: unknown flag 'SECCOMP_FILTER_FLAG_BOGUS'");
}

TEST(CompileSeccomp, SkipsUnknownSyscallNames) {
  auto result = compile_seccomp(allow_all_but(errno_rule({"no_such_syscall_2099", "mkdir"}, 1)));
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_FALSE(result->empty());
}

TEST(CompileSeccomp, AcceptsSyscallsThatOnlyOtherArchitecturesHave) {
  // Docker's default profile lists these for every architecture; x86_64 has none of them.
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ERRNO";
  oci::SeccompSyscall allow;
  allow.names = {"_llseek", "socketcall", "ugetrlimit", "arm_fadvise64_64", "read"};
  allow.action = "SCMP_ACT_ALLOW";
  s.syscalls.push_back(allow);
  oci::SeccompSyscall clone =
      errno_rule({"clone"}, EPERM, {arg(0, "SCMP_CMP_MASKED_EQ", 2114060288, 0)});
  clone.action = "SCMP_ACT_ALLOW";
  s.syscalls.push_back(clone);
  auto native_only = compile_seccomp(s);
  ASSERT_TRUE(native_only) << native_only.error().message();
  s.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  auto multi = compile_seccomp(s);
  ASSERT_TRUE(multi) << multi.error().message();
}

TEST(CompileSeccomp, SkipsRulesThatRepeatTheDefaultAction) {
  oci::Seccomp s = allow_all_but(errno_rule({"mkdir"}, 1));
  s.syscalls[0].action = "SCMP_ACT_ALLOW";
  auto result = compile_seccomp(s);
  ASSERT_TRUE(result) << result.error().message();
}

TEST(LoadSeccomp, ErrnoRuleMakesTheSyscallFailWithThatErrno) {
  // mkdirat too: glibc uses it where the architecture has no mkdir syscall.
  auto program = compile_seccomp(allow_all_but(errno_rule({"mkdir", "mkdirat"}, ENOSYS)));
  ASSERT_TRUE(program) << program.error().message();
  int code = run_filtered(*program, [] {
    if (::getpid() <= 0) return 102;  // other syscalls still work
    return errno_of(::mkdir("/nonexistent-berth-seccomp-test/dir", 0755));
  });
  EXPECT_EQ(code, ENOSYS);
}

TEST(LoadSeccomp, DefaultErrnoRetAppliesToTheDefaultAction) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "a deny-by-default filter also denies the sanitizer runtime's own syscalls";
#endif
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ERRNO";
  s.default_errno_ret = EXDEV;
  oci::SeccompSyscall allow;
  allow.names = {"exit_group", "exit", "getpid", "prctl", "seccomp"};
  allow.action = "SCMP_ACT_ALLOW";
  s.syscalls.push_back(allow);
  auto program = compile_seccomp(s);
  ASSERT_TRUE(program) << program.error().message();
  int code = run_filtered(*program, [] {
    if (::syscall(SYS_getpid) <= 0) return 102;
    return errno_of(::syscall(SYS_getppid));
  });
  EXPECT_EQ(code, EXDEV);
}

TEST(LoadSeccomp, ArgumentConditionDeniesOnlyMatchingCalls) {
  // personality(0xffffffff) only queries the persona.
  auto program = compile_seccomp(
      allow_all_but(errno_rule({"personality"}, EACCES, {arg(0, "SCMP_CMP_EQ", 0xffffffff)})));
  ASSERT_TRUE(program) << program.error().message();
  int code = run_filtered(*program, [] {
    if (errno_of(::syscall(SYS_personality, 0xffffffffUL)) != EACCES) return 1;
    if (errno_of(::syscall(SYS_personality, 0UL)) != 0) return 2;
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(LoadSeccomp, ConditionsOnOneArgumentAreAlternatives) {
  // getpriority(which, who): which 1 or 2 denied; 0 allowed.
  auto program = compile_seccomp(allow_all_but(
      errno_rule({"getpriority"}, EACCES,
                 {arg(0, "SCMP_CMP_EQ", PRIO_PGRP), arg(0, "SCMP_CMP_EQ", PRIO_USER)})));
  ASSERT_TRUE(program) << program.error().message();
  int code = run_filtered(*program, [] {
    if (errno_of(::syscall(SYS_getpriority, PRIO_PGRP, 0)) != EACCES) return 1;
    if (errno_of(::syscall(SYS_getpriority, PRIO_USER, 0)) != EACCES) return 2;
    if (errno_of(::syscall(SYS_getpriority, PRIO_PROCESS, 0)) != 0) return 3;
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(LoadSeccomp, ConditionsOnDistinctArgumentsMustAllMatch) {
  auto program = compile_seccomp(allow_all_but(errno_rule(
      {"getpriority"}, EACCES, {arg(0, "SCMP_CMP_EQ", PRIO_PROCESS), arg(1, "SCMP_CMP_EQ", 0)})));
  ASSERT_TRUE(program) << program.error().message();
  int code = run_filtered(*program, [] {
    if (errno_of(::syscall(SYS_getpriority, PRIO_PROCESS, 0)) != EACCES) return 1;
    if (errno_of(::syscall(SYS_getpriority, PRIO_PROCESS, ::getpid())) != 0) return 2;
    if (errno_of(::syscall(SYS_getpriority, PRIO_PGRP, 0)) != 0) return 3;
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(LoadSeccomp, MaskedEqualComparesTheMaskedArgument) {
  // value is the mask, valueTwo the value the masked argument must equal (as in runc).
  auto program = compile_seccomp(
      allow_all_but(errno_rule({"getpriority"}, EACCES, {arg(0, "SCMP_CMP_MASKED_EQ", 0x2, 0x2)})));
  ASSERT_TRUE(program) << program.error().message();
  int code = run_filtered(*program, [] {
    if (errno_of(::syscall(SYS_getpriority, PRIO_USER, 0)) != EACCES) return 1;  // 2 & 2 == 2
    if (errno_of(::syscall(SYS_getpriority, PRIO_PGRP, 0)) != 0) return 2;       // 1 & 2 == 0
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(LoadSeccomp, KillProcessActionKillsWithSigsys) {
  oci::SeccompSyscall rule = errno_rule({"getppid"}, 0);
  rule.action = "SCMP_ACT_KILL_PROCESS";
  auto program = compile_seccomp(allow_all_but(rule));
  ASSERT_TRUE(program) << program.error().message();
  int code = run_filtered(*program, [] { return static_cast<int>(::syscall(SYS_getppid) * 0); });
  EXPECT_EQ(code, 200 + SIGSYS);
}

}  // namespace
}  // namespace berth::runtime
