// runtime/cgroup/warmup.cc — joining a cgroup without waiting for the kernel: join_self, and
// MigrationWarmup: a child sharing our memory (clone with CLONE_VM,
// like a thread but with no glibc state of its own) writes "0" (itself) to a root cgroup's
// process list and exits. It runs only raw system calls: it shares the parent's thread-local
// storage, so not even errno may be touched.
#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/cgroup/cgroup.h"

namespace berth::runtime::cgroup {

namespace {

constexpr size_t kStackSize = 16 * 1024;

long raw_syscall3(long number, long a, long b, long c) {
#if defined(__x86_64__)
  long result;
  asm volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return result;
#elif defined(__aarch64__)
  register long x8 asm("x8") = number;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  asm volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
#else
  return -1;  // elsewhere the child does nothing; the warm-up is only an optimisation
#endif
}

int move_self(void* arg) {
  long fd = static_cast<long>(reinterpret_cast<intptr_t>(arg));
  static const char kSelf[] = "0";  // "0" names the writing process
  raw_syscall3(SYS_write, fd, reinterpret_cast<long>(kSelf), 1);
  raw_syscall3(SYS_exit, 0, 0, 0);
  return 0;
}

}  // namespace

Result<void> join_self(const std::vector<int>& fds) {
  for (int fd : fds) {
    if (::write(fd, "0", 1) != 1) return Error::from_errno("join the container's cgroup (write '0' to its tasks)");
    ::close(fd);
  }
  return {};
}

MigrationWarmup::MigrationWarmup(Mode mode) {
  if (mode != Mode::v2) return;
  // cgroup.procs: a whole process's move, which takes the lock. The child leaves its cgroup for
  // the root one only to exit at once.
  int fd = ::open("/sys/fs/cgroup/cgroup.procs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  stack_ = std::make_unique<char[]>(kStackSize);
  // Its own copy of the fd table: we close the file at once, so no later child inherits it. No
  // exit signal: only waitpid(pid, __WCLONE) reaps it, so no one's waitpid(-1) sees it.
  pid_ = ::clone(move_self, stack_.get() + kStackSize, CLONE_VM, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  ::close(fd);
  if (pid_ < 0) stack_.reset();
}

MigrationWarmup::~MigrationWarmup() {
  if (pid_ > 0) {
    while (::waitpid(pid_, nullptr, __WCLONE) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace berth::runtime::cgroup
