// Range folding of seccomp programs (runtime/detail/bpf_fold.h): the folded program must return
// what the original returns for every architecture, syscall number and argument tried.
#include "runtime/detail/bpf_fold.h"

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <array>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "runtime/seccomp.h"

namespace berth::runtime {
namespace {

// A classic BPF interpreter for seccomp_data, with the instructions libseccomp emits; an
// instruction it does not know fails the test.
uint32_t run(const std::vector<uint64_t>& program, const seccomp_data& data) {
  std::vector<sock_filter> f(program.size());
  std::memcpy(f.data(), program.data(), program.size() * sizeof(sock_filter));
  uint32_t a = 0, x = 0;
  std::array<uint32_t, BPF_MEMWORDS> mem{};
  const auto* bytes = reinterpret_cast<const unsigned char*>(&data);
  for (size_t pc = 0; pc < f.size(); ++pc) {
    const sock_filter& i = f[pc];
    switch (i.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        EXPECT_LE(i.k + 4, sizeof data);
        std::memcpy(&a, bytes + i.k, 4);
        break;
      case BPF_LD | BPF_W | BPF_IMM: a = i.k; break;
      case BPF_LD | BPF_MEM: a = mem.at(i.k); break;
      case BPF_LDX | BPF_W | BPF_MEM: x = mem.at(i.k); break;
      case BPF_ST: mem.at(i.k) = a; break;
      case BPF_STX: mem.at(i.k) = x; break;
      case BPF_ALU | BPF_AND | BPF_K: a &= i.k; break;
      case BPF_ALU | BPF_OR | BPF_K: a |= i.k; break;
      case BPF_MISC | BPF_TAX: x = a; break;
      case BPF_MISC | BPF_TXA: a = x; break;
      case BPF_JMP | BPF_JA: pc += i.k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += a == i.k ? i.jt : i.jf; break;
      case BPF_JMP | BPF_JGT | BPF_K: pc += a > i.k ? i.jt : i.jf; break;
      case BPF_JMP | BPF_JGE | BPF_K: pc += a >= i.k ? i.jt : i.jf; break;
      case BPF_JMP | BPF_JSET | BPF_K: pc += (a & i.k) ? i.jt : i.jf; break;
      case BPF_JMP | BPF_JEQ | BPF_X: pc += a == x ? i.jt : i.jf; break;
      case BPF_JMP | BPF_JGT | BPF_X: pc += a > x ? i.jt : i.jf; break;
      case BPF_JMP | BPF_JGE | BPF_X: pc += a >= x ? i.jt : i.jf; break;
      case BPF_RET | BPF_K: return i.k;
      default: ADD_FAILURE() << "instruction " << pc << ": unknown code " << i.code; return 0;
    }
  }
  ADD_FAILURE() << "fell off the end";
  return 0;
}

uint64_t insn(uint16_t code, uint8_t jt, uint8_t jf, uint32_t k) {
  sock_filter f{code, jt, jf, k};
  uint64_t out;
  std::memcpy(&out, &f, sizeof f);
  return out;
}

seccomp_data call(uint32_t arch, int nr, uint64_t arg0 = 0, uint64_t arg1 = 0) {
  seccomp_data d{};
  d.arch = arch;
  d.nr = nr;
  d.args[0] = arg0;
  d.args[1] = arg1;
  return d;
}

// Most of the syscalls of Docker's default profile, some with argument rules, on the three
// x86 ABIs, as docker ships it.
oci::Seccomp docker_like_profile() {
  oci::Seccomp s;
  s.default_action = "SCMP_ACT_ERRNO";
  s.default_errno_ret = 1;
  s.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
  oci::SeccompSyscall allow;
  allow.action = "SCMP_ACT_ALLOW";
  allow.names = {"accept", "accept4", "access", "alarm", "bind", "brk", "capget", "capset", "chdir", "chmod",
                 "chown", "clock_getres", "clock_gettime", "clock_nanosleep", "close", "connect", "copy_file_range",
                 "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait",
                 "epoll_wait", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
                 "fadvise64", "fallocate", "fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl",
                 "fdatasync", "fgetxattr", "flock", "fork", "fstat", "fstatfs", "fsync", "ftruncate", "futex",
                 "getcwd", "getdents", "getdents64", "getegid", "geteuid", "getgid", "getgroups", "getitimer",
                 "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
                 "getresgid", "getresuid", "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt",
                 "gettid", "gettimeofday", "getuid", "getxattr", "ioctl", "kill", "lchown", "link", "linkat",
                 "listen", "lseek", "lstat", "madvise", "mkdir", "mkdirat", "mmap", "mprotect", "mremap",
                 "munmap", "nanosleep", "newfstatat", "open", "openat", "pause", "pipe", "pipe2", "poll",
                 "ppoll", "prctl", "pread64", "pwrite64", "read", "readlink", "readlinkat", "readv",
                 "recvfrom", "recvmsg", "rename", "renameat", "rmdir", "rt_sigaction", "rt_sigprocmask",
                 "rt_sigreturn", "sched_yield", "select", "sendmsg", "sendto", "set_robust_list",
                 "set_tid_address", "setgid", "setsockopt", "setuid", "shutdown", "sigaltstack", "socket",
                 "socketpair", "stat", "statfs", "symlink", "tgkill", "umask", "uname", "unlink", "unlinkat",
                 "wait4", "write", "writev"};
  s.syscalls.push_back(allow);
  oci::SeccompSyscall personality;
  personality.action = "SCMP_ACT_ALLOW";
  personality.names = {"personality"};
  for (uint64_t v : {0ull, 8ull, 131072ull, 131080ull, 4294967295ull}) {
    personality.args = {oci::SeccompArg{0, v, 0, "SCMP_CMP_EQ"}};
    s.syscalls.push_back(personality);
  }
  oci::SeccompSyscall clone;
  clone.action = "SCMP_ACT_ALLOW";
  clone.names = {"clone"};
  clone.args = {oci::SeccompArg{0, 2114060288, 0, "SCMP_CMP_MASKED_EQ"}};
  s.syscalls.push_back(clone);
  return s;
}

TEST(BpfFold, FoldsConsecutiveEqualityTestsIntoRanges) {
  // 0..4 allowed one by one, 7 alone, anything else denied.
  std::vector<uint64_t> p = {
      insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, 0),
      insn(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 0), insn(BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 1),
      insn(BPF_JMP | BPF_JEQ | BPF_K, 4, 0, 2), insn(BPF_JMP | BPF_JEQ | BPF_K, 3, 0, 3),
      insn(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 4), insn(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 7),
      insn(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | 1), insn(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW)};
  auto folded = detail::fold_equality_runs(p);
  EXPECT_EQ(folded.size(), p.size() - 3);
  for (int nr = -2; nr < 12; ++nr)
    EXPECT_EQ(run(folded, call(0, nr)), run(p, call(0, nr))) << "nr " << nr;
}

TEST(BpfFold, LeavesARunAloneWhenSomethingJumpsIntoIt) {
  std::vector<uint64_t> p = {
      insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, 0),
      insn(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 9),  // 9 skips to the third test of the run
      insn(BPF_JMP | BPF_JEQ | BPF_K, 4, 0, 0), insn(BPF_JMP | BPF_JEQ | BPF_K, 3, 0, 1),
      insn(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 2), insn(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 3),
      insn(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | 1), insn(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW)};
  auto folded = detail::fold_equality_runs(p);
  for (int nr = -1; nr < 12; ++nr)
    EXPECT_EQ(run(folded, call(0, nr)), run(p, call(0, nr))) << "nr " << nr;
}

TEST(BpfFold, ADockerLikeProfileIsShorterAndAnswersTheSame) {
  auto folded = compile_seccomp(docker_like_profile());
  auto exported = compile_seccomp(docker_like_profile(), false);
  ASSERT_TRUE(folded) << folded.error().message();
  ASSERT_TRUE(exported) << exported.error().message();
  EXPECT_LT(folded->instructions.size() * 3, exported->instructions.size() * 2);
  EXPECT_EQ(detail::fold_equality_runs(folded->instructions), folded->instructions);  // idempotent
  constexpr uint32_t kX32 = 0x40000000;
  std::mt19937_64 random(42);
  const std::vector<uint64_t> args = {0, 8, 131072, 131080, 4294967295ull, 2114060288, 1ull << 40,
                                      random(), random()};
  size_t tried = 0;
  for (uint32_t arch : std::array<uint32_t, 3>{AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64}) {
    for (uint32_t base : {0u, kX32}) {
      if (base == kX32 && arch != AUDIT_ARCH_X86_64) continue;
      for (int64_t nr = -2; nr < 1100; ++nr) {
        for (uint64_t a0 : args) {
          auto d = call(arch, static_cast<int>(base + nr), a0, a0 >> 3);
          ASSERT_EQ(run(folded->instructions, d), run(exported->instructions, d))
              << "arch " << arch << " nr " << base + nr << " arg0 " << a0;
          ++tried;
        }
      }
    }
  }
  EXPECT_GT(tried, 30000u);
}

}  // namespace
}  // namespace berth::runtime
