// `exec`: a new process inside a running container's namespaces and cgroup.
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/sys.h"
#include "runtime/apparmor.h"
#include "runtime/detail/console.h"
#include "runtime/detail/init.h"
#include "runtime/detail/supervise.h"
#include "runtime/detail/sync.h"
#include "runtime/runtime.h"

namespace berth::runtime {
namespace {

// The namespaces to enter, in the order nsenter uses: user first (it grants the rights for the
// others), mount late (paths are resolved in the host until then).
constexpr std::pair<const char*, int> kJoinOrder[] = {
    {"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS},
    {"net", CLONE_NEWNET},   {"cgroup", CLONE_NEWCGROUP}, {"mnt", CLONE_NEWNS}};

bool same_namespace(pid_t pid, const char* name) {
  struct stat mine, theirs;
  return ::stat(fmt::format("/proc/self/ns/{}", name).c_str(), &mine) == 0 &&
         ::stat(fmt::format("/proc/{}/ns/{}", pid, name).c_str(), &theirs) == 0 &&
         mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev;
}

Result<void> apply_user(oci::Process& p, const std::string& user) {
  auto parts = sys::split(user, ':');
  auto number = [&](const std::string& s) -> Result<uint32_t> {
    char* end = nullptr;
    unsigned long v = std::strtoul(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0')
      return Error::make(ErrorKind::invalid_argument, "--user '{}': give numeric uid[:gid]", user);
    return static_cast<uint32_t>(v);
  };
  if (parts.empty() || parts.size() > 2) return Error::make(ErrorKind::invalid_argument, "--user '{}': give uid[:gid]", user);
  BERTH_TRY(p.user.uid, number(parts[0]));
  if (parts.size() == 2) {
    BERTH_TRY(p.user.gid, number(parts[1]));
  }
  return {};
}

Result<oci::Process> exec_process(const oci::Spec& spec, const ExecOptions& o) {
  if (!o.process_file.empty()) {
    BERTH_TRY(auto text, sys::read_file(o.process_file));
    return oci::parse_process(text, o.process_file);
  }
  oci::Process p = spec.process ? *spec.process : oci::Process{};
  p.args = o.args;
  p.terminal = o.tty;
  p.console_size.reset();
  if (!o.cwd.empty()) p.cwd = o.cwd;
  for (const auto& e : o.env) {
    auto eq = e.find('=');
    if (eq == std::string::npos)
      return Error::make(ErrorKind::invalid_argument, "--env '{}' is not of the form NAME=value", e);
    std::string prefix = e.substr(0, eq + 1);
    std::erase_if(p.env, [&](const std::string& x) { return x.rfind(prefix, 0) == 0; });
    p.env.push_back(e);
  }
  if (!o.user.empty()) BERTH_TRY_VOID(apply_user(p, o.user));
  if (!o.additional_gids.empty()) p.user.additional_gids = o.additional_gids;
  if (o.no_new_privs) p.no_new_privileges = true;
  if (!o.apparmor_profile.empty()) p.apparmor_profile = o.apparmor_profile;
  if (!o.add_caps.empty()) {
    if (!p.capabilities) p.capabilities = oci::Capabilities{};
    for (const auto& cap : o.add_caps)
      for (auto* set : {&p.capabilities->bounding, &p.capabilities->effective, &p.capabilities->permitted,
                        &p.capabilities->ambient, &p.capabilities->inheritable})
        set->push_back(cap);
  }
  return p;
}

[[noreturn]] void exec_child(int sync_fd, const std::vector<int>& cgroup_join_fds,
                             const std::vector<std::pair<int, int>>& namespaces, const ProcessSetup& setup,
                             int console_socket, bool detach) {
  auto fail = [&](const Error& e) {
    (void)sync::send(sync_fd, sync::Msg::error, e.message());
    _exit(1);
  };
  ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (auto go = sync::expect(sync_fd, sync::Msg::go); !go) fail(go.error());
  if (auto joined = cgroup::join_self(cgroup_join_fds); !joined) fail(joined.error());
  for (auto [fd, flag] : namespaces)
    if (::setns(fd, flag) < 0) fail(Error::from_errno("join the container's namespace (flag {:#x})", flag));
  if (setup.user_namespace && (::setresgid(0, 0, 0) < 0 || ::setresuid(0, 0, 0) < 0))
    fail(Error::from_errno("become root in the container's user namespace"));
  if (setup.process->terminal) {
    auto pty = open_pty(0, 0);
    if (!pty) fail(pty.error());
    if (auto r = send_fd(console_socket, pty->master.get(), pty->slave_path); !r) fail(r.error());
    if (auto r = become_console(pty->slave.get()); !r) fail(r.error());
  }
  auto executable = prepare_process(setup);
  if (!executable) fail(executable.error());
  // The death signal survives exec: a detached process must outlive us, a foreground one not.
  ::prctl(PR_SET_PDEATHSIG, detach ? 0 : SIGKILL, 0, 0, 0);
  auto r = finish_and_exec(setup, *executable);
  fail(r.error());
  _exit(1);
}

}  // namespace

Result<int> exec(const GlobalOptions& global, const ExecOptions& options) {
  BERTH_TRY(StateDir dir, StateDir::open(global.root, options.id));
  BERTH_TRY(auto record, dir.load());
  Status status = current_status(record, dir);
  if (status != Status::running && status != Status::created)
    return Error::make(ErrorKind::failed_precondition, "cannot exec in container '{}': it is {}", options.id,
                       status_name(status));
  BERTH_TRY(oci::Spec spec, oci::load_spec(record.bundle + "/config.json"));
  BERTH_TRY(oci::Process process, exec_process(spec, options));
  // In the foreground without a console socket, we hold the terminal and relay it.
  const bool own_terminal = process.terminal && options.console_socket.empty();
  if (own_terminal && options.detach)
    return Error(ErrorKind::invalid_argument, "a detached terminal needs --console-socket")
        .with_hint("pass --console-socket PATH, or leave out --tty or --detach");

  ProcessSetup setup;
  setup.process = &process;
  setup.preserve_fds = options.preserve_fds;
  setup.user_namespace = !same_namespace(record.pid, "user");
  if (process.capabilities) {
    BERTH_TRY(auto caps, parse_capabilities(*process.capabilities));
    warn_unraisable_ambient(caps, process.user.uid);
    setup.caps = caps;
  }
  BERTH_TRY(setup.apparmor_profile, apparmor_profile_to_apply(process.apparmor_profile));
  if (spec.linux.seccomp) {
    BERTH_TRY(setup.seccomp, compile_seccomp(*spec.linux.seccomp));
  }

  std::vector<UniqueFd> ns_fds;
  std::vector<std::pair<int, int>> namespaces;
  for (auto [name, flag] : kJoinOrder) {
    if (same_namespace(record.pid, name)) continue;
    BERTH_TRY(auto fd, sys::open(fmt::format("/proc/{}/ns/{}", record.pid, name), O_RDONLY));
    namespaces.emplace_back(fd.get(), flag);
    ns_fds.push_back(std::move(fd));
  }
  UniqueFd console, own_console;
  if (process.terminal) {
    BERTH_TRY(auto channel, open_console_channel(options.console_socket));
    console = std::move(channel.to_container);
    own_console = std::move(channel.own_end);
  }
  BERTH_TRY(auto sync_pair, sys::socket_pair(SOCK_SEQPACKET));
  UniqueFd parent_sync = std::move(sync_pair.first), child_sync = std::move(sync_pair.second);

  std::optional<BlockedSignals> blocked;
  if (!options.detach) blocked.emplace();
  // The pid namespace applies to our children: enter it here, fork, and come back.
  UniqueFd own_pid_ns;
  if (!same_namespace(record.pid, "pid")) {
    BERTH_TRY(own_pid_ns, sys::open("/proc/self/ns/pid_for_children", O_RDONLY));
    BERTH_TRY(auto target, sys::open(fmt::format("/proc/{}/ns/pid", record.pid), O_RDONLY));
    if (::setns(target.get(), CLONE_NEWPID) < 0) return Error::from_errno("join the container's pid namespace");
  }
  // The process joins the container's cgroup itself where it can (cgroup::open_self_join).
  std::unique_ptr<cgroup::Cgroup> cg;
  std::vector<UniqueFd> cgroup_join_files;
  std::vector<int> cgroup_join_fds;
  if (!record.cgroup_path.empty()) {
    cg = cgroup::Cgroup::open(record.cgroup_path, record.cgroup_mode);
    if (cg) {
      BERTH_TRY(cgroup_join_files, cg->open_self_join().context("join the container's cgroup"));
      for (const auto& f : cgroup_join_files) cgroup_join_fds.push_back(f.get());
    }
  }
  dir.unlock();
  pid_t pid = ::fork();
  if (pid == 0) {
    parent_sync.reset();
    exec_child(child_sync.get(), cgroup_join_fds, namespaces, setup, console.get(), options.detach);
  }
  int fork_errno = errno;
  if (own_pid_ns) (void)::setns(own_pid_ns.get(), CLONE_NEWPID);
  if (pid < 0) return Error::with_errno(fork_errno, "fork the exec process");
  child_sync.reset();
  console.reset();
  ns_fds.clear();
  cgroup_join_files.clear();

  auto fail = [&](Error e) -> Error {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return e;
  };
  if (cg && cgroup_join_fds.empty()) {
    if (auto r = cg->add_process(pid); !r) return fail(std::move(r).error().context("join the container's cgroup"));
  }
  if (auto r = sync::send(parent_sync.get(), sync::Msg::go); !r) return fail(std::move(r).error());
  auto after = sync::receive(parent_sync.get());
  if (after && after->first == sync::Msg::error) {
    ::waitpid(pid, nullptr, 0);
    return Error(ErrorKind::failed_precondition, after->second);
  }
  if (!options.pid_file.empty())
    BERTH_TRY_VOID(sys::atomic_write(options.pid_file, std::to_string(pid), 0644, sys::Durability::process_crash).context("write --pid-file"));
  if (options.detach) return 0;
  UniqueFd pty_master;
  if (own_console) {
    auto master = receive_fd(own_console.get());
    if (!master) return fail(std::move(master).error().context("receive the terminal"));
    pty_master = std::move(*master);
  }
  return forward_signals_until_exit(pid, pty_master.get());
}

}  // namespace berth::runtime
