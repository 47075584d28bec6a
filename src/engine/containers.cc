// engine/containers.cc — container records: create, find, list, refresh, rm, rename, and the
// helpers the other container files share (engine/detail/container_records.h).
#include "engine/containers.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/trace.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys.h"
#include "engine/detail/container_records.h"
#include "engine/detail/crash_point.h"
#include "engine/events.h"
#include "engine/networks.h"
#include "engine/proxy_drain.h"
#include "engine/images.h"
#include "engine/spec.h"
#include "engine/volumes.h"
#include "monitor/monitor.h"
#include "monitor/protocol.h"
#include "runtime/mounts.h"
#include "runtime/runtime.h"
#include "state/lock.h"
#include "state/transaction.h"

namespace berth::engine {
namespace detail {

constexpr const char* kColumns =
    "SELECT id, name, image_id, image_ref, config, state, pid, monitor_pid, exit_code, oom_killed, "
    "restart_count, created, started, finished, error FROM containers ";

Result<std::vector<ContainerRecord>> query(Engine& engine, std::string_view where, const std::string& arg) {
  BERTH_TRY(auto q, engine.db.prepare(std::string(kColumns) + std::string(where)));
  if (!arg.empty()) q.bind(1, arg);
  std::vector<ContainerRecord> out;
  for (;;) {
    BERTH_TRY(bool row, q.step());
    if (!row) break;
    ContainerRecord r;
    r.id = q.column_text(0);
    r.name = q.column_text(1);
    r.image_id = q.column_text(2);
    r.image_ref = q.column_text(3);
    BERTH_TRY(r.config, parse_container_config(q.column_text(4)));
    r.state = q.column_text(5);
    r.pid = q.column_optional_int64(6);
    r.monitor_pid = q.column_optional_int64(7);
    r.exit_code = q.column_optional_int64(8);
    r.oom_killed = q.column_int64(9) != 0;
    r.restart_count = q.column_int64(10);
    r.created = q.column_int64(11);
    r.started = q.column_optional_int64(12);
    r.finished = q.column_optional_int64(13);
    r.error = q.column_text(14);
    place_files(engine, r);
    out.push_back(std::move(r));
  }
  return out;
}

Error not_found(std::string_view name) {
  return Error::make(ErrorKind::not_found, "container '{}' not found", name).with_hint("see `berth ps -a`");
}

Result<state::ObjectLock> lock_container(Engine& engine, const std::string& id) {
  return state::ObjectLock::acquire(engine.layout.locks(), "container", id, state::ObjectLock::Mode::exclusive);
}

runtime::GlobalOptions runtime_options(const Engine& engine) {
  runtime::GlobalOptions g;
  g.root = engine.layout.runtime_root();
  return g;
}

void place_files(const Engine& engine, ContainerRecord& r) {
  r.layer_dir = engine.layout.container(r.id);
  r.dir = r.config.short_lived() ? engine.layout.run_container(r.id) : r.layer_dir;
}

std::string rootfs_of(const ContainerRecord& r) { return r.dir + "/rootfs"; }
std::string cgroups_path_of(const std::string& id) { return "/berth/" + id; }

// True while a monitor (berth-monitor, or a foreground `berth run`) holds the container's lock.
bool monitor_alive(const ContainerRecord& r) { return monitor_alive_in(r.dir); }

bool monitor_alive_in(const std::string& dir) {
  int fd = ::open((dir + "/" + monitor::kLockFile).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  UniqueFd guard(fd);
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) return false;
  return errno == EWOULDBLOCK;
}

// Waits up to timeout_ms for the monitor to exit; true if it did.
bool wait_monitor_exit(const ContainerRecord& r, int64_t timeout_ms) {
  uint64_t deadline = clock::monotonic_ms() + static_cast<uint64_t>(std::max<int64_t>(timeout_ms, 0));
  for (;;) {
    if (!monitor_alive(r)) return true;
    if (clock::monotonic_ms() >= deadline) return false;
    ::usleep(5000);
  }
}

Result<void> update(Engine& engine, std::string_view sql, const std::string& id) {
  BERTH_TRY(auto stmt, engine.db.prepare(sql));
  stmt.bind(1, id);
  return stmt.run();
}

std::map<std::string, std::string> event_attributes(const ContainerRecord& r) {
  std::map<std::string, std::string> attrs = r.config.labels;
  attrs["name"] = r.name;
  attrs["image"] = r.image_ref;
  return attrs;
}

void unmount_rootfs(const ContainerRecord& r) {
  std::string rootfs = rootfs_of(r);
  while (::umount2(rootfs.c_str(), MNT_DETACH) == 0) {
  }
}

// Records what the dead monitor left in exit.json: state exited, die (and oom) events.
Result<ContainerRecord> finish_exit(Engine& engine, ContainerRecord r, bool then_remove) {
  int64_t exit_code = 255;
  bool oom = false;
  int64_t finished = clock::now_ns();
  int64_t restarts = r.restart_count;
  std::string error;
  if (auto text = sys::read_file(r.dir + "/" + monitor::kExitFile)) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_object()) {
      exit_code = j.value("exitCode", 255);
      oom = j.value("oomKilled", false);
      restarts = j.value("restartCount", restarts);
      if (auto t = clock::parse_rfc3339(j.value("finishedAt", ""))) finished = *t;
    }
  } else {
    error = "the container's monitor ended without recording an exit";
  }
  (void)runtime::remove(runtime_options(engine), r.id, true);  // stray processes, runtime state, cgroup
  trace::mark("exit: runtime delete (cgroup, state)");
  unmount_rootfs(r);
  trace::mark("exit: unmount");
  unwire_container(engine, r.id, r.config);
  trace::mark("exit: network");
  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  BERTH_TRY(auto stmt, engine.db.prepare(
      "UPDATE containers SET state = ?7, exit_code = ?2, oom_killed = ?3, finished = ?4, pid = NULL, "
      "monitor_pid = NULL, restart_count = ?5, error = ?6 WHERE id = ?1 AND state IN ('running', 'paused', "
      "'restarting')"));
  const std::string state = then_remove ? "removing" : "exited";
  stmt.bind_all(r.id, exit_code, oom, finished, restarts, error, state);
  BERTH_TRY_VOID(stmt.run());
  if (engine.db.changes() == 1) {
    auto attrs = event_attributes(r);
    if (oom) BERTH_TRY_VOID(record_event(engine.db, "container", "oom", r.id, attrs, finished));
    attrs["exitCode"] = std::to_string(exit_code);
    BERTH_TRY_VOID(record_event(engine.db, "container", "die", r.id, attrs, finished));
  }
  BERTH_TRY_VOID(tx.commit());
  trace::mark(then_remove ? "exit: record, mark removing (berth.db)" : "exit: record (berth.db)");
  if (then_remove) detail::crash_point("rm:after-mark");
  r.state = state;
  r.exit_code = exit_code;
  r.oom_killed = oom;
  r.finished = finished;
  r.pid.reset();
  r.monitor_pid.reset();
  r.restart_count = restarts;
  r.error = error;
  return r;
}

// Deletes what is left of a container: runtime state, mount, files, row, anonymous volumes.
Result<void> destroy(Engine& engine, const ContainerRecord& r, bool volumes, state::ObjectLock& lock,
                     Marked marked) {
  if (marked == Marked::no) {
    BERTH_TRY_VOID(update(engine, "UPDATE containers SET state = 'removing' WHERE id = ?1", r.id));
    detail::crash_point("rm:after-mark");
    trace::mark("rm: mark removing (berth.db)");
    (void)runtime::remove(runtime_options(engine), r.id, true);
    unmount_rootfs(r);
    unwire_container(engine, r.id, r.config);
    trace::mark("rm: runtime, mount, network");
  }
  BERTH_TRY_VOID(sys::remove_all(r.dir));
  if (r.layer_dir != r.dir) BERTH_TRY_VOID(sys::remove_all(r.layer_dir));
  trace::mark("rm: files");
  detail::crash_point("rm:after-files");
  std::vector<std::string> anonymous;
  {
    BERTH_TRY(auto q, engine.db.prepare("SELECT cv.volume_name FROM container_volumes cv JOIN volumes v ON "
                                        "v.name = cv.volume_name WHERE cv.container_id = ?1 AND "
                                        "json_extract(v.labels, '$.\"berth.anonymous\"') IS NOT NULL"));
    q.bind(1, r.id);
    for (;;) {
      BERTH_TRY(bool row, q.step());
      if (!row) break;
      anonymous.push_back(q.column_text(0));
    }
  }
  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  BERTH_TRY_VOID(update(engine, "DELETE FROM containers WHERE id = ?1", r.id));
  BERTH_TRY_VOID(record_event(engine.db, "container", "destroy", r.id, event_attributes(r)));
  BERTH_TRY_VOID(tx.commit());
  lock.remove_file();  // the container is gone: its lock file would only pile up
  trace::mark("rm: record (berth.db)");
  if (volumes)
    for (const auto& name : anonymous)
      if (auto removed = remove_volume(engine, name); !removed) log::warn(removed.error().message());
  return {};
}

// Reads the monitor's health.json and records a health_status event when the status differs
// from the last one recorded (the monitor runs `berth container cleanup` on each change).
Result<void> note_health(Engine& engine, ContainerRecord& r) {
  if (r.config.health_command.empty()) return {};
  auto text = sys::read_file(r.dir + "/" + monitor::kHealthFile);
  if (!text) return {};
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return {};
  r.health = j.value("Status", "");
  if (r.health == "starting") return {};
  BERTH_TRY(auto last, engine.db.prepare("SELECT action FROM events WHERE actor_id = ?1 AND action LIKE "
                                         "'health_status:%' AND time >= ?2 ORDER BY seq DESC LIMIT 1"));
  last.bind_all(r.id, r.started.value_or(0));
  BERTH_TRY(bool row, last.step());
  std::string action = "health_status: " + r.health;
  if (row && last.column_text(0) == action) return {};
  last.reset();
  BERTH_TRY_VOID(record_event(engine.db, "container", action, r.id, event_attributes(r)));
  return refresh_dns_names(engine, r.id);
}

Result<ContainerRecord> refresh(Engine& engine, ContainerRecord r, bool auto_remove) {
  if (r.state == "removing") {
    // An interrupted `rm`: finish it, unless the `rm` is still at work (it holds the lock).
    BERTH_TRY(auto lock, lock_container(engine, r.id));
    BERTH_TRY(auto fresh, query(engine, "WHERE id = ?1", r.id));
    if (!fresh.empty()) BERTH_TRY_VOID(destroy(engine, fresh.front(), true, lock));
    else lock.remove_file();
    r.state = "removed";
    return r;
  }
  if (!r.running()) {
    // A --rm (or ephemeral) container whose bundle went with the run root (a reboot empties
    // it): it can never start, so it goes, as docker removes such containers when its daemon
    // starts.
    if (auto_remove && r.config.short_lived() && !sys::exists(r.dir)) {
      BERTH_TRY(auto lock, lock_container(engine, r.id));
      BERTH_TRY(auto fresh, query(engine, "WHERE id = ?1", r.id));
      if (!fresh.empty() && !fresh.front().running()) BERTH_TRY_VOID(destroy(engine, fresh.front(), true, lock));
      r.state = "removed";
    }
    return r;
  }
  if (monitor_alive(r)) {
    if (r.state == "paused") return r;
    auto pid_text = sys::read_file(r.dir + "/" + monitor::kPidFile);
    if (!pid_text) {
      r.state = "restarting";
    } else {
      auto j = nlohmann::json::parse(*pid_text, nullptr, false);
      if (j.is_object()) r.pid = j.value("pid", 0);
      r.state = "running";
    }
    if (auto text = sys::read_file(r.dir + "/" + monitor::kExitFile)) {
      auto j = nlohmann::json::parse(*text, nullptr, false);
      if (j.is_object()) {
        r.restart_count = j.value("restartCount", 0) + (r.state == "running" ? 1 : 0);
        // Between two runs `ps` shows the last exit: "Restarting (1) 2 seconds ago".
        if (r.state == "restarting") {
          r.exit_code = j.value("exitCode", 0);
          if (auto t = clock::parse_rfc3339(j.value("finishedAt", ""))) r.finished = *t;
        }
      }
    }
    BERTH_TRY_VOID(note_health(engine, r));
    return r;
  }
  // The monitor is gone: take the lock so that only one reader finishes the container.
  BERTH_TRY(auto lock, lock_container(engine, r.id));
  BERTH_TRY(auto fresh, query(engine, "WHERE id = ?1", r.id));
  if (fresh.empty()) {
    lock.remove_file();  // the `rm` we waited for removed it; our acquire made it again
    r.state = "removed";
    return r;
  }
  r = fresh.front();
  if (!r.running()) return r;
  // Started again while this reader waited for the lock (a restart): that monitor is alive.
  if (monitor_alive(r)) return r;
  const bool remove = auto_remove && r.config.auto_remove;
  BERTH_TRY(r, finish_exit(engine, std::move(r), remove));
  if (remove) {
    BERTH_TRY_VOID(destroy(engine, r, true, lock, Marked::yes));
    r.state = "removed";
  }
  return r;
}

constexpr const char* kAdjectives[] = {"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen",
                                       "lucid", "merry", "nifty", "proud", "quiet", "rapid", "sharp", "tender",
                                       "upbeat", "vivid", "witty", "zealous"};
constexpr const char* kNouns[] = {"albatross", "beacon", "cargo", "dock", "ferry", "galley", "harbor", "jetty",
                                  "keel", "lantern", "mooring", "pier", "quay", "rudder", "sail", "tugboat",
                                  "voyage", "wharf", "yacht", "anchor"};

std::string generated_name() {
  std::string hex = sys::random_hex(4);
  unsigned value = static_cast<unsigned>(std::stoul(hex, nullptr, 16));
  return fmt::format("{}_{}_{}", kAdjectives[value % 20], kNouns[(value / 20) % 20], (value / 400) % 1000);
}

// /etc/hosts and /etc/resolv.conf, written at each start: the container's address and its
// networks' DNS as they are now.
Result<void> write_etc_files(Engine& engine, const ContainerRecord& r) {
  std::string etc_dir = r.dir + "/etc";
  BERTH_TRY_VOID(sys::mkdir_all(etc_dir, 0755));
  std::string hostname = r.config.hostname.empty() ? r.id.substr(0, 12) : r.config.hostname;
  if (r.config.network.starts_with("container:")) {
    // Shares that container's network: its names and resolvers too.
    std::string other_id = r.config.network.substr(10);
    BERTH_TRY(auto others, query(engine, "WHERE id = ?1", other_id));
    std::string other = (others.empty() ? engine.layout.container(other_id) : others.front().dir) + "/etc/";
    for (const char* file : {"hosts", "resolv.conf"})
      if (auto text = sys::read_file(other + file))
        BERTH_TRY_VOID(sys::atomic_write(etc_dir + "/" + file, *text, 0644, sys::Durability::process_crash));
    return {};
  }
  BERTH_TRY(auto hosts, hosts_file_for(engine, r.id, r.config, hostname));
  BERTH_TRY_VOID(sys::atomic_write(etc_dir + "/hosts", hosts, 0644, sys::Durability::process_crash));
  BERTH_TRY(auto resolv, resolv_conf_for(engine, r.id, r.config));
  return sys::atomic_write(etc_dir + "/resolv.conf", resolv, 0644, sys::Durability::process_crash);
}

std::string init_binary() {
  for (const char* path : {"/usr/bin/tini-static", "/usr/bin/docker-init"})
    if (::access(path, X_OK) == 0) return path;
  return "";
}

// Layout::init_layer(), built once per root under a temporary name, synced, then renamed into
// place: a crash leaves no half-built layer under the real name.
Result<std::string> ensure_init_layer(Engine& engine) {
  std::string dir = engine.layout.init_layer();
  if (sys::exists(dir)) return dir;
  // pid and thread: the threads of one server (berth serve) unpack at the same time. Cleaners
  // read the pid up to the '-'.
  std::string tmp = fmt::format("{}.tmp-{}-{}", dir, ::getpid(), ::gettid());
  (void)sys::remove_all(tmp);
  auto built = [&]() -> Result<void> {
    // Mount points the runtime needs in every container; an image that has them wins (it is
    // above this layer), and one that lacks them gets an empty file or directory, as the
    // runtime would have made in the writable layer.
    for (const char* sub : {"", "/dev", "/proc", "/sys", "/etc"}) BERTH_TRY_VOID(sys::mkdir_all(tmp + sub, 0755));
    for (const char* file : {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}) {
      BERTH_TRY(auto fd, sys::open(tmp + file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (::fsync(fd.get()) < 0) return Error::from_errno("fsync '{}'", tmp + file);
    }
    for (const char* sub : {"/etc", "/dev", "/proc", "/sys", ""}) {
      BERTH_TRY(auto fd, sys::open(tmp + sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (::fsync(fd.get()) < 0) return Error::from_errno("fsync '{}'", tmp + sub);
    }
    return {};
  }();
  if (built && ::rename(tmp.c_str(), dir.c_str()) < 0 && errno != EEXIST && errno != ENOTEMPTY)
    built = Error::from_errno("rename '{}'", tmp);
  (void)sys::remove_all(tmp);  // gone after the rename; a failed build's, or the loser's of a race
  if (!built) return std::move(built).error().context("make the init layer");
  if (auto parent = sys::open(engine.layout.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ::fsync(parent->get());
  return dir;
}

Result<void> mount_rootfs(Engine& engine, const ContainerRecord& r) {
  BERTH_TRY(auto image, get_image(engine, r.image_id));
  BERTH_TRY(auto content, read_image(engine, image));
  BERTH_TRY(auto gc, state::ObjectLock::acquire(engine.layout.locks(), "gc", "images", state::ObjectLock::Mode::shared));
  BERTH_TRY(auto lower, ensure_layers(engine, content));
  BERTH_TRY(auto init, ensure_init_layer(engine));
  lower.push_back(std::move(init));
  std::string options = fmt::format("lowerdir={},upperdir={}/upper,workdir={}/work", fmt::join(lower, ":"),
                                    r.layer_dir, r.layer_dir);
  unmount_rootfs(r);
  if (r.config.short_lived()) {
    // A --rm container's writable layer is deleted when it exits: nothing in it needs to reach
    // the disk, so overlayfs may skip every sync (`volatile`, Linux 5.10+), the one at unmount
    // too. (A volatile work directory must be cleaned before it is mounted again.)
    (void)sys::remove_all(r.layer_dir + "/work/incompat");
    if (::mount("overlay", rootfs_of(r).c_str(), "overlay", 0, (options + ",volatile").c_str()) == 0) return {};
  }
  if (::mount("overlay", rootfs_of(r).c_str(), "overlay", 0, options.c_str()) < 0)
    return Error::from_errno("mount the overlay root file system of container '{}'", r.name);
  return {};
}

void parse_signal_or(std::string_view text, int fallback, int& out) {
  out = fallback;
  if (text.empty()) return;
  if (auto sig = runtime::parse_signal(text)) out = *sig;
}

// --health-cmd given, --no-healthcheck (command {"NONE"}), or the image's HEALTHCHECK.
Result<void> resolve_health(ContainerConfig& config, const oci::ContainerConfig& image) {
  if (config.health_command.empty() && image.healthcheck) {
    const auto& h = *image.healthcheck;
    config.health_command = h.test;
    if (h.interval > 0 && config.health_interval_ms == 30'000) config.health_interval_ms = h.interval / 1'000'000;
    if (h.timeout > 0 && config.health_timeout_ms == 30'000) config.health_timeout_ms = h.timeout / 1'000'000;
    if (h.start_period > 0 && config.health_start_period_ms == 0) config.health_start_period_ms = h.start_period / 1'000'000;
    if (h.retries > 0 && config.health_retries == 3) config.health_retries = h.retries;
  }
  auto& cmd = config.health_command;
  if (cmd.empty()) return {};
  if (cmd[0] == "NONE") {
    cmd.clear();
  } else if (cmd[0] == "CMD-SHELL") {
    if (cmd.size() != 2) return Error(ErrorKind::invalid_argument, "health check CMD-SHELL takes one command string");
    cmd = {"/bin/sh", "-c", cmd[1]};
  } else if (cmd[0] == "CMD") {
    cmd.erase(cmd.begin());
  }
  if (config.health_interval_ms <= 0 || config.health_timeout_ms <= 0 || config.health_retries <= 0)
    return Error(ErrorKind::invalid_argument, "health check interval, timeout and retries must be positive");
  return {};
}

}  // namespace detail

using namespace detail;

int exec_failure_status(std::string_view error) {
  bool missing = error.find("not found") != std::string_view::npos ||
                 error.find("no such file") != std::string_view::npos ||
                 error.find("No such file") != std::string_view::npos;
  return missing ? 127 : 126;
}

namespace {

// Deletes a container's files (a create that failed half-way).
void remove_files(const ContainerRecord& r) {
  (void)sys::remove_all(r.dir);
  if (r.layer_dir != r.dir) (void)sys::remove_all(r.layer_dir);
}

// Docker fills a new, empty volume with what the image has at the mount point (copy-up). The
// image's merged view comes from a read-only overlay of its layers (or the one layer itself).
Result<void> copy_up(Engine& engine, const std::vector<std::string>& lower, const std::string& destination,
                     const std::string& volume_dir) {
  if (lower.empty() || !sys::exists(volume_dir) || !sys::list_dir(volume_dir).empty()) return {};
  std::string root = lower.front();
  std::string scratch;
  if (lower.size() > 1) {
    scratch = engine.layout.run_root + "/copy-up-" + sys::random_hex(8);
    BERTH_TRY_VOID(sys::mkdir_all(scratch, 0700));
    std::string options = fmt::format("lowerdir={}", fmt::join(lower, ":"));
    if (::mount("overlay", scratch.c_str(), "overlay", MS_RDONLY, options.c_str()) < 0) {
      ::rmdir(scratch.c_str());
      return Error::from_errno("mount the image's layers");
    }
    root = scratch;
  }
  auto copied = [&]() -> Result<void> {
    BERTH_TRY(auto source, runtime::secure_join(root, destination));
    struct ::stat st;
    if (::stat(source.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) return {};
    proc::RunOptions cp;
    cp.path = "/bin/cp";
    cp.args = {"cp", "-a", "--", source + "/.", volume_dir + "/"};
    BERTH_TRY(int code, proc::run(cp));
    if (code != 0) return Error::make(ErrorKind::io, "cp -a exited {}", code);
    return {};
  }();
  if (!scratch.empty()) {
    ::umount2(scratch.c_str(), MNT_DETACH);
    ::rmdir(scratch.c_str());
  }
  return copied;
}

}  // namespace

Result<void> validate_container_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 128 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char ch : name) ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-');
  if (!ok)
    return Error::make(ErrorKind::invalid_argument,
                       "container name '{}': use letters, digits, '_', '.' and '-', starting with a letter or digit",
                       name);
  return {};
}

Result<CreateResult> create_container(Engine& engine, const ContainerConfig& requested, std::string name) {
  ContainerConfig config = requested;
  if (name.empty()) name = generated_name();
  BERTH_TRY_VOID(validate_container_name(name));
  BERTH_TRY(auto existing, query(engine, "WHERE name = ?1", name));
  if (!existing.empty())
    return Error::make(ErrorKind::already_exists, "the container name '{}' is already in use by container {}", name,
                       existing.front().id.substr(0, 12))
        .with_hint("remove that container (`berth rm " + name + "`) or choose another --name");
  if (config.network.starts_with("container:")) {
    BERTH_TRY(auto other, find_container(engine, config.network.substr(10)));
    if (!other.config.on_bridge())
      return Error::make(ErrorKind::invalid_argument, "--network {}: that container is not on a bridge network",
                         config.network);
    config.network = "container:" + other.id;
  }
  BERTH_TRY_VOID(check_network_config(engine, config));
  BERTH_TRY(auto policy, monitor::RestartPolicy::parse(config.restart));
  if (policy.kind != monitor::RestartPolicy::Kind::no && config.auto_remove)
    return Error(ErrorKind::invalid_argument, "--restart and --rm cannot be used together");
  BERTH_TRY(auto image, find_image(engine, config.image));
  BERTH_TRY(auto content, read_image(engine, image));
  trace::mark("create: check the config, read the image");
  if (config.stop_signal.empty()) config.stop_signal = content.config.config.stop_signal;
  BERTH_TRY_VOID(resolve_health(config, content.config.config));
  if (!config.stop_signal.empty()) BERTH_TRY_VOID(runtime::parse_signal(config.stop_signal).context("--stop-signal"));
  CreateResult result;
  std::vector<std::string> lower;
  {
    BERTH_TRY(auto gc, state::ObjectLock::acquire(engine.layout.locks(), "gc", "images", state::ObjectLock::Mode::shared));
    BERTH_TRY(lower, ensure_layers(engine, content));
  }
  trace::mark("create: layers");

  // Volumes: binds must exist; named ones are created on first use; the image's VOLUMEs not
  // covered by -v get anonymous volumes.
  std::vector<VolumeMount> mounts;
  std::vector<std::pair<std::string, VolumeMount>> volume_rows;
  auto covered = [&](const std::string& destination) {
    return std::any_of(config.volumes.begin(), config.volumes.end(),
                       [&](const VolumeMount& v) { return v.destination == destination; });
  };
  std::vector<VolumeMount> wanted = config.volumes;
  for (const auto& destination : content.config.config.volumes)
    if (!covered(destination)) wanted.push_back({"", destination, false});
  for (const auto& v : wanted) {
    if (v.is_bind()) {
      if (!sys::exists(v.source))
        return Error::make(ErrorKind::not_found, "bind source path '{}' does not exist", v.source)
            .with_hint("create it first, or use a named volume (-v NAME:" + v.destination + ")");
      mounts.push_back(v);
    }
  }
  for (const auto& v : wanted) {
    if (v.is_bind()) continue;
    BERTH_TRY(auto volume, create_volume(engine, v.source));
    BERTH_TRY_VOID(copy_up(engine, lower, v.destination, volume.mountpoint)
                       .context(fmt::format("fill volume '{}' from the image's {}", volume.name, v.destination)));
    mounts.push_back({volume.mountpoint, v.destination, v.read_only});
    volume_rows.push_back({volume.name, v});
  }

  std::string id = sys::random_hex(32);
  // Held until the row is written: `system check` leaves the directory of a create at work alone.
  BERTH_TRY(auto lock, lock_container(engine, id));
  ContainerRecord r;
  r.id = id;
  r.name = name;
  r.image_id = image.id;
  r.image_ref = config.image;
  r.config.auto_remove = config.auto_remove;
  r.config.ephemeral = config.ephemeral;
  place_files(engine, r);
  SpecInputs inputs;
  inputs.id = id;
  inputs.rootfs = rootfs_of(r);
  BERTH_TRY(inputs.user, resolve_user(lower, config.user.empty() ? content.config.config.user : config.user));
  inputs.hostname = config.hostname.empty() ? id.substr(0, 12) : config.hostname;
  inputs.mounts = mounts;
  inputs.etc_dir = r.dir + "/etc";
  inputs.netns_path = netns_path_for(engine, id, config);
  inputs.init_binary = init_binary();
  inputs.cgroups_path = cgroups_path_of(id);
  BERTH_TRY(auto spec, build_spec(config, content.config, inputs));
  trace::mark("create: volumes, user, spec");

  // Files first, then the row: a crash in between leaves a directory without a row, which
  // `system check` removes; never a row without its bundle.
  auto made = [&]() -> Result<void> {
    // The overlay root takes the upper directory's mode: 0755, or no other user could enter "/".
    BERTH_TRY_VOID(sys::mkdir_all(r.dir + "/rootfs", 0700));
    BERTH_TRY_VOID(sys::mkdir_all(r.layer_dir + "/work", 0700));
    BERTH_TRY_VOID(sys::mkdir_all(r.layer_dir + "/upper", 0755));
    BERTH_TRY_VOID(sys::mkdir_all(inputs.etc_dir, 0755));
    BERTH_TRY_VOID(sys::atomic_write(inputs.etc_dir + "/hostname", inputs.hostname + "\n", 0644,
                                     sys::Durability::process_crash));
    return sys::atomic_write(r.dir + "/config.json", oci::to_json(spec), 0600, sys::Durability::process_crash);
  }();
  if (!made) {
    remove_files(r);
    return std::move(made).error();
  }
  detail::crash_point("create:after-files");
  trace::mark("create: bundle files");
  r.config = config;
  r.state = "created";
  r.created = clock::now_ns();
  auto recorded = [&]() -> Result<void> {
    BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
    BERTH_TRY(auto insert, engine.db.prepare("INSERT INTO containers(id, name, image_id, image_ref, config, state, "
                                             "created) VALUES (?1, ?2, ?3, ?4, ?5, 'created', ?6)"));
    insert.bind_all(id, name, image.id, config.image, to_json(config), r.created);
    BERTH_TRY_VOID(insert.run());
    std::vector<std::string> exposed(content.config.config.exposed_ports.begin(),
                                     content.config.config.exposed_ports.end());
    BERTH_TRY_VOID(reserve_network(engine, id, config, exposed));
    for (const auto& [volume, mount] : volume_rows) {
      BERTH_TRY(auto row, engine.db.prepare("INSERT INTO container_volumes(container_id, volume_name, destination, "
                                            "read_only) VALUES (?1, ?2, ?3, ?4)"));
      row.bind_all(id, volume, mount.destination, mount.read_only);
      BERTH_TRY_VOID(row.run());
    }
    BERTH_TRY_VOID(record_event(engine.db, "container", "create", id, event_attributes(r), r.created));
    return tx.commit();
  }();
  if (!recorded) {
    remove_files(r);
    if (recorded.error().kind() == ErrorKind::already_exists &&
        recorded.error().message().find("containers.name") != std::string::npos)
      return Error::make(ErrorKind::already_exists, "the container name '{}' is already in use", name)
          .with_hint("choose another --name");
    return std::move(recorded).error();
  }
  detail::crash_point("create:after-row");
  trace::mark("create: record (berth.db)");
  result.container = std::move(r);
  return result;
}

Result<ContainerRecord> find_container(Engine& engine, std::string_view name_or_id) {
  std::string key(name_or_id);
  if (key.empty()) return Error(ErrorKind::invalid_argument, "a container name or id is empty");
  BERTH_TRY(auto found, query(engine, "WHERE name = ?1 OR id = ?1", key));
  if (found.empty() && key.size() < 64 &&
      std::all_of(key.begin(), key.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
    BERTH_TRY(found, query(engine, "WHERE id LIKE ?1 || '%'", key));
    if (found.size() > 1)
      return Error::make(ErrorKind::invalid_argument, "container id '{}' is ambiguous: {} containers start with it",
                         key, found.size());
  }
  if (found.empty()) return not_found(key);
  BERTH_TRY(auto r, refresh(engine, found.front(), true));
  if (r.state == "removed") return not_found(key);
  return r;
}

Result<std::vector<ContainerRecord>> list_containers(Engine& engine) {
  BERTH_TRY(auto all, query(engine, "ORDER BY created DESC"));
  std::vector<ContainerRecord> out;
  for (auto& r : all) {
    BERTH_TRY(auto fresh, refresh(engine, std::move(r), true));
    if (fresh.state != "removed") out.push_back(std::move(fresh));
  }
  return out;
}

Result<ContainerRecord> refresh_container(Engine& engine, ContainerRecord record) {
  return refresh(engine, std::move(record), true);
}

Result<void> remove_container(Engine& engine, const std::string& name_or_id, bool force, bool volumes) {
  BERTH_TRY(auto found, find_container(engine, name_or_id));
  if (found.running()) {
    if (!force)
      return Error::make(ErrorKind::failed_precondition, "cannot remove container '{}': it is {}", found.name,
                         found.state)
          .with_hint("stop it first (`berth stop " + found.name + "`), or use `berth rm -f`");
    (void)sys::atomic_write(found.dir + "/" + monitor::kStopRequestFile, "", 0644, sys::Durability::process_crash);
    drain_before_stop(engine, found, std::nullopt);
    if (found.state == "restarting" && found.monitor_pid) ::kill(static_cast<pid_t>(*found.monitor_pid), SIGKILL);
    (void)runtime::kill(runtime_options(engine), found.id, SIGKILL, true);
    if (!wait_monitor_exit(found, 10'000))
      return Error::make(ErrorKind::unavailable, "container '{}' did not stop after SIGKILL", found.name);
  }
  BERTH_TRY(auto lock, lock_container(engine, found.id));
  BERTH_TRY(auto rows, query(engine, "WHERE id = ?1", found.id));
  if (rows.empty()) {
    lock.remove_file();  // removed by another `rm` while we waited
    return {};
  }
  ContainerRecord r = rows.front();
  trace::mark("rm: find and lock the container");
  if (r.running()) {
    BERTH_TRY(r, finish_exit(engine, std::move(r)));
  }
  return destroy(engine, r, volumes, lock);
}

Result<void> rename_container(Engine& engine, const std::string& name_or_id, const std::string& new_name) {
  BERTH_TRY_VOID(validate_container_name(new_name));
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  BERTH_TRY(auto stmt, engine.db.prepare("UPDATE containers SET name = ?2 WHERE id = ?1"));
  stmt.bind_all(r.id, new_name);
  if (auto renamed = stmt.run(); !renamed) {
    if (renamed.error().kind() == ErrorKind::already_exists)
      return Error::make(ErrorKind::already_exists, "the container name '{}' is already in use", new_name);
    return renamed;
  }
  auto attrs = event_attributes(r);
  attrs["oldName"] = r.name;
  attrs["name"] = new_name;
  BERTH_TRY_VOID(record_event(engine.db, "container", "rename", r.id, attrs));
  return tx.commit();
}

}  // namespace berth::engine
