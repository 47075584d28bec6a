// The runtime side of the container lifecycle: create, start, run, state, kill, delete, pause.
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys.h"
#include "base/trace.h"
#include "runtime/apparmor.h"
#include "runtime/detail/console.h"
#include "runtime/detail/hooks.h"
#include "runtime/detail/init.h"
#include "runtime/detail/supervise.h"
#include "runtime/detail/sync.h"
#include "runtime/runtime.h"

namespace berth::runtime {
namespace {

enum class Launch { create, run_foreground, run_detached };

Result<std::string> real_path(const std::string& path, std::string_view what) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf)) return Error::from_errno("{} '{}'", what, path);
  return std::string(buf);
}

// Undoes a half-done create: kills the child, removes its cgroup and state directory.
class CreateRollback {
 public:
  explicit CreateRollback(StateDir* dir) : dir_(dir) {}
  ~CreateRollback() {
    if (committed_) return;
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (cgroup) (void)cgroup->destroy();
    if (dir_) (void)dir_->remove();
  }
  void set_pid(pid_t pid) { pid_ = pid; }
  void commit() { committed_ = true; }

  std::unique_ptr<cgroup::Cgroup> cgroup;  // owned here so it outlives the undo

 private:
  StateDir* dir_;
  pid_t pid_ = -1;
  bool committed_ = false;
};

Result<void> write_id_map(pid_t pid, const char* file, const std::vector<oci::IdMapping>& maps) {
  std::string text;
  for (const auto& m : maps) text += fmt::format("{} {} {}\n", m.container_id, m.host_id, m.size);
  return sys::write_file(fmt::format("/proc/{}/{}", pid, file), text).context(fmt::format("write {}", file));
}

// Device rules every container gets after the spec's own (as runc does): the standard nodes in
// /dev, terminals, and mknod of anything (opening it is still governed by the rules).
oci::Resources with_default_devices(oci::Resources r) {
  if (r.devices.empty()) return r;
  auto rule = [](const char* type, std::optional<int64_t> major, std::optional<int64_t> minor, const char* access) {
    return oci::DeviceRule{true, type, major, minor, access};
  };
  for (auto [major, minor] : {std::pair{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}})
    r.devices.push_back(rule("c", major, minor, "rwm"));
  r.devices.push_back(rule("c", 136, std::nullopt, "rwm"));  // /dev/pts/*
  r.devices.push_back(rule("c", std::nullopt, std::nullopt, "m"));
  r.devices.push_back(rule("b", std::nullopt, std::nullopt, "m"));
  return r;
}

// fork()'s semantics with namespaces; with a cgroup directory fd (v2), born inside that cgroup
// (clone3 CLONE_INTO_CGROUP, Linux 5.7+), which no later move can match for speed (see
// cgroup::open_self_join). `into_cgroup` says whether it was.
pid_t clone_process(int clone_flags, int cgroup_fd, bool& into_cgroup) {
  into_cgroup = false;
  if (cgroup_fd >= 0) {
    struct clone_args args {};
    args.flags = static_cast<uint64_t>(clone_flags) | CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<uint64_t>(cgroup_fd);
    long pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0) {
      into_cgroup = pid > 0;
      return static_cast<pid_t>(pid);
    }
    if (errno != ENOSYS && errno != E2BIG && errno != EINVAL) return -1;
  }
  return static_cast<pid_t>(::syscall(SYS_clone, clone_flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
}

struct Created {
  StateDir dir;
  ContainerRecord record;
  oci::Spec spec;
  UniqueFd sync;  // parent's end
  std::unique_ptr<cgroup::Cgroup> cgroup;
  UniqueFd pty_master;  // when the runtime relays the container's terminal itself
};

Result<Created> create_container(const GlobalOptions& global, const CreateOptions& options, Launch launch) {
  BERTH_TRY_VOID(StateDir::validate_id(options.id));
  BERTH_TRY(std::string bundle, real_path(options.bundle, "bundle"));
  BERTH_TRY(oci::Spec spec, oci::load_spec(bundle + "/config.json"));
  if (!spec.process) return Error(ErrorKind::invalid_argument, bundle + "/config.json: process: required to create a container");
  std::string root_path = spec.root.path[0] == '/' ? spec.root.path : bundle + "/" + spec.root.path;
  auto rootfs = real_path(root_path, "root.path");
  if (!rootfs) return std::move(rootfs).error().context(bundle + "/config.json");
  // Foreground `run` without a console socket holds the terminal itself and relays it.
  const bool own_terminal = spec.process->terminal && options.console_socket.empty();
  if (own_terminal && launch != Launch::run_foreground)
    return Error(ErrorKind::invalid_argument, "process.terminal is true but no --console-socket was given")
        .with_hint("pass --console-socket PATH, run in the foreground, or set process.terminal to false");

  InitContext ctx;
  ctx.spec = &spec;
  ctx.setup.process = &*spec.process;
  ctx.setup.preserve_fds = options.preserve_fds;
  const std::string config_path = bundle + "/config.json";
  if (spec.process->capabilities) {
    BERTH_TRY_CTX(auto caps, parse_capabilities(*spec.process->capabilities), config_path);
    warn_unraisable_ambient(caps, spec.process->user.uid);
    ctx.setup.caps = caps;
  }
  BERTH_TRY_CTX(ctx.setup.apparmor_profile,
                apparmor_profile_to_apply(spec.process->apparmor_profile), config_path);
  if (spec.linux.seccomp) {
    BERTH_TRY_CTX(ctx.setup.seccomp, compile_seccomp_cached(*spec.linux.seccomp, global.root + "/.seccomp-cache"),
                  config_path);
  }
  BERTH_TRY(std::string cgroup_path, cgroup::resolve_path(spec.linux.cgroups_path, options.id, global.systemd_cgroup));
  cgroup::Mode cgroup_mode = cgroup::detect_mode();

  trace::mark("runtime: read config.json, capabilities, seccomp");
  BERTH_TRY(StateDir dir, StateDir::create(global.root, options.id));
  CreateRollback rollback(&dir);

  ContainerRecord record;
  record.id = options.id;
  record.bundle = bundle;
  record.rootfs = *rootfs;
  record.created = clock::rfc3339_now();
  record.owner = "root";
  record.cgroup_path = cgroup_path;
  record.cgroup_mode = cgroup_mode;
  record.annotations = spec.annotations;

  // The cgroup before the process: it joins by itself, first thing (cgroup::open_self_join).
  BERTH_TRY_VOID(dir.note_cgroup(cgroup_path, cgroup_mode));
  BERTH_TRY(rollback.cgroup, cgroup::Cgroup::create(cgroup_path, cgroup_mode));
  if (spec.linux.resources) {
    BERTH_TRY_VOID(rollback.cgroup->apply(with_default_devices(*spec.linux.resources)).context("linux.resources"));
  }
  BERTH_TRY(auto cgroup_join_files, rollback.cgroup->open_self_join());
  for (const auto& f : cgroup_join_files) ctx.cgroup_join_fds.push_back(f.get());
  BERTH_TRY(auto clone_target, rollback.cgroup->open_clone_target());

  UniqueFd fifo;
  if (launch == Launch::create) {
    if (::mkfifo(dir.fifo_path().c_str(), 0600) < 0)
      return Error::from_errno("mkfifo '{}'", dir.fifo_path());
    // Opened here, read and write (Linux does not block on that), so the container process needs
    // no path to it (it may have no /proc, or no view of the state directory at all); holding
    // a write end itself, its read waits for `start`'s byte and never sees end-of-file.
    BERTH_TRY_CTX(fifo, sys::open(dir.fifo_path(), O_RDWR), "open exec fifo");
  }
  BERTH_TRY(auto sync_pair, sys::socket_pair(SOCK_SEQPACKET));
  UniqueFd parent_sync = std::move(sync_pair.first), child_sync = std::move(sync_pair.second);
  UniqueFd console, own_console;
  if (spec.process->terminal) {
    BERTH_TRY(auto channel, open_console_channel(options.console_socket));
    console = std::move(channel.to_container);
    own_console = std::move(channel.own_end);
  }

  int clone_flags = 0;
  std::vector<UniqueFd> ns_fds;
  UniqueFd own_pid_ns, own_time_ns;
  for (const auto& ns : spec.linux.namespaces) {
    int flag = namespace_flag(ns.type);
    if (ns.path.empty()) {
      if (flag == CLONE_NEWCGROUP) {
        ctx.new_cgroup_ns = true;  // unshared by the child once it is in its cgroup
      } else if (flag == CLONE_NEWTIME) {
        // CLONE_NEWTIME overlaps clone()'s exit-signal bits; like joining one, a new time
        // namespace applies to children: unshare it here, around the clone.
        BERTH_TRY(own_time_ns, sys::open("/proc/self/ns/time_for_children", O_RDONLY));
        if (::unshare(CLONE_NEWTIME) < 0) return Error::from_errno("create a time namespace");
      } else {
        clone_flags |= flag;
      }
      continue;
    }
    BERTH_TRY(auto fd, sys::open(ns.path, O_RDONLY));
    if (flag == CLONE_NEWPID || flag == CLONE_NEWTIME) {
      // These apply to children of the caller: join them here, around the clone.
      const char* self = flag == CLONE_NEWPID ? "/proc/self/ns/pid_for_children" : "/proc/self/ns/time_for_children";
      BERTH_TRY((flag == CLONE_NEWPID ? own_pid_ns : own_time_ns), sys::open(self, O_RDONLY));
      if (::setns(fd.get(), flag) < 0) return Error::from_errno("join {} namespace '{}'", ns.type, ns.path);
      continue;
    }
    if (flag == CLONE_NEWUSER) ctx.join_namespaces.insert(ctx.join_namespaces.begin(), {fd.get(), flag});
    else ctx.join_namespaces.emplace_back(fd.get(), flag);
    ns_fds.push_back(std::move(fd));
  }
  ctx.new_mount_ns = clone_flags & CLONE_NEWNS;
  if (!ctx.new_mount_ns) warn_without_mount_namespace(spec);
  ctx.new_user_ns = clone_flags & CLONE_NEWUSER;
  ctx.setup.user_namespace = spec.linux.find_namespace("user") != nullptr;
  ctx.rootfs = RootfsOptions{&spec, *rootfs, bundle, ctx.setup.user_namespace, cgroup_path, cgroup_mode, {}, ctx.new_cgroup_ns};
  for (const auto& m : spec.mounts)
    if (m.type == "cgroup" && cgroup_mode == cgroup::Mode::v1 && ctx.rootfs.hierarchies.empty())
      ctx.rootfs.hierarchies = cgroup::v1_hierarchies();
  ctx.sync_fd = child_sync.get();
  ctx.fifo_fd = fifo.get();
  ctx.console_socket = console.get();
  ctx.no_pivot = options.no_pivot;
  ctx.no_new_keyring = options.no_new_keyring;
  ctx.tied_to_parent = launch == Launch::run_foreground;
  ctx.run_hooks = !spec.hooks.prestart.empty() || !spec.hooks.create_runtime.empty() ||
                  !spec.hooks.create_container.empty();

  bool cloned_into_cgroup = false;
  pid_t pid = clone_process(clone_flags, clone_target.get(), cloned_into_cgroup);
  if (pid == 0) {
    for (int fd = 0; fd < 3; ++fd)
      if (options.stdio[fd] >= 0 && options.stdio[fd] != fd) ::dup2(options.stdio[fd], fd);
    parent_sync.reset();
    ::close(dir.lock_fd());  // the lock must not outlive `create` through the child
    container_init(ctx);
  }
  int clone_errno = errno;
  if (own_pid_ns) (void)::setns(own_pid_ns.get(), CLONE_NEWPID);
  if (own_time_ns) (void)::setns(own_time_ns.get(), CLONE_NEWTIME);
  if (pid < 0) return Error::with_errno(clone_errno, "clone the container process");
  trace::mark("runtime: state directory, cgroup, clone");
  rollback.set_pid(pid);
  cgroup_join_files.clear();
  clone_target.reset();
  child_sync.reset();
  ns_fds.clear();
  fifo.reset();
  console.reset();

  record.pid = pid;
  record.pid_start_time = process_start_time(pid);
  BERTH_TRY_VOID(dir.save(record));
  if (ctx.new_user_ns) {
    BERTH_TRY_VOID(write_id_map(pid, "uid_map", spec.linux.uid_mappings));
    BERTH_TRY_VOID(write_id_map(pid, "gid_map", spec.linux.gid_mappings));
  }
  if (ctx.cgroup_join_fds.empty() && !cloned_into_cgroup)
    BERTH_TRY_VOID(rollback.cgroup->add_process(pid).context(fmt::format("add the container to cgroup '{}'", cgroup_path)));

  trace::mark("runtime: state file, id maps, cgroup.procs (v2)");
  std::string created_state = state_json(record, Status::created, -1);
  BERTH_TRY_VOID(sync::send(parent_sync.get(), sync::Msg::go, created_state));
  for (;;) {
    auto msg = sync::receive(parent_sync.get());
    if (!msg) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      rollback.set_pid(-1);
      return Error::make(ErrorKind::internal, "the container process exited during create (status {})",
                         proc::exit_code_of(status));
    }
    if (msg->first == sync::Msg::error) return Error(ErrorKind::failed_precondition, msg->second);
    if (msg->first == sync::Msg::ready) {
      trace::mark("runtime: the container's init (mounts, pivot_root, process set-up)");
      break;
    }
    if (msg->first == sync::Msg::run_hooks) {
      // "created", as crun passes them (runc too); tools reading a hook's stdin expect it.
      BERTH_TRY_VOID(run_hooks(spec.hooks.prestart, "prestart", created_state));
      BERTH_TRY_VOID(run_hooks(spec.hooks.create_runtime, "createRuntime", created_state));
      BERTH_TRY_VOID(sync::send(parent_sync.get(), sync::Msg::hooks_done, created_state));
    }
  }
  UniqueFd pty_master;
  if (own_console) {
    BERTH_TRY_CTX(pty_master, receive_fd(own_console.get()), "receive the container's terminal");
  }
  if (!options.pid_file.empty())
    BERTH_TRY_VOID(sys::atomic_write(options.pid_file, std::to_string(pid), 0644, sys::Durability::process_crash).context("write --pid-file"));
  rollback.commit();
  return Created{std::move(dir), std::move(record), std::move(spec), std::move(parent_sync), std::move(rollback.cgroup),
                 std::move(pty_master)};
}

bool alive(const ContainerRecord& r) {
  unsigned long long start = process_start_time(r.pid);
  return start != 0 && (r.pid_start_time == 0 || start == r.pid_start_time);
}

// Kills everything in the container and waits until the cgroup is empty.
void kill_all_and_wait(const ContainerRecord& r, cgroup::Cgroup* cg) {
  if (cg && cg->frozen()) (void)cg->freeze(false);
  for (int attempt = 0; attempt < 500; ++attempt) {
    bool any = false;
    if (alive(r)) {
      ::kill(r.pid, SIGKILL);
      any = true;
    }
    if (cg) {
      auto pids = cg->processes();
      if (pids)
        for (pid_t p : *pids) {
          ::kill(p, SIGKILL);
          any = true;
        }
    }
    if (!any) return;
    // Our own child (foreground run) must be reaped to disappear.
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    ::usleep(attempt < 20 ? 1000 : 10000);
  }
}

// The bundle's spec, for its `hook` hooks (poststart, poststop): read, but parsed only when its
// text names them (a parse of a 13 kB config.json is most of what `start` would do otherwise).
std::optional<oci::Spec> spec_with_hooks(const std::string& bundle, std::string_view hook) {
  auto text = sys::read_file(bundle + "/config.json");
  if (!text || text->find(fmt::format("\"{}\"", hook)) == std::string::npos) return std::nullopt;
  auto spec = oci::parse_spec(*text, bundle + "/config.json");
  if (!spec) return std::nullopt;
  return std::move(*spec);
}

// Kills what is left, removes the cgroup, runs poststop hooks (from `spec`, or the bundle's
// config.json when the caller has none), removes the state.
Result<void> destroy(StateDir& dir, const ContainerRecord& r, const oci::Spec* spec = nullptr) {
  auto cg = r.cgroup_path.empty() ? nullptr : cgroup::Cgroup::open(r.cgroup_path, r.cgroup_mode);
  kill_all_and_wait(r, cg.get());
  if (cg) BERTH_TRY_VOID(cg->destroy().context("remove cgroup"));
  std::optional<oci::Spec> loaded;
  if (!spec) {
    loaded = spec_with_hooks(r.bundle, "poststop");
    spec = loaded ? &*loaded : nullptr;
  }
  if (spec && !spec->hooks.poststop.empty())
    run_hooks_warn(spec->hooks.poststop, "poststop", state_json(r, Status::stopped, -1));
  return dir.remove().context("remove state");
}

Result<void> run_poststart(const Created& c) {
  if (c.spec.hooks.poststart.empty()) return {};
  run_hooks_warn(c.spec.hooks.poststart, "poststart", state_json(c.record, Status::running, -1));
  return {};
}

Error not_running(const std::string& id, Status status, std::string_view verb) {
  return Error::make(ErrorKind::failed_precondition, "cannot {} container '{}': it is {}", verb, id, status_name(status));
}

}  // namespace

Result<pid_t> create(const GlobalOptions& global, const CreateOptions& options) {
  BERTH_TRY(auto c, create_container(global, options, Launch::create));
  return c.record.pid;
}

Result<void> start(const GlobalOptions& global, const std::string& id) {
  BERTH_TRY(StateDir dir, StateDir::open(global.root, id));
  BERTH_TRY(auto record, dir.load());
  Status status = current_status(record, dir);
  if (status != Status::created) return not_running(id, status, "start");
  // Only the container process holds the fifo open: without it there is no reader (ENXIO).
  auto fifo = sys::open(dir.fifo_path(), O_WRONLY | O_NONBLOCK);
  if (!fifo && fifo.error().sys_errno() == ENXIO)
    return Error::make(ErrorKind::failed_precondition,
                       "cannot start container '{}': its process has exited", id);
  if (!fifo) return std::move(fifo).error();
  BERTH_TRY_VOID(sys::write_all(fifo->get(), "0").context("write exec fifo"));
  ::unlink(dir.fifo_path().c_str());
  auto spec = spec_with_hooks(record.bundle, "poststart");
  if (spec && !spec->hooks.poststart.empty())
    run_hooks_warn(spec->hooks.poststart, "poststart", state_json(record, Status::running, -1));
  return {};
}

Result<int> run(const GlobalOptions& global, const CreateOptions& options, bool detach) {
  std::optional<BlockedSignals> blocked;
  if (!detach) {
    // Signals are forwarded to the container; orphans inside it are reaped by us.
    blocked.emplace();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  }
  BERTH_TRY(auto c, create_container(global, options, detach ? Launch::run_detached : Launch::run_foreground));
  BERTH_TRY_VOID(sync::send(c.sync.get(), sync::Msg::start));
  auto after_exec = sync::receive(c.sync.get());
  if (after_exec && after_exec->first == sync::Msg::error) {
    Error error(ErrorKind::failed_precondition, after_exec->second);
    (void)destroy(c.dir, c.record, &c.spec);
    return error;
  }
  c.sync.reset();
  c.dir.unlock();
  BERTH_TRY_VOID(run_poststart(c));
  if (detach) return 0;
  uint64_t oom_before = options.oom_killed ? cgroup::oom_kills(c.record.cgroup_path) : 0;
  auto exit_code = forward_signals_until_exit(c.record.pid, c.pty_master.get());
  if (options.oom_killed) *options.oom_killed = cgroup::oom_kills(c.record.cgroup_path) > oom_before;
  if (auto dir = StateDir::open(global.root, options.id); dir) {
    if (auto r = destroy(*dir, c.record, &c.spec); !r) log::warn(r.error().message());
  }
  return exit_code;
}

Result<std::string> state(const GlobalOptions& global, const std::string& id) {
  BERTH_TRY(StateDir dir, StateDir::open(global.root, id));
  BERTH_TRY(auto record, dir.load());
  return state_json(record, current_status(record, dir));
}

Result<void> kill(const GlobalOptions& global, const std::string& id, int signal, bool all) {
  BERTH_TRY(StateDir dir, StateDir::open(global.root, id));
  BERTH_TRY(auto record, dir.load());
  Status status = current_status(record, dir);
  if (status == Status::stopped) return not_running(id, status, "kill");
  if (all && !record.cgroup_path.empty()) {
    auto cg = cgroup::Cgroup::open(record.cgroup_path, record.cgroup_mode);
    BERTH_TRY(auto pids, cg->processes());
    for (pid_t p : pids) ::kill(p, signal);
    if (signal == SIGKILL && cg->frozen()) (void)cg->freeze(false);
    return {};
  }
  if (::kill(record.pid, signal) < 0) return Error::from_errno("send signal {} to container '{}'", signal, id);
  // SIGKILL takes effect once the process is next scheduled: wait for that (briefly), so that a
  // `delete` right after `kill ID KILL` finds the container stopped, as the README's tour does.
  if (signal == SIGKILL && status == Status::running)
    for (int i = 0; i < 1000 && alive(record); ++i) ::usleep(1000);
  return {};
}

Result<void> remove(const GlobalOptions& global, const std::string& id, bool force) {
  if (StateDir::is_stale(global.root, id)) return StateDir::remove_stale(global.root, id);
  BERTH_TRY(StateDir dir, StateDir::open(global.root, id));
  BERTH_TRY(auto record, dir.load());
  Status status = current_status(record, dir);
  if ((status == Status::running || status == Status::paused) && !force)
    return Error::make(ErrorKind::failed_precondition, "cannot delete container '{}': it is {}", id, status_name(status))
        .with_hint(fmt::format("stop it first (berth-runtime kill {}), or delete it with --force", id));
  return destroy(dir, record).context(fmt::format("delete container '{}'", id));
}

Result<void> update(const GlobalOptions& global, const std::string& id, const oci::Resources& resources) {
  BERTH_TRY(StateDir dir, StateDir::open(global.root, id));
  BERTH_TRY(auto record, dir.load());
  Status status = current_status(record, dir);
  if (status == Status::stopped) return not_running(id, status, "update");
  return cgroup::Cgroup::open(record.cgroup_path, record.cgroup_mode)->apply(resources);
}

Result<void> pause(const GlobalOptions& global, const std::string& id) {
  BERTH_TRY(StateDir dir, StateDir::open(global.root, id));
  BERTH_TRY(auto record, dir.load());
  Status status = current_status(record, dir);
  if (status != Status::running) return not_running(id, status, "pause");
  return cgroup::Cgroup::open(record.cgroup_path, record.cgroup_mode)->freeze(true);
}

Result<void> resume(const GlobalOptions& global, const std::string& id) {
  BERTH_TRY(StateDir dir, StateDir::open(global.root, id));
  BERTH_TRY(auto record, dir.load());
  Status status = current_status(record, dir);
  if (status != Status::paused) return not_running(id, status, "resume");
  return cgroup::Cgroup::open(record.cgroup_path, record.cgroup_mode)->freeze(false);
}

Result<std::vector<pid_t>> processes(const GlobalOptions& global, const std::string& id) {
  BERTH_TRY(StateDir dir, StateDir::open(global.root, id));
  BERTH_TRY(auto record, dir.load());
  if (current_status(record, dir) == Status::stopped) return std::vector<pid_t>{};
  return cgroup::Cgroup::open(record.cgroup_path, record.cgroup_mode)->processes();
}

std::vector<ListEntry> list(const GlobalOptions& global) {
  std::vector<ListEntry> out;
  for (const auto& id : StateDir::list(global.root)) {
    auto dir = StateDir::open(global.root, id);
    if (!dir) continue;
    auto record = dir->load();
    if (!record) continue;
    out.push_back({*record, current_status(*record, *dir)});
  }
  return out;
}

}  // namespace berth::runtime
