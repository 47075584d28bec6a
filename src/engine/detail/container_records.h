// engine/detail/container_records.h — what the container files share (containers.cc: records,
// create, rm; container_lifecycle.cc: start, run, stop; container_inspect.cc: exec, logs, stats,
// cp, inspect): the rows of berth.db, their locks, and the steps that finish a container's life.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "engine/containers.h"
#include "runtime/runtime.h"
#include "state/lock.h"

namespace berth::engine::detail {

// Containers matching `where` (an SQL tail, "WHERE id = ?1"), ?1 bound to `arg` if not empty.
Result<std::vector<ContainerRecord>> query(Engine& engine, std::string_view where, const std::string& arg = {});
Error not_found(std::string_view name);
Result<state::ObjectLock> lock_container(Engine& engine, const std::string& id);
runtime::GlobalOptions runtime_options(const Engine& engine);
// Sets r.dir and r.layer_dir from r.id and r.config.short_lived().
void place_files(const Engine& engine, ContainerRecord& r);
std::string rootfs_of(const ContainerRecord& r);
std::string cgroups_path_of(const std::string& id);
// True while a monitor (berth-monitor, or a foreground `berth run`) holds the container's lock.
bool monitor_alive(const ContainerRecord& r);
// The same for the container directory `dir` (one without a row: `system check`).
bool monitor_alive_in(const std::string& dir);
// Waits up to timeout_ms for the monitor to exit; true if it did.
bool wait_monitor_exit(const ContainerRecord& r, int64_t timeout_ms);
// Runs `sql` with ?1 bound to the container id.
Result<void> update(Engine& engine, std::string_view sql, const std::string& id);
std::map<std::string, std::string> event_attributes(const ContainerRecord& r);
void unmount_rootfs(const ContainerRecord& r);
// Records what the dead monitor left in exit.json: state exited, die (and oom) events. With
// `then_remove` (a --rm container, whose lock the caller holds) the state is `removing`
// instead, in the same commit: destroy(..., Marked::yes) follows.
Result<ContainerRecord> finish_exit(Engine& engine, ContainerRecord r, bool then_remove = false);
// Deletes what is left of a container: runtime state, mount, files, row, anonymous volumes, and
// the file of `lock` (the container's, held by the caller). Marked::yes: finish_exit already
// marked it `removing` and released its runtime state, mount and network.
enum class Marked { no, yes };
Result<void> destroy(Engine& engine, const ContainerRecord& r, bool volumes, state::ObjectLock& lock,
                     Marked marked = Marked::no);
// Reads the monitor's health.json; records a health_status event when the status changed.
Result<void> note_health(Engine& engine, ContainerRecord& r);
// Brings a row up to date with what its monitor left; `auto_remove` removes finished --rm ones.
Result<ContainerRecord> refresh(Engine& engine, ContainerRecord r, bool auto_remove);
// /etc/hosts and /etc/resolv.conf, written at each start.
Result<void> write_etc_files(Engine& engine, const ContainerRecord& r);
Result<void> mount_rootfs(Engine& engine, const ContainerRecord& r);
void parse_signal_or(std::string_view text, int fallback, int& out);

}  // namespace berth::engine::detail
