#include "engine/check.h"

#include <dirent.h>
#include <sys/mount.h>
#include <unistd.h>

#include <set>

#include "base/sys.h"
#include "engine/containers.h"
#include "engine/images.h"
#include "engine/volumes.h"
#include "runtime/runtime.h"
#include "state/lock.h"

namespace berth::engine {
namespace {

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") names.push_back(e->d_name);
    ::closedir(d);
  }
  return names;
}

// Mount points under `prefix` (from /proc/self/mountinfo, field 5).
std::vector<std::string> mounts_under(const std::string& prefix) {
  std::vector<std::string> out;
  auto info = sys::read_file("/proc/self/mountinfo");
  if (!info) return out;
  for (const auto& line : sys::split(*info, '\n')) {
    auto fields = sys::split(line, ' ');
    if (fields.size() > 4 && fields[4].starts_with(prefix)) out.push_back(fields[4]);
  }
  return out;
}

bool busy(const Engine& engine, std::string_view kind, const std::string& id) {
  auto lock = state::ObjectLock::acquire(engine.layout.locks(), kind, id, state::ObjectLock::Mode::exclusive,
                                         state::ObjectLock::Wait::no_wait);
  return !lock;
}

std::string short_id(const std::string& id) { return id.substr(0, 12); }

}  // namespace

Result<std::vector<Finding>> check_system(Engine& engine, bool repair) {
  std::vector<Finding> findings;
  auto found = [&](std::string what, bool repaired) { findings.push_back({std::move(what), repaired}); };

  // Containers: bring every row up to date (dead monitors, interrupted removals).
  std::set<std::string> known, live;
  {
    BERTH_TRY(auto q, engine.db.prepare("SELECT id, state FROM containers"));
    std::vector<std::pair<std::string, std::string>> rows;
    for (;;) {
      BERTH_TRY(bool row, q.step());
      if (!row) break;
      rows.push_back({q.column_text(0), q.column_text(1)});
    }
    for (const auto& [id, state] : rows) {
      known.insert(id);
      if (state != "running" && state != "paused" && state != "restarting" && state != "removing") continue;
      if (!repair) {
        found(fmt::format("container {}: state '{}' to verify", short_id(id), state), false);
        continue;
      }
      auto fresh = find_container(engine, id);
      if (!fresh) {
        if (fresh.error().kind() == ErrorKind::not_found) {
          found(fmt::format("container {}: an interrupted removal was finished", short_id(id)), true);
          known.erase(id);
        } else {
          return std::move(fresh).error();
        }
      } else if (fresh->running()) {
        live.insert(id);
      } else if (fresh->state != state) {
        found(fmt::format("container {}: its monitor was gone; recorded as {}", short_id(id), fresh->state), true);
      }
    }
  }

  // Container directories without a row (a create or rm cut short).
  for (const auto& id : entries(engine.layout.containers())) {
    if (known.count(id) || busy(engine, "container", id)) continue;
    std::string dir = engine.layout.container(id);
    found(fmt::format("container directory {} has no container", short_id(id)), repair);
    if (repair) {
      ::umount2((dir + "/rootfs").c_str(), MNT_DETACH);
      BERTH_TRY_VOID(sys::remove_all(dir));
    }
  }

  // Root file systems still mounted for containers that do not run.
  for (const auto& mount : mounts_under(engine.layout.containers() + "/")) {
    std::string rest = mount.substr(engine.layout.containers().size() + 1);
    std::string id = rest.substr(0, rest.find('/'));
    if (live.count(id) || busy(engine, "container", id)) continue;
    found(fmt::format("container {}: a stray mount at {}", short_id(id), mount), repair);
    if (repair) ::umount2(mount.c_str(), MNT_DETACH);
  }

  // Runtime state of containers that do not run (the runtime kills and deletes them).
  runtime::GlobalOptions global;
  global.root = engine.layout.runtime_root();
  for (const auto& entry : runtime::list(global)) {
    const std::string& id = entry.record.id;
    if (live.count(id) || busy(engine, "container", id)) continue;
    found(fmt::format("container {}: stray runtime state ({})", short_id(id), runtime::status_name(entry.status)), repair);
    if (repair) (void)runtime::remove(global, id, true);
  }

  // Volume directories without a row.
  std::set<std::string> volumes;
  BERTH_TRY(auto list, list_volumes(engine));
  for (const auto& v : list) volumes.insert(v.name);
  for (const auto& name : entries(engine.layout.volumes())) {
    if (volumes.count(name) || busy(engine, "volume", name)) continue;
    found(fmt::format("volume directory '{}' has no volume", name), repair);
    if (repair) BERTH_TRY_VOID(sys::remove_all(engine.layout.volume(name)));
  }

  // Half-unpacked layers, interrupted ingests and blobs no image refers to.
  {
    auto gc = state::ObjectLock::acquire(engine.layout.locks(), "gc", "images", state::ObjectLock::Mode::exclusive,
                                         state::ObjectLock::Wait::no_wait);
    if (gc) {
      int leftovers = 0;
      for (const auto& name : entries(engine.layout.layers()))
        if (name.find(".tmp-") != std::string::npos) ++leftovers;
      for ([[maybe_unused]] const auto& name : entries(engine.layout.content() + "/ingest")) ++leftovers;
      if (leftovers) found(fmt::format("{} half-written layer or blob file(s)", leftovers), repair);
      if (repair) {
        BERTH_TRY(int64_t freed, collect_garbage(engine));
        if (freed > 0 && !leftovers) found(fmt::format("{} bytes of blobs and layers no image uses", freed), true);
      }
    }
  }
  return findings;
}

}  // namespace berth::engine
