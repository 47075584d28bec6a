// engine/container_update.cc — see container_update.h.
#include "engine/container_update.h"

#include <cmath>

#include "base/sys.h"
#include "engine/detail/container_records.h"
#include "engine/events.h"
#include "monitor/protocol.h"
#include "monitor/restart_policy.h"
#include "oci/runtime_spec.h"
#include "runtime/runtime.h"
#include "state/transaction.h"

namespace berth::engine {

using namespace detail;

namespace {

constexpr int64_t kMinMemory = 6 << 20;

// The cgroup knobs an update writes (only those it changes).
oci::Resources resources_of(const ContainerUpdate& u, const ContainerConfig& c) {
  oci::Resources r;
  if (u.memory) {
    r.memory = oci::Memory{};
    r.memory->limit = *u.memory;
  }
  if (u.cpus) {
    r.cpu = oci::Cpu{};
    r.cpu->period = 100000;
    r.cpu->quota = static_cast<int64_t>(std::llround(*u.cpus * 100000));
  }
  if (u.pids_limit) r.pids_limit = effective_pids_limit(c.pids_limit).value_or(0);
  return r;
}

// The bundle's config.json carries the limits into the next start.
Result<void> update_bundle(const ContainerRecord& r, const oci::Resources& changed) {
  std::string path = r.dir + "/config.json";
  BERTH_TRY(auto spec, oci::load_spec(path));
  auto& res = spec.linux.resources;
  if (!res) res = oci::Resources{};
  if (changed.memory) res->memory = changed.memory;
  if (changed.cpu) res->cpu = changed.cpu;
  if (changed.pids_limit) res->pids_limit = *changed.pids_limit > 0 ? changed.pids_limit : std::nullopt;
  return sys::atomic_write(path, oci::to_json(spec), 0600, sys::Durability::process_crash);
}

}  // namespace

Result<ContainerRecord> update_container(Engine& engine, const std::string& name_or_id, const ContainerUpdate& u) {
  if (u.memory && *u.memory < kMinMemory)
    return Error::make(ErrorKind::invalid_argument, "Minimum memory limit allowed is 6MB (memory {})", *u.memory);
  if (u.cpus && !(*u.cpus > 0))
    return Error::make(ErrorKind::invalid_argument, "cpus {}: give a positive number such as 0.5", *u.cpus);
  if (u.restart) BERTH_TRY_VOID(monitor::RestartPolicy::parse(*u.restart).context("restart policy"));
  BERTH_TRY(auto found, find_container(engine, name_or_id));
  BERTH_TRY(auto lock, lock_container(engine, found.id));
  BERTH_TRY(auto r, find_container(engine, found.id));
  if (u.restart && *u.restart != "no" && r.config.auto_remove)
    return Error(ErrorKind::failed_precondition,
                 "Restart policy cannot be updated because AutoRemove is enabled for the container");
  ContainerConfig& c = r.config;
  if (u.memory) c.memory = *u.memory;
  if (u.cpus) c.cpus = *u.cpus;
  if (u.pids_limit) c.pids_limit = *u.pids_limit;
  if (u.restart) c.restart = *u.restart;
  auto changed = resources_of(u, c);
  // The running cgroup first: a limit the kernel refuses (memory below what is in use) changes
  // nothing.
  if (r.running() && (changed.memory || changed.cpu || changed.pids_limit))
    BERTH_TRY_VOID(runtime::update(runtime_options(engine), r.id, changed).context(fmt::format("update container '{}'", r.name)));
  BERTH_TRY_VOID(update_bundle(r, changed));
  if (u.restart && r.running())
    BERTH_TRY_VOID(sys::atomic_write(r.dir + "/" + monitor::kRestartPolicyFile, *u.restart, 0644,
                                     sys::Durability::process_crash));
  BERTH_TRY(auto tx, state::Transaction::begin(engine.db));
  BERTH_TRY(auto stmt, engine.db.prepare("UPDATE containers SET config = ?2 WHERE id = ?1"));
  stmt.bind_all(r.id, to_json(c));
  BERTH_TRY_VOID(stmt.run());
  BERTH_TRY_VOID(record_event(engine.db, "container", "update", r.id, event_attributes(r)));
  BERTH_TRY_VOID(tx.commit());
  return r;
}

}  // namespace berth::engine
