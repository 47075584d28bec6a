#include "runtime/detail/init.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "base/log.h"
#include "base/sys.h"
#include "runtime/cgroup/cgroup.h"
#include "runtime/apparmor.h"
#include "runtime/detail/console.h"
#include "runtime/detail/hooks.h"
#include "runtime/detail/process_env.h"
#include "runtime/detail/sync.h"

namespace berth::runtime {
namespace {

struct RlimitName {
  const char* name;
  int resource;
};
constexpr RlimitName kRlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS},           {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},     {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK}};

Result<void> apply_rlimits(const std::vector<oci::Rlimit>& rlimits) {
  for (const auto& r : rlimits) {
    int resource = -1;
    for (const auto& known : kRlimits)
      if (r.type == known.name) resource = known.resource;
    if (resource < 0) return Error::make(ErrorKind::invalid_argument, "unknown rlimit '{}'", r.type);
    struct rlimit limit{r.soft, r.hard};
    if (::setrlimit(resource, &limit) == 0) continue;
    int saved = errno;
    struct rlimit current {};
    ::getrlimit(resource, &current);
    if (saved == EPERM && r.hard > current.rlim_max)
      return Error::make(ErrorKind::permission_denied,
                         "set {} to soft {} hard {}: the host's hard limit is {} and this process "
                         "may not raise it (no CAP_SYS_RESOURCE)",
                         r.type, r.soft, r.hard, current.rlim_max)
          .with_hint(fmt::format("ask for at most {} in process.rlimits", current.rlim_max));
    return Error::with_errno(saved, fmt::format("set {} to soft {} hard {}", r.type, r.soft, r.hard));
  }
  return {};
}

std::string env_value(const std::vector<std::string>& env, std::string_view name) {
  for (const auto& e : env)
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
      return e.substr(name.size() + 1);
  return {};
}

bool is_executable_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

Result<std::string> find_executable(const oci::Process& p) {
  const std::string& name = p.args[0];
  if (name.find('/') != std::string::npos) {
    if (is_executable_file(name)) return name;
    struct stat st;
    if (::stat(name.c_str(), &st) < 0) return Error::from_errno("exec '{}'", name);
    // runc's words (the kernel's EACCES): the docker CLI maps "permission denied" to exit 126.
    return Error::make(ErrorKind::permission_denied, "exec '{}': permission denied (not an executable file)", name);
  }
  std::string path = env_value(p.env, "PATH");
  if (path.empty()) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const auto& dir : sys::split(path, ':')) {
    std::string candidate = dir + "/" + name;
    if (is_executable_file(candidate)) return candidate;
  }
  return Error::make(ErrorKind::not_found, "exec '{}': executable file not found in $PATH ({})", name, path);
}

Result<void> switch_user(const ProcessSetup& s) {
  const auto& user = s.process->user;
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return Error::from_errno("keep capabilities");
  std::vector<gid_t> groups(user.additional_gids.begin(), user.additional_gids.end());
  if (::setgroups(groups.size(), groups.data()) < 0 && !(s.user_namespace && errno == EPERM && groups.empty()))
    return Error::from_errno("set additional groups of the process");
  if (::setresgid(user.gid, user.gid, user.gid) < 0) return Error::from_errno("set gid {}", user.gid);
  if (::setresuid(user.uid, user.uid, user.uid) < 0) return Error::from_errno("set uid {}", user.uid);
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return Error::from_errno("clear keep capabilities");
  return {};
}

Result<void> apply_sysctls(const std::map<std::string, std::string>& sysctl) {
  for (const auto& [key, value] : sysctl) {
    std::string path = "/proc/sys/" + key;
    for (size_t i = 10; i < path.size(); ++i)
      if (path[i] == '.') path[i] = '/';
    BERTH_TRY_VOID(sys::write_file(path, value).context(fmt::format("sysctl {}", key)));
  }
  return {};
}

[[noreturn]] void fail(int sync_fd, const Error& error) {
  std::string message = error.message();
  if (!error.hint().empty()) message += "\nhint: " + error.hint();
  // Failing to send means the runtime went away (a failed create closes the socket, then kills
  // us): it reports its own error, and ours would only be noise on the same terminal.
  if (sync_fd < 0)
    log::error(message);
  else
    (void)sync::send(sync_fd, sync::Msg::error, message);
  _exit(1);
}

Result<void> wait_for_start(const InitContext& ctx) {
  if (ctx.fifo_fd < 0) return sync::expect(ctx.sync_fd, sync::Msg::start).context("wait for start").ok()
                                   ? Result<void>()
                                   : Result<void>(Error(ErrorKind::io, "the runtime went away before start"));
  // The fifo is open read-write (see create): the read blocks until `start` writes its byte.
  char byte;
  ssize_t n;
  do n = ::read(ctx.fifo_fd, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n < 0) return Error::from_errno("read exec fifo");
  ::close(ctx.fifo_fd);
  return {};
}

Result<std::string> init_steps(InitContext& ctx) {
  const oci::Spec& spec = *ctx.spec;
  BERTH_TRY(std::string state_json, sync::expect(ctx.sync_fd, sync::Msg::go));
  BERTH_TRY_VOID(cgroup::join_self(ctx.cgroup_join_fds));
  for (auto [fd, flag] : ctx.join_namespaces) {
    if (::setns(fd, flag) < 0) return Error::from_errno("join namespace (flag {:#x})", flag);
    ::close(fd);
  }
  if (ctx.new_user_ns) {
    if (::setresgid(0, 0, 0) < 0 || ::setresuid(0, 0, 0) < 0)
      return Error::from_errno("become root in the user namespace (is uid/gid 0 mapped?)");
  }
  if (ctx.new_cgroup_ns && ::unshare(CLONE_NEWCGROUP) < 0) return Error::from_errno("unshare cgroup namespace");
  // The spec's parser made sure a uts namespace (new or just joined) holds these.
  if (!spec.hostname.empty() && ::sethostname(spec.hostname.data(), spec.hostname.size()) < 0)
    return Error::from_errno("set hostname '{}'", spec.hostname);
  if (!spec.domainname.empty() &&
      ::setdomainname(spec.domainname.data(), spec.domainname.size()) < 0)
    return Error::from_errno("set domainname '{}'", spec.domainname);
  if (!ctx.no_new_keyring) {
    // A fresh session keyring, so containers do not see each other's keys (as runc does).
    constexpr long kKeyctlJoinSessionKeyring = 1;
    if (::syscall(SYS_keyctl, kKeyctlJoinSessionKeyring, nullptr) < 0 && errno != ENOSYS &&
        errno != EPERM && errno != EACCES && errno != EDQUOT)
      return Error::from_errno("join a new session keyring");
  }
  if (ctx.new_mount_ns) BERTH_TRY_VOID(mount_rootfs(ctx.rootfs).context("prepare rootfs"));
  if (ctx.run_hooks) {
    BERTH_TRY_VOID(sync::send(ctx.sync_fd, sync::Msg::run_hooks));
    BERTH_TRY(auto hook_state, sync::expect(ctx.sync_fd, sync::Msg::hooks_done));
    BERTH_TRY_VOID(run_hooks(spec.hooks.create_container, "createContainer", hook_state));
  }
  BERTH_TRY_VOID(enter_rootfs(ctx.rootfs.rootfs, ctx.no_pivot, ctx.new_mount_ns));
  BERTH_TRY_VOID(apply_sysctls(spec.linux.sysctl));
  std::optional<Pty> pty;
  if (ctx.setup.process->terminal) {
    const auto& size = ctx.setup.process->console_size;
    BERTH_TRY(auto opened, open_pty(size ? size->height : 0, size ? size->width : 0));
    BERTH_TRY_VOID(send_fd(ctx.console_socket, opened.master.get(), opened.slave_path));
    ::close(ctx.console_socket);
    opened.master.reset();
    pty = std::move(opened);
  }
  if (ctx.new_mount_ns) BERTH_TRY_VOID(finish_rootfs(spec, pty ? pty->slave_path : "").context("finish rootfs"));
  if (pty) BERTH_TRY_VOID(become_console(pty->slave.get()));
  return state_json;
}

}  // namespace

int namespace_flag(std::string_view type) {
  if (type == "pid") return CLONE_NEWPID;
  if (type == "network") return CLONE_NEWNET;
  if (type == "mount") return CLONE_NEWNS;
  if (type == "ipc") return CLONE_NEWIPC;
  if (type == "uts") return CLONE_NEWUTS;
  if (type == "user") return CLONE_NEWUSER;
  if (type == "cgroup") return CLONE_NEWCGROUP;
  if (type == "time") return CLONE_NEWTIME;
  return 0;
}

Result<std::string> prepare_process(const ProcessSetup& s) {
  const oci::Process& p = *s.process;
  if (p.oom_score_adj)
    BERTH_TRY_VOID(sys::write_file("/proc/self/oom_score_adj", std::to_string(*p.oom_score_adj))
                       .context("set oomScoreAdj"));
  BERTH_TRY_VOID(apply_rlimits(p.rlimits).context("process.rlimits"));
  if (::mkdir(p.cwd.c_str(), 0755) < 0 && errno != EEXIST)
    BERTH_TRY_VOID(sys::mkdir_all(p.cwd).context("create process.cwd"));
  // While still privileged (as runc does): the profile applies from execve on.
  if (!s.apparmor_profile.empty()) BERTH_TRY_VOID(set_apparmor_exec_profile(s.apparmor_profile));
  if (s.caps) BERTH_TRY_VOID(drop_bounding_set(*s.caps).context("drop bounding capabilities"));
  // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which the user switch below
  // may drop: load it now (as runc does); the profile must then allow what follows.
  if (!p.no_new_privileges && !s.seccomp.empty()) BERTH_TRY_VOID(load_seccomp(s.seccomp));
  give_stdio_to(p.user.uid, p.user.gid);
  BERTH_TRY_VOID(switch_user(s).context(fmt::format("switch to user {}:{}", p.user.uid, p.user.gid)));
  ::umask(p.user.umask ? *p.user.umask : 022);
  if (s.caps) BERTH_TRY_VOID(apply_capabilities(*s.caps).context("set capabilities"));
  if (::chdir(p.cwd.c_str()) < 0) return Error::from_errno("chdir to process.cwd '{}'", p.cwd);
  return find_executable(p);
}

Result<void> finish_and_exec(const ProcessSetup& s, const std::string& executable) {
  const oci::Process& p = *s.process;
  if (p.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return Error::from_errno("set no_new_privs");
  // Handlers are reset by exec, ignored signals are not: give the process a clean slate.
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int fd = 3; fd < 3 + s.preserve_fds; ++fd) ::fcntl(fd, F_SETFD, 0);
  ::syscall(SYS_close_range, 3 + s.preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
  auto env = with_home(p.env, p.user.uid);  // before a profile may forbid reading /etc/passwd
  if (p.no_new_privileges && !s.seccomp.empty()) BERTH_TRY_VOID(load_seccomp(s.seccomp));
  std::vector<char*> argv, envp;
  for (const auto& a : p.args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  ::execve(executable.c_str(), argv.data(), envp.data());
  return Error::from_errno("exec '{}'", executable);
}

void container_init(InitContext& ctx) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  auto state_json = init_steps(ctx);
  if (!state_json) fail(ctx.sync_fd, state_json.error());
  auto executable = prepare_process(ctx.setup);
  if (!executable) fail(ctx.sync_fd, executable.error());
  // Foreground `run` keeps the container tied to the runtime; create/detach must outlive it.
  // (A uid change clears the death signal, staying root does not: set it explicitly.)
  ::prctl(PR_SET_PDEATHSIG, ctx.tied_to_parent ? SIGKILL : 0, 0, 0, 0);
  if (auto r = sync::send(ctx.sync_fd, sync::Msg::ready); !r) fail(-1, r.error());
  if (auto r = wait_for_start(ctx); !r) fail(ctx.fifo_fd < 0 ? ctx.sync_fd : -1, r.error());
  if (auto r = run_hooks(ctx.spec->hooks.start_container, "startContainer", *state_json); !r)
    fail(ctx.fifo_fd < 0 ? ctx.sync_fd : -1, r.error());
  auto r = finish_and_exec(ctx.setup, *executable);
  fail(ctx.fifo_fd < 0 ? ctx.sync_fd : -1, r.error());
}

}  // namespace berth::runtime
