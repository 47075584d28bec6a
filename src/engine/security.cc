// engine/security.cc — Docker's defaults as data, and Docker-format seccomp profiles.
//
// A seccomp profile (Docker's default or a user's file) is first read into a Profile whose rules
// still carry their conditions (capabilities, architectures, kernel version); resolve() then
// keeps the rules that apply to this container on this host and yields the spec's linux.seccomp.
#include "engine/security.h"

#include <fmt/format.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>

#include "base/sys.h"
#include "runtime/capabilities.h"

namespace berth::engine {
namespace {

using nlohmann::json;

// ---- capabilities --------------------------------------------------------------------------

constexpr std::string_view kAll = "ALL";

bool is_all(std::string_view name) {
  return name.size() == kAll.size() &&
         std::equal(name.begin(), name.end(), kAll.begin(), [](char a, char b) {
           return std::toupper(static_cast<unsigned char>(a)) == b;
         });
}

// The highest capability the running kernel has (CAP_CHECKPOINT_RESTORE on 5.9+).
int kernel_last_capability() {
  constexpr int kFallback = 40;
  auto text = sys::read_file("/proc/sys/kernel/cap_last_cap");
  if (!text) return kFallback;
  int last = 0;
  return std::sscanf(text->c_str(), "%d", &last) == 1 ? last : kFallback;
}

std::vector<std::string> all_capabilities() {
  std::vector<std::string> out;
  const int last = kernel_last_capability();
  for (int cap = 0; cap <= last; ++cap) {
    std::string name = runtime::capability_name(cap);
    if (name.starts_with("CAP_")) out.push_back(std::move(name));  // libcap knows it
  }
  return out;
}

// "net_admin" → "CAP_NET_ADMIN"; ALL stays ALL.
Result<std::vector<std::string>> normalise_capabilities(const std::vector<std::string>& names,
                                                        std::string_view option) {
  std::vector<std::string> out;
  for (const std::string& name : names) {
    if (is_all(name)) {
      out.emplace_back(kAll);
      continue;
    }
    int cap = runtime::capability_from_name(name);
    if (cap < 0)
      return Error::make(ErrorKind::invalid_argument, "{}: unknown capability '{}'", option, name);
    out.push_back(runtime::capability_name(cap));
  }
  return out;
}

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

void add_unique(std::vector<std::string>& list, const std::string& item) {
  if (!contains(list, item)) list.push_back(item);
}

// ---- seccomp profiles ----------------------------------------------------------------------

struct KernelVersion {
  unsigned major = 0, minor = 0;
  auto operator<=>(const KernelVersion&) const = default;
};

// "6.1.0-18-amd64" → {6, 1}.
std::optional<KernelVersion> parse_kernel_version(const std::string& text) {
  KernelVersion v;
  if (std::sscanf(text.c_str(), "%u.%u", &v.major, &v.minor) != 2) return std::nullopt;
  return v;
}

KernelVersion running_kernel() {
  struct utsname name {};
  if (::uname(&name) != 0) return {};
  return parse_kernel_version(name.release).value_or(KernelVersion{});
}

// The host as profiles name it: `arch` is Docker's name in includes/excludes.arches (Go's
// GOARCH, with x86 for 386), `seccomp` libseccomp's name in architectures and archMap.
struct HostArch {
  std::string_view arch;
  std::string_view seccomp;
};

constexpr HostArch host_arch() {
#if defined(__x86_64__) && defined(__ILP32__)
  return {"x32", "SCMP_ARCH_X32"};
#elif defined(__x86_64__)
  return {"amd64", "SCMP_ARCH_X86_64"};
#elif defined(__i386__)
  return {"x86", "SCMP_ARCH_X86"};
#elif defined(__aarch64__)
  return {"arm64", "SCMP_ARCH_AARCH64"};
#elif defined(__arm__)
  return {"arm", "SCMP_ARCH_ARM"};
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return {"ppc64le", "SCMP_ARCH_PPC64LE"};
#elif defined(__powerpc64__)
  return {"ppc64", "SCMP_ARCH_PPC64"};
#elif defined(__s390x__)
  return {"s390x", "SCMP_ARCH_S390X"};
#elif defined(__riscv) && __riscv_xlen == 64
  return {"riscv64", "SCMP_ARCH_RISCV64"};
#elif defined(__loongarch64)
  return {"loong64", "SCMP_ARCH_LOONGARCH64"};
#elif defined(__mips64) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return {"mips64le", "SCMP_ARCH_MIPSEL64"};
#elif defined(__mips64)
  return {"mips64", "SCMP_ARCH_MIPS64"};
#else
  return {"", ""};
#endif
}

// When a rule applies: all of the included capabilities, one of the included architectures, at
// least the kernel version; none of the excluded capabilities or architectures.
struct Condition {
  std::vector<std::string> caps, arches;
};

struct ProfileRule {
  std::vector<std::string> names;
  std::string action = "SCMP_ACT_ALLOW";
  std::optional<unsigned> errno_ret;
  std::vector<oci::SeccompArg> args;
  Condition includes, excludes;
  std::optional<KernelVersion> min_kernel;
};

struct ArchMapEntry {
  std::string arch;
  std::vector<std::string> sub_arches;
};

struct Profile {
  std::string default_action;
  std::optional<unsigned> default_errno_ret;
  std::vector<std::string> architectures;
  std::vector<ArchMapEntry> arch_map;
  std::vector<std::string> flags;
  std::string listener_path;
  std::vector<ProfileRule> rules;
};

bool applies(const ProfileRule& rule, const std::set<std::string>& caps, std::string_view arch,
             KernelVersion kernel) {
  auto has_cap = [&](const std::string& c) { return caps.count(c) > 0; };
  if (contains(rule.excludes.arches, arch)) return false;
  if (std::any_of(rule.excludes.caps.begin(), rule.excludes.caps.end(), has_cap)) return false;
  if (!rule.includes.arches.empty() && !contains(rule.includes.arches, arch)) return false;
  if (!std::all_of(rule.includes.caps.begin(), rule.includes.caps.end(), has_cap)) return false;
  return !rule.min_kernel || kernel >= *rule.min_kernel;
}

// Capability names as profiles spell them ("CAP_SYS_ADMIN"), whatever form the caller used.
std::set<std::string> capability_set(const std::vector<std::string>& capabilities) {
  std::set<std::string> out;
  for (const std::string& name : capabilities) {
    int cap = runtime::capability_from_name(name);
    out.insert(cap >= 0 ? runtime::capability_name(cap) : name);
  }
  return out;
}

oci::Seccomp resolve(const Profile& profile, const std::vector<std::string>& capabilities) {
  constexpr HostArch host = host_arch();
  const KernelVersion kernel = running_kernel();
  const std::set<std::string> caps = capability_set(capabilities);
  oci::Seccomp out;
  out.default_action = profile.default_action;
  out.default_errno_ret = profile.default_errno_ret;
  out.architectures = profile.architectures;
  for (const ArchMapEntry& entry : profile.arch_map) {
    if (entry.arch != host.seccomp) continue;
    out.architectures.push_back(entry.arch);
    out.architectures.insert(out.architectures.end(), entry.sub_arches.begin(),
                             entry.sub_arches.end());
  }
  out.flags = profile.flags;
  out.listener_path = profile.listener_path;
  for (const ProfileRule& rule : profile.rules)
    if (applies(rule, caps, host.arch, kernel))
      out.syscalls.push_back(
          oci::SeccompSyscall{rule.names, rule.action, rule.errno_ret, rule.args});
  return out;
}

// ---- Docker's default profile --------------------------------------------------------------

// "a b c" → {"a", "b", "c"}.
std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = text.find_first_not_of(' ', pos)) != std::string_view::npos) {
    size_t end = text.find(' ', pos);
    out.emplace_back(text.substr(pos, end == std::string_view::npos ? end : end - pos));
    pos = end;
  }
  return out;
}

// Syscalls every container may make. Names a given architecture lacks are skipped when the
// filter is compiled.
constexpr std::string_view kAlwaysAllowed =
    "accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 "
    "clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 "
    "clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup "
    "dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 "
    "epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat "
    "faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown "
    "fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr "
    "fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex "
    "futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 "
    "geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp "
    "getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit "
    "get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday "
    "getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch "
    "io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get "
    "ioprio_set io_setup io_submit io_uring_enter io_uring_register io_uring_setup ipc kill "
    "landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr "
    "link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 "
    "madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 "
    "mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive "
    "mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv "
    "msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open "
    "openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free "
    "pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease "
    "pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv "
    "recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat "
    "renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask "
    "rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 "
    "rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max "
    "sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 "
    "sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select "
    "semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg "
    "sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 "
    "setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 "
    "setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area "
    "set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack "
    "signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs "
    "statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time "
    "timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime "
    "timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime "
    "timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat "
    "utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev";

// What each capability adds to the allow-list.
struct CapabilitySyscalls {
  const char* capability;
  std::vector<std::string> names;
};

const std::vector<CapabilitySyscalls>& syscalls_by_capability() {
  static const std::vector<CapabilitySyscalls> table = {
      {"CAP_DAC_READ_SEARCH", {"open_by_handle_at"}},
      {"CAP_SYS_ADMIN",
       {"bpf",           "clone",         "clone3",      "fanotify_init",   "fsconfig",
        "fsmount",       "fsopen",        "fspick",      "lookup_dcookie",  "mount",
        "mount_setattr", "move_mount",    "open_tree",   "perf_event_open", "quotactl",
        "quotactl_fd",   "setdomainname", "sethostname", "setns",           "syslog",
        "umount",        "umount2",       "unshare"}},
      {"CAP_SYS_BOOT", {"reboot"}},
      {"CAP_SYS_CHROOT", {"chroot"}},
      {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module"}},
      {"CAP_SYS_PACCT", {"acct"}},
      {"CAP_SYS_PTRACE",
       {"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
        "ptrace"}},
      {"CAP_SYS_RAWIO", {"iopl", "ioperm"}},
      {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64"}},
      {"CAP_SYS_TTY_CONFIG", {"vhangup"}},
      {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}},
      {"CAP_SYSLOG", {"syslog"}},
      {"CAP_BPF", {"bpf"}},
      {"CAP_PERFMON", {"perf_event_open"}},
  };
  return table;
}

// Syscalls only some architectures have (or need), allowed there.
struct ArchSyscalls {
  std::vector<std::string> arches;
  std::vector<std::string> names;
};

const std::vector<ArchSyscalls>& syscalls_by_arch() {
  static const std::vector<ArchSyscalls> table = {
      {{"ppc64le"}, {"sync_file_range2", "swapcontext"}},
      {{"arm", "arm64"},
       {"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
        "set_tls"}},
      {{"amd64", "x32"}, {"arch_prctl"}},
      {{"amd64", "x32", "x86"}, {"modify_ldt"}},
      {{"s390", "s390x"}, {"s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"}},
      {{"riscv64"}, {"riscv_flush_icache"}},
  };
  return table;
}

Profile docker_default_profile() {
  Profile p;
  p.default_action = "SCMP_ACT_ERRNO";
  p.default_errno_ret = EPERM;
  // Each 64-bit architecture also admits the binaries of its compatibility modes.
  p.arch_map = {
      {"SCMP_ARCH_X86_64", {"SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
      {"SCMP_ARCH_AARCH64", {"SCMP_ARCH_ARM"}},
      {"SCMP_ARCH_MIPS64", {"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"}},
      {"SCMP_ARCH_MIPS64N32", {"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"}},
      {"SCMP_ARCH_MIPSEL64", {"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"}},
      {"SCMP_ARCH_MIPSEL64N32", {"SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"}},
      {"SCMP_ARCH_S390X", {"SCMP_ARCH_S390"}},
      {"SCMP_ARCH_RISCV64", {}},
  };
  auto allow = [&p](std::vector<std::string> names) -> ProfileRule& {
    p.rules.push_back(ProfileRule{.names = std::move(names)});
    return p.rules.back();
  };
  auto arg = [](unsigned index, uint64_t value, const char* op) {
    return oci::SeccompArg{index, value, 0, op};
  };

  allow(words(kAlwaysAllowed));
  // Before 4.8 ptrace could be used to bypass seccomp.
  allow({"process_vm_readv", "process_vm_writev", "ptrace"}).min_kernel = KernelVersion{4, 8};
  allow({"socket"}).args = {arg(0, AF_VSOCK, "SCMP_CMP_NE")};
  // The personas programs set for themselves (setarch, linux32) and the query.
  for (uint64_t persona : {uint64_t{PER_LINUX}, uint64_t{PER_LINUX32}, uint64_t{UNAME26},
                           uint64_t{PER_LINUX32} | UNAME26, uint64_t{0xffffffff}})
    allow({"personality"}).args = {arg(0, persona, "SCMP_CMP_EQ")};
  for (const ArchSyscalls& entry : syscalls_by_arch())
    allow(entry.names).includes.arches = entry.arches;
  for (const CapabilitySyscalls& entry : syscalls_by_capability())
    allow(entry.names).includes.caps = {entry.capability};

  // Without CAP_SYS_ADMIN, clone only without namespace flags (the flags argument masked with
  // them must be 0). s390 passes the flags second.
  constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                       CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
  ProfileRule& clone = allow({"clone"});
  clone.args = {arg(0, kNamespaceFlags, "SCMP_CMP_MASKED_EQ")};
  clone.excludes = Condition{{"CAP_SYS_ADMIN"}, {"s390", "s390x"}};
  ProfileRule& clone_s390 = allow({"clone"});
  clone_s390.args = {arg(1, kNamespaceFlags, "SCMP_CMP_MASKED_EQ")};
  clone_s390.includes.arches = {"s390", "s390x"};
  clone_s390.excludes.caps = {"CAP_SYS_ADMIN"};
  // clone3 passes its flags in memory seccomp cannot see: ENOSYS makes libcs fall back to clone.
  ProfileRule& clone3 = allow({"clone3"});
  clone3.action = "SCMP_ACT_ERRNO";
  clone3.errno_ret = ENOSYS;
  clone3.excludes.caps = {"CAP_SYS_ADMIN"};
  return p;
}

// ---- reading a Docker-format profile -------------------------------------------------------

bool known_action(std::string_view name) {
  static const std::set<std::string_view> actions = {
      "SCMP_ACT_KILL",  "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
      "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE",       "SCMP_ACT_ALLOW",        "SCMP_ACT_LOG"};
  return actions.count(name) > 0;
}

bool known_operator(std::string_view name) {
  static const std::set<std::string_view> ops = {"SCMP_CMP_NE",       "SCMP_CMP_LT", "SCMP_CMP_LE",
                                                 "SCMP_CMP_EQ",       "SCMP_CMP_GE", "SCMP_CMP_GT",
                                                 "SCMP_CMP_MASKED_EQ"};
  return ops.count(name) > 0;
}

bool known_architecture(std::string_view name) {
  static const std::set<std::string_view> arches = {
      "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",   "SCMP_ARCH_X32",         "SCMP_ARCH_ARM",
      "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",     "SCMP_ARCH_MIPS64",      "SCMP_ARCH_MIPS64N32",
      "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
      "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_S390",        "SCMP_ARCH_S390X",
      "SCMP_ARCH_PARISC",  "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",     "SCMP_ARCH_LOONGARCH64",
      "SCMP_ARCH_M68K",    "SCMP_ARCH_SH",       "SCMP_ARCH_SHEB"};
  return arches.count(name) > 0;
}

// Reads JSON values; every error names the file and the field ("p.json: syscalls[3].action: …").
class ProfileReader {
 public:
  explicit ProfileReader(std::string file) : file_(std::move(file)) {}

  Error error(const std::string& path, std::string_view message,
              ErrorKind kind = ErrorKind::invalid_argument) const {
    return Error::make(kind, "{}: {}: {}", file_, path.empty() ? "(top)" : path, message);
  }

  // The member `key` of object j, or nullptr if absent or null.
  static const json* member(const json& j, std::string_view key) {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  }
  static std::string child(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
  }

  Result<void> object(const json& j, const std::string& path) const {
    if (!j.is_object())
      return error(path, fmt::format("expected an object, got {}", j.type_name()));
    return {};
  }
  Result<std::string> string(const json& j, const std::string& path) const {
    if (!j.is_string()) return error(path, fmt::format("expected a string, got {}", j.type_name()));
    return j.get<std::string>();
  }
  Result<uint64_t> number(const json& j, const std::string& path) const {
    if (!j.is_number_unsigned())
      return error(path, fmt::format("expected a non-negative integer, got {}", j.dump()));
    return j.get<uint64_t>();
  }
  Result<unsigned> small_number(const json& j, const std::string& path, unsigned max) const {
    BERTH_TRY(uint64_t value, number(j, path));
    if (value > max) return error(path, fmt::format("{} is above {}", value, max));
    return static_cast<unsigned>(value);
  }
  Result<std::vector<std::string>> strings(const json& j, const std::string& path) const {
    if (!j.is_array()) return error(path, fmt::format("expected an array, got {}", j.type_name()));
    std::vector<std::string> out;
    for (size_t i = 0; i < j.size(); ++i) {
      BERTH_TRY(std::string s, string(j[i], fmt::format("{}[{}]", path, i)));
      out.push_back(std::move(s));
    }
    return out;
  }
  // Calls read(element, element_path) for each element of the array at j.
  template <typename Fn>
  Result<void> each(const json& j, const std::string& path, Fn read) const {
    if (!j.is_array()) return error(path, fmt::format("expected an array, got {}", j.type_name()));
    for (size_t i = 0; i < j.size(); ++i)
      BERTH_TRY_VOID(read(j[i], fmt::format("{}[{}]", path, i)));
    return {};
  }
  Result<std::vector<std::string>> architectures(const json& j, const std::string& path) const {
    BERTH_TRY(std::vector<std::string> names, strings(j, path));
    for (size_t i = 0; i < names.size(); ++i)
      if (!known_architecture(names[i]))
        return error(fmt::format("{}[{}]", path, i),
                     fmt::format("unknown architecture '{}'", names[i]));
    return names;
  }

 private:
  std::string file_;
};

Result<std::string> read_action(const ProfileReader& r, const json& j, const std::string& path) {
  BERTH_TRY(std::string action, r.string(j, path));
  if (action == "SCMP_ACT_NOTIFY")
    return r.error(path, "action 'SCMP_ACT_NOTIFY' is not supported (berth has no seccomp agent)",
                   ErrorKind::unsupported);
  if (!known_action(action)) return r.error(path, fmt::format("unknown action '{}'", action));
  return action;
}

Result<oci::SeccompArg> read_arg(const ProfileReader& r, const json& j, const std::string& path) {
  BERTH_TRY_VOID(r.object(j, path));
  oci::SeccompArg arg;
  if (const json* v = r.member(j, "index")) {
    BERTH_TRY(arg.index, r.small_number(*v, r.child(path, "index"), 5));
  }
  if (const json* v = r.member(j, "value")) {
    BERTH_TRY(arg.value, r.number(*v, r.child(path, "value")));
  }
  if (const json* v = r.member(j, "valueTwo")) {
    BERTH_TRY(arg.value_two, r.number(*v, r.child(path, "valueTwo")));
  }
  const json* op = r.member(j, "op");
  if (op == nullptr) return r.error(r.child(path, "op"), "required field missing");
  BERTH_TRY(arg.op, r.string(*op, r.child(path, "op")));
  if (!known_operator(arg.op))
    return r.error(r.child(path, "op"), fmt::format("unknown operator '{}'", arg.op));
  return arg;
}

Result<Condition> read_condition(const ProfileReader& r, const json& j, const std::string& path,
                                 std::optional<KernelVersion>* min_kernel) {
  BERTH_TRY_VOID(r.object(j, path));
  Condition c;
  if (const json* v = r.member(j, "caps")) {
    BERTH_TRY(c.caps, r.strings(*v, r.child(path, "caps")));
  }
  if (const json* v = r.member(j, "arches")) {
    BERTH_TRY(c.arches, r.strings(*v, r.child(path, "arches")));
  }
  const json* v = r.member(j, "minKernel");
  if (v != nullptr && min_kernel == nullptr)
    return r.error(r.child(path, "minKernel"), "only includes may name a kernel version");
  if (v != nullptr) {
    BERTH_TRY(std::string text, r.string(*v, r.child(path, "minKernel")));
    *min_kernel = parse_kernel_version(text);
    if (!*min_kernel)
      return r.error(r.child(path, "minKernel"),
                     fmt::format("'{}' is not a kernel version (MAJOR.MINOR)", text));
  }
  return c;
}

Result<ProfileRule> read_rule(const ProfileReader& r, const json& j, const std::string& path) {
  BERTH_TRY_VOID(r.object(j, path));
  ProfileRule rule;
  const json* name = r.member(j, "name");
  const json* names = r.member(j, "names");
  if (name != nullptr && names != nullptr)
    return r.error(path, "give either name or names, not both");
  if (name != nullptr) {
    BERTH_TRY(std::string one, r.string(*name, r.child(path, "name")));
    rule.names.push_back(std::move(one));
  } else if (names != nullptr) {
    BERTH_TRY(rule.names, r.strings(*names, r.child(path, "names")));
  }
  if (rule.names.empty())
    return r.error(r.child(path, "names"), "required: at least one syscall name");
  const json* action = r.member(j, "action");
  if (action == nullptr) return r.error(r.child(path, "action"), "required field missing");
  BERTH_TRY(rule.action, read_action(r, *action, r.child(path, "action")));
  if (const json* v = r.member(j, "errnoRet")) {
    BERTH_TRY(rule.errno_ret, r.small_number(*v, r.child(path, "errnoRet"), UINT32_MAX));
  }
  if (const json* v = r.member(j, "args")) {
    BERTH_TRY_VOID(r.each(*v, r.child(path, "args"),
                          [&](const json& a, const std::string& at) -> Result<void> {
                            BERTH_TRY(oci::SeccompArg arg, read_arg(r, a, at));
                            rule.args.push_back(std::move(arg));
                            return {};
                          }));
  }
  if (const json* v = r.member(j, "includes")) {
    BERTH_TRY(rule.includes, read_condition(r, *v, r.child(path, "includes"), &rule.min_kernel));
  }
  if (const json* v = r.member(j, "excludes")) {
    BERTH_TRY(rule.excludes, read_condition(r, *v, r.child(path, "excludes"), nullptr));
  }
  return rule;
}

Result<Profile> read_profile(const ProfileReader& r, const json& j) {
  BERTH_TRY_VOID(r.object(j, ""));
  Profile p;
  const json* action = r.member(j, "defaultAction");
  if (action == nullptr) return r.error("defaultAction", "required field missing");
  BERTH_TRY(p.default_action, read_action(r, *action, "defaultAction"));
  if (const json* v = r.member(j, "defaultErrnoRet")) {
    BERTH_TRY(p.default_errno_ret, r.small_number(*v, "defaultErrnoRet", UINT32_MAX));
  }
  if (const json* v = r.member(j, "architectures")) {
    BERTH_TRY(p.architectures, r.architectures(*v, "architectures"));
  }
  if (const json* v = r.member(j, "archMap")) {
    if (!p.architectures.empty())
      return r.error("archMap", "give either architectures or archMap, not both");
    BERTH_TRY_VOID(r.each(*v, "archMap", [&](const json& e, const std::string& at) -> Result<void> {
      BERTH_TRY_VOID(r.object(e, at));
      ArchMapEntry entry;
      const json* arch = r.member(e, "architecture");
      if (arch == nullptr) return r.error(r.child(at, "architecture"), "required field missing");
      BERTH_TRY(std::string name, r.string(*arch, r.child(at, "architecture")));
      if (!known_architecture(name))
        return r.error(r.child(at, "architecture"), fmt::format("unknown architecture '{}'", name));
      entry.arch = std::move(name);
      if (const json* subs = r.member(e, "subArchitectures")) {
        BERTH_TRY(entry.sub_arches, r.architectures(*subs, r.child(at, "subArchitectures")));
      }
      p.arch_map.push_back(std::move(entry));
      return {};
    }));
  }
  if (const json* v = r.member(j, "flags")) {
    BERTH_TRY(p.flags, r.strings(*v, "flags"));
  }
  if (const json* v = r.member(j, "listenerPath")) {
    BERTH_TRY(p.listener_path, r.string(*v, "listenerPath"));
  }
  if (const json* v = r.member(j, "syscalls")) {
    BERTH_TRY_VOID(
        r.each(*v, "syscalls", [&](const json& s, const std::string& at) -> Result<void> {
          BERTH_TRY(ProfileRule rule, read_rule(r, s, at));
          p.rules.push_back(std::move(rule));
          return {};
        }));
  }
  return p;
}

}  // namespace

std::vector<std::string> default_capabilities() {
  return {"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
          "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
          "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
          "CAP_KILL",    "CAP_AUDIT_WRITE"};
}

Result<std::vector<std::string>> effective_capabilities(const std::vector<std::string>& add,
                                                        const std::vector<std::string>& drop) {
  BERTH_TRY(std::vector<std::string> adds, normalise_capabilities(add, "--cap-add"));
  BERTH_TRY(std::vector<std::string> drops, normalise_capabilities(drop, "--cap-drop"));
  std::vector<std::string> out;
  if (contains(adds, kAll)) {
    for (const std::string& cap : all_capabilities())
      if (!contains(drops, cap)) out.push_back(cap);
    return out;
  }
  if (!contains(drops, kAll))
    for (const std::string& cap : default_capabilities())
      if (!contains(drops, cap)) out.push_back(cap);
  // An explicit add wins over a drop of the same capability, as in Docker.
  for (const std::string& cap : adds) add_unique(out, cap);
  return out;
}

oci::Seccomp default_seccomp_profile(const std::vector<std::string>& capabilities) {
  return resolve(docker_default_profile(), capabilities);
}

Result<oci::Seccomp> load_seccomp_profile(const std::string& path,
                                          const std::vector<std::string>& capabilities) {
  BERTH_TRY_CTX(std::string text, sys::read_file(path), "read seccomp profile");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e309
    std::string what = e.what();
    auto pos = what.find("] ");  // drop nlohmann's "[json.exception.parse_error.101] " prefix
    return Error::make(ErrorKind::invalid_argument, "{}: malformed JSON: {}", path,
                       pos == std::string::npos ? what : what.substr(pos + 2));
  }
  BERTH_TRY(Profile profile, read_profile(ProfileReader(path), j));
  return resolve(profile, capabilities);
}

std::vector<std::string> default_masked_paths() {
  return {"/proc/asound",
          "/proc/acpi",
          "/proc/kcore",
          "/proc/keys",
          "/proc/latency_stats",
          "/proc/timer_list",
          "/proc/timer_stats",
          "/proc/sched_debug",
          "/proc/scsi",
          "/sys/firmware",
          "/sys/devices/virtual/powercap"};
}

std::vector<std::string> default_readonly_paths() {
  return {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
}

std::vector<oci::Mount> default_mounts() {
  return {
      {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}},
      {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
      {"/dev/pts",
       "devpts",
       "devpts",
       {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
      {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}},
      {"/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}},
      {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}},
      {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
  };
}

}  // namespace berth::engine
