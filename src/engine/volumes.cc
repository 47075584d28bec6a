#include "engine/volumes.h"

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/sys.h"
#include "engine/detail/crash_point.h"
#include "engine/events.h"
#include "engine/images.h"
#include "state/lock.h"
#include "state/transaction.h"

namespace berth::engine {
namespace {

constexpr const char* kAnonymousLabel = "berth.anonymous";

Result<std::vector<VolumeRecord>> query(Engine& engine, std::string_view where, const std::string& arg) {
  BERTH_TRY(auto q, engine.db.prepare(std::string(
      "SELECT v.name, v.driver, v.labels, v.options, v.created, "
      "(SELECT group_concat(container_id, char(10)) FROM container_volumes cv WHERE cv.volume_name = v.name) "
      "FROM volumes v ") + std::string(where)));
  if (!arg.empty()) q.bind(1, arg);
  std::vector<VolumeRecord> volumes;
  for (;;) {
    BERTH_TRY(bool row, q.step());
    if (!row) break;
    VolumeRecord v;
    v.name = q.column_text(0);
    v.driver = q.column_text(1);
    auto labels = nlohmann::json::parse(q.column_text(2), nullptr, false);
    if (labels.is_object()) v.labels = labels.get<std::map<std::string, std::string>>();
    auto options = nlohmann::json::parse(q.column_text(3), nullptr, false);
    if (options.is_object()) v.options = options.get<std::map<std::string, std::string>>();
    v.created = q.column_int64(4);
    v.mountpoint = engine.layout.volume_data(v.name);
    if (auto users = q.column_optional_text(5); users && !users->empty()) v.containers = sys::split(*users, '\n');
    v.anonymous = v.labels.count(kAnonymousLabel) > 0;
    volumes.push_back(std::move(v));
  }
  return volumes;
}

}  // namespace

Result<void> validate_volume_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 255 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char ch : name) ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-');
  if (!ok)
    return Error::make(ErrorKind::invalid_argument,
                       "volume name '{}': use letters, digits, '_', '.' and '-', starting with a letter or digit",
                       name);
  return {};
}

Result<VolumeRecord> create_volume(Engine& engine, std::string name, const std::map<std::string, std::string>& labels,
                                   const std::map<std::string, std::string>& options) {
  auto all_labels = labels;
  if (name.empty()) {
    name = sys::random_hex(32);
    all_labels[kAnonymousLabel] = "true";
  }
  BERTH_TRY_VOID(validate_volume_name(name));
  for (const auto& [key, value] : options)
    return Error::make(ErrorKind::invalid_argument, "volume option '{}': the local driver takes no options", key);
  auto lock = state::ObjectLock::acquire(engine.layout.locks(), "volume", name, state::ObjectLock::Mode::exclusive);
  if (!lock) return std::move(lock).error();
  BERTH_TRY(auto existing, query(engine, "WHERE v.name = ?1", name));
  if (!existing.empty()) return existing.front();
  // The directory first: a crash leaves a directory without a row, which `system check` removes;
  // never a row without its directory.
  std::string data = engine.layout.volume_data(name);
  BERTH_TRY_VOID(sys::mkdir_all(data, 0755));
  detail::crash_point("volume-create:after-dir");
  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  BERTH_TRY(auto insert, engine.db.prepare("INSERT INTO volumes(name, driver, labels, options, created) "
                                           "VALUES (?1, 'local', ?2, ?3, ?4)"));
  insert.bind_all(name, nlohmann::json(all_labels).dump(), nlohmann::json(options).dump(), clock::now_ns());
  BERTH_TRY_VOID(insert.run());
  BERTH_TRY_VOID(record_event(engine.db, "volume", "create", name, {{"driver", "local"}}));
  BERTH_TRY_VOID(tx.commit());
  return get_volume(engine, name);
}

Result<VolumeRecord> get_volume(Engine& engine, const std::string& name) {
  BERTH_TRY(auto found, query(engine, "WHERE v.name = ?1", name));
  if (found.empty())
    return Error::make(ErrorKind::not_found, "volume '{}' not found", name).with_hint("see `berth volume ls`");
  return found.front();
}

Result<std::vector<VolumeRecord>> list_volumes(Engine& engine) { return query(engine, "ORDER BY v.name", ""); }

Result<void> remove_volume(Engine& engine, const std::string& name, bool force) {
  BERTH_TRY(auto lock, state::ObjectLock::acquire(engine.layout.locks(), "volume", name,
                                                  state::ObjectLock::Mode::exclusive));
  BERTH_TRY(auto volume, get_volume(engine, name));
  if (!volume.containers.empty())
    return Error::make(ErrorKind::failed_precondition, "volume '{}' is in use by {} container(s): {}", name,
                       volume.containers.size(), volume.containers.front().substr(0, 12))
        .with_hint("remove those containers first (`berth rm`)");
  // The row goes first (in a transaction that also checks no container took it meanwhile),
  // then the files: a crash in between leaves a directory without a row for `system check`.
  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  BERTH_TRY(auto del, engine.db.prepare("DELETE FROM volumes WHERE name = ?1 AND NOT EXISTS "
                                        "(SELECT 1 FROM container_volumes WHERE volume_name = ?1)"));
  del.bind(1, name);
  BERTH_TRY_VOID(del.run());
  if (engine.db.changes() == 0)
    return Error::make(ErrorKind::failed_precondition, "volume '{}' was just taken by a container", name);
  BERTH_TRY_VOID(record_event(engine.db, "volume", "destroy", name, {}));
  BERTH_TRY_VOID(tx.commit());
  (void)force;
  detail::crash_point("volume-rm:after-row");
  return sys::remove_all(engine.layout.volume(name));
}

Result<std::vector<std::string>> prune_volumes(Engine& engine, bool all, int64_t* reclaimed) {
  BERTH_TRY(auto volumes, list_volumes(engine));
  std::vector<std::string> removed;
  for (const auto& v : volumes) {
    if (!v.containers.empty() || (!all && !v.anonymous)) continue;
    int64_t size = disk_usage(v.mountpoint);
    auto r = remove_volume(engine, v.name);
    if (!r) {
      if (r.error().kind() == ErrorKind::failed_precondition) continue;
      return std::move(r).error();
    }
    if (reclaimed) *reclaimed += size;
    removed.push_back(v.name);
  }
  return removed;
}

}  // namespace berth::engine
