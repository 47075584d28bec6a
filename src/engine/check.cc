#include "engine/check.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/sys.h"
#include "engine/containers.h"
#include "engine/detail/container_records.h"
#include "engine/events.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "engine/volumes.h"
#include "monitor/protocol.h"
#include "runtime/runtime.h"
#include "state/lock.h"
#include "state/transaction.h"

namespace berth::engine {
namespace {

// Sorted, so that the report reads the same however the file system orders a directory.

// Mount points under `prefix` (from /proc/self/mountinfo, field 5), deepest first.
std::vector<std::string> mounts_under(const std::string& prefix) {
  std::vector<std::string> out;
  auto info = sys::read_file("/proc/self/mountinfo");
  if (!info) return out;
  for (const auto& line : sys::split(*info, '\n')) {
    auto fields = sys::split(line, ' ');
    if (fields.size() > 4 && fields[4].starts_with(prefix)) out.push_back(fields[4]);
  }
  std::sort(out.rbegin(), out.rend());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Another berth command holds the object's lock: it is at work on it, leave it alone.
bool busy(const Engine& engine, std::string_view kind, const std::string& id) {
  auto lock = state::ObjectLock::acquire(engine.layout.locks(), kind, id, state::ObjectLock::Mode::exclusive,
                                         state::ObjectLock::Wait::no_wait);
  return !lock;
}

// The container's bundle: under the run root for a --rm container, else with its layer.
std::string bundle_of(const Engine& engine, const std::string& id) {
  std::string run = engine.layout.run_container(id);
  return sys::exists(run) ? run : engine.layout.container(id);
}

// A monitor (berth-monitor, or a foreground `berth run`) holds the container's monitor.lock.
bool monitor_alive(const Engine& engine, const std::string& id) {
  return detail::monitor_alive_in(bundle_of(engine, id));
}

bool in_use(const Engine& engine, const std::string& id) {
  return monitor_alive(engine, id) || busy(engine, "container", id);
}

std::string short_id(const std::string& id) { return id.substr(0, 12); }

// A `start` cut short after its monitor came up: the container runs, but its row says otherwise.
// Records it as running, as the start would have; the monitor reports its exit as usual.
Result<void> adopt_running(Engine& engine, const std::string& id, const std::string& name) {
  BERTH_TRY(auto lock, state::ObjectLock::acquire(engine.layout.locks(), "container", id,
                                                  state::ObjectLock::Mode::exclusive,
                                                  state::ObjectLock::Wait::no_wait));
  std::optional<int64_t> pid;
  if (auto text = sys::read_file(bundle_of(engine, id) + "/" + monitor::kPidFile)) {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_object() && j.value("pid", 0) > 0) pid = j.value("pid", 0);
  }
  int64_t now = clock::now_ns();
  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  BERTH_TRY(auto stmt, engine.db.prepare("UPDATE containers SET state = 'running', pid = ?2, monitor_pid = NULL, "
                                         "started = ?3, exit_code = NULL, finished = NULL, error = '' "
                                         "WHERE id = ?1 AND state IN ('created', 'exited')"));
  stmt.bind(1, id);
  if (pid) stmt.bind(2, *pid);
  stmt.bind(3, now);
  BERTH_TRY_VOID(stmt.run());
  if (engine.db.changes() == 1)
    BERTH_TRY_VOID(record_event(engine.db, "container", "start", id, {{"name", name}}, now));
  return tx.commit();
}

}  // namespace

Result<std::vector<Finding>> check_system(Engine& engine, bool repair) {
  std::vector<Finding> findings;
  auto found = [&](std::string what) { findings.push_back({std::move(what), repair}); };

  // Containers: rows whose monitor is gone, interrupted removals, interrupted starts. `live`
  // collects the containers whose mount and runtime state belong to a running monitor or to a
  // command at work.
  std::set<std::string> known, live;
  {
    struct Row {
      std::string id, name, state;
    };
    std::vector<Row> rows;
    BERTH_TRY(auto q, engine.db.prepare("SELECT id, name, state FROM containers ORDER BY id"));
    for (;;) {
      BERTH_TRY(bool row, q.step());
      if (!row) break;
      rows.push_back({q.column_text(0), q.column_text(1), q.column_text(2)});
    }
    for (const auto& [id, name, state] : rows) {
      known.insert(id);
      if (in_use(engine, id)) {
        live.insert(id);
        continue;
      }
      if (state == "removing") {
        found(fmt::format("container {}: its removal was interrupted", short_id(id)));
        if (repair) {
          auto gone = find_container(engine, id);
          if (!gone && gone.error().kind() != ErrorKind::not_found) return std::move(gone).error();
        }
      } else if (state == "running" || state == "paused" || state == "restarting") {
        found(fmt::format("container {}: its monitor is gone, its exit not recorded", short_id(id)));
        if (repair) BERTH_TRY_VOID(find_container(engine, id));
      }
    }
    // An interrupted start whose monitor runs on: only visible once nothing holds the lock.
    for (const auto& [id, name, state] : rows) {
      if (state != "created" && state != "exited") continue;
      if (!monitor_alive(engine, id) || busy(engine, "container", id)) continue;
      found(fmt::format("container {}: runs, but its start was interrupted before it was recorded", short_id(id)));
      if (repair) BERTH_TRY_VOID(adopt_running(engine, id, name));
    }
  }

  // Container directories without a row (a create or rm cut short), on disk and, for --rm
  // containers, under the run root.
  for (const auto& parent : {engine.layout.containers(), engine.layout.run_containers()}) {
    for (const auto& id : sys::list_dir(parent)) {
      if (known.count(id) || in_use(engine, id)) continue;
      std::string dir = parent + "/" + id;
      found(fmt::format("container directory {} without a container", short_id(id)));
      if (repair) {
        while (::umount2((dir + "/rootfs").c_str(), MNT_DETACH) == 0) {
        }
        BERTH_TRY_VOID(sys::remove_all(dir));
      }
    }
  }

  // Runtime state of containers that do not run (the runtime kills what is left and deletes it),
  // also state a create cut short left half-written. Dot entries are the runtime's caches.
  runtime::GlobalOptions global;
  global.root = engine.layout.runtime_root();
  for (const auto& id : sys::list_dir(global.root)) {
    if (id.starts_with(".") || live.count(id) || (known.count(id) && in_use(engine, id))) continue;
    found(fmt::format("container {}: runtime state, but nothing runs", short_id(id)));
    if (repair) {
      (void)runtime::remove(global, id, true);
      if (sys::exists(global.root + "/" + id)) BERTH_TRY_VOID(sys::remove_all(global.root + "/" + id));
    }
  }

  // Root file systems still mounted for containers that do not run (after their processes went).
  std::set<std::string> unmounted;
  for (const auto& parent : {engine.layout.containers(), engine.layout.run_containers()}) {
    for (const auto& mount : mounts_under(parent + "/")) {
      std::string rest = mount.substr(parent.size() + 1);
      std::string id = rest.substr(0, rest.find('/'));
      if (live.count(id) || in_use(engine, id)) continue;
      if (unmounted.insert(mount).second)
        found(fmt::format("container {}: its root file system is mounted but nothing runs", short_id(id)));
      if (repair) ::umount2(mount.c_str(), MNT_DETACH);
    }
  }

  // An init layer whose build was cut short (its builder, named in it, is gone).
  std::string init_tmp = engine.layout.init_layer() + ".tmp-";
  for (const auto& name : sys::list_dir(engine.layout.root)) {
    std::string path = engine.layout.root + "/" + name;
    if (!path.starts_with(init_tmp)) continue;
    pid_t builder = std::atoi(path.c_str() + init_tmp.size());
    if (builder > 0 && (::kill(builder, 0) == 0 || errno == EPERM)) continue;
    found(fmt::format("a half-built init layer ({})", name));
    if (repair) BERTH_TRY_VOID(sys::remove_all(path));
  }

  // Volume directories without a row (a create or rm cut short).
  std::set<std::string> volumes;
  BERTH_TRY(auto list, list_volumes(engine));
  for (const auto& v : list) volumes.insert(v.name);
  for (const auto& name : sys::list_dir(engine.layout.volumes())) {
    if (volumes.count(name) || busy(engine, "volume", name)) continue;
    found(fmt::format("volume directory '{}' without a volume", name));
    if (repair) BERTH_TRY_VOID(sys::remove_all(engine.layout.volume(name)));
  }

  // Half-unpacked layers, interrupted ingests and blobs no image refers to. Holding the GC lock
  // exclusively means no load, import or unpack is at work: every temporary is a leftover.
  auto gc = state::ObjectLock::acquire(engine.layout.locks(), "gc", "images", state::ObjectLock::Mode::exclusive,
                                       state::ObjectLock::Wait::no_wait);
  if (gc) {
    std::vector<std::string> leftovers;
    for (const auto& name : sys::list_dir(engine.layout.layers()))
      if (name.find(".tmp-") != std::string::npos) leftovers.push_back(engine.layout.layer(name));
    for (const auto& name : sys::list_dir(engine.layout.content() + "/ingest"))
      leftovers.push_back(engine.layout.content() + "/ingest/" + name);
    if (!leftovers.empty()) found(fmt::format("{} half-written layer or blob file(s)", leftovers.size()));
    if (repair) {
      for (const auto& path : leftovers) BERTH_TRY_VOID(sys::remove_all(path));
      BERTH_TRY(int64_t freed, collect_garbage(engine));
      if (freed > 0) found(fmt::format("{} bytes of blobs and layers that no image uses", freed));
    }
  }
  // Empty container cgroups (/berth/<id>) left by a container whose teardown was cut short. Only
  // empty ones older than a few seconds: a container's cgroup holds its processes from the moment
  // they start, so such a cgroup belongs to nothing that runs, whichever root made it.
  {
    std::vector<std::string> stale;
    int64_t now = clock::now_ns();
    for (const auto& controller : sys::list_dir("/sys/fs/cgroup")) {
      std::string parent = "/sys/fs/cgroup/" + controller + "/berth";
      for (const auto& id : sys::list_dir(parent)) {
        if (id.size() != 64 || id.find_first_not_of("0123456789abcdef") != std::string::npos) continue;
        std::string dir = parent + "/" + id;
        struct stat st;
        if (::stat(dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) continue;
        int64_t age = now - (static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec);
        auto procs = sys::read_file(dir + "/cgroup.procs");
        if (age < 5'000'000'000 || !procs || !procs->empty()) continue;
        stale.push_back(dir);
      }
    }
    if (!stale.empty()) found(fmt::format("{} empty container cgroup(s) left behind", stale.size()));
    if (repair)
      for (const auto& dir : stale) ::rmdir(dir.c_str());
  }
  // Network wiring of containers that no longer run (a crash between exit and cleanup).
  BERTH_TRY(auto network_findings, check_networks(engine, repair));
  for (auto& what : network_findings) found(std::move(what));
  return findings;
}

}  // namespace berth::engine
