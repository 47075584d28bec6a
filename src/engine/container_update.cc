// engine/container_update.cc — see container_update.h.
#include "engine/container_update.h"

#include <cmath>
#include <set>

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

// The cgroup knobs an update writes (only those it changes; `c` is the updated config).
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
  ContainerConfig tuning;
  tuning.cpu_shares = u.cpu_shares;
  tuning.cpuset_cpus = u.cpuset_cpus.value_or("");
  tuning.cpuset_mems = u.cpuset_mems.value_or("");
  tuning.memory_swap = u.memory_swap;
  tuning.blkio_weight = u.blkio_weight;
  // v1 orders memory and memsw writes by the new values; v2 derives swap.max from both.
  if (u.memory_swap) tuning.memory = c.memory;
  add_tuning(tuning, r);
  return r;
}

template <typename T>
void merge_field(std::optional<T>& into, const std::optional<T>& from) {
  if (from) into = from;
}

// The bundle's config.json carries the limits into the next start: each knob changed replaces
// its own value only (new CPU shares keep the quota).
Result<void> update_bundle(const ContainerRecord& r, const oci::Resources& changed) {
  std::string path = r.dir + "/config.json";
  BERTH_TRY(auto spec, oci::load_spec(path));
  auto& res = spec.linux.resources;
  if (!res) res = oci::Resources{};
  if (changed.memory) {
    if (!res->memory) res->memory = oci::Memory{};
    merge_field(res->memory->limit, changed.memory->limit);
    merge_field(res->memory->swap, changed.memory->swap);
  }
  if (changed.cpu) {
    if (!res->cpu) res->cpu = oci::Cpu{};
    merge_field(res->cpu->quota, changed.cpu->quota);
    merge_field(res->cpu->period, changed.cpu->period);
    merge_field(res->cpu->shares, changed.cpu->shares);
    if (!changed.cpu->cpus.empty()) res->cpu->cpus = changed.cpu->cpus;
    if (!changed.cpu->mems.empty()) res->cpu->mems = changed.cpu->mems;
  }
  if (changed.block_io) {
    if (!res->block_io) res->block_io = oci::BlockIo{};
    merge_field(res->block_io->weight, changed.block_io->weight);
  }
  if (changed.pids_limit) res->pids_limit = *changed.pids_limit > 0 ? changed.pids_limit : std::nullopt;
  return sys::atomic_write(path, oci::to_json(spec), 0600, sys::Durability::process_crash);
}

// dockerd's checks, with its words: a swap limit is memory plus swap, so never below the memory.
Result<void> check_memory_swap(const ContainerUpdate& u, const ContainerConfig& before) {
  std::optional<int64_t> memory = u.memory ? u.memory : before.memory;
  if (u.memory_swap && *u.memory_swap != -1) {
    if (!memory)
      return Error(ErrorKind::invalid_argument,
                   "You should always set the Memory limit when using Memoryswap limit, see usage");
    if (*u.memory_swap < *memory)
      return Error::make(ErrorKind::invalid_argument,
                         "Minimum memoryswap limit should be larger than memory limit, see usage (memory {}, "
                         "memoryswap {})", *memory, *u.memory_swap);
  }
  if (u.memory && !u.memory_swap && before.memory_swap && *before.memory_swap > 0 && *u.memory > *before.memory_swap)
    return Error(ErrorKind::invalid_argument,
                 "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at "
                 "the same time");
  return {};
}

// "0-2,5" as the numbers it names; nullopt when malformed.
std::optional<std::set<int>> parse_cpuset(std::string_view list) {
  std::set<int> out;
  if (list.empty()) return std::nullopt;
  for (const auto& part : sys::split(list, ',')) {
    auto dash = part.find('-');
    char* end = nullptr;
    long first = std::strtol(part.c_str(), &end, 10);
    if (end == part.c_str() || (dash == std::string::npos ? *end != '\0' : end != part.c_str() + dash)) return std::nullopt;
    long last = first;
    if (dash != std::string::npos) {
      const char* tail = part.c_str() + dash + 1;
      last = std::strtol(tail, &end, 10);
      if (end == tail || *end) return std::nullopt;
    }
    if (first < 0 || last < first || last > 65535) return std::nullopt;
    for (long i = first; i <= last; ++i) out.insert(static_cast<int>(i));
  }
  return out;
}

// dockerd's check and words: every CPU (memory node) asked for is online on this host.
Result<void> check_cpuset(const std::optional<std::string>& wanted, const char* what, const std::string& online_file) {
  if (!wanted) return {};
  auto asked = parse_cpuset(*wanted);
  if (!asked) return Error::make(ErrorKind::invalid_argument, "Invalid value {} for cpuset {}", *wanted, what);
  auto online_text = sys::read_file(online_file);
  if (!online_text) return {};  // nothing to check against: the kernel judges
  std::string online = *online_text;
  while (!online.empty() && (online.back() == '\n' || online.back() == ' ')) online.pop_back();
  auto available = parse_cpuset(online);
  if (!available) return {};
  for (int n : *asked)
    if (!available->count(n))
      return Error::make(ErrorKind::invalid_argument, "Requested {} are not available - requested {}, available: {}",
                         what, *wanted, online);
  return {};
}

}  // namespace

void add_tuning(const ContainerConfig& c, oci::Resources& r) {
  if (c.cpu_shares || !c.cpuset_cpus.empty() || !c.cpuset_mems.empty()) {
    if (!r.cpu) r.cpu = oci::Cpu{};
    if (c.cpu_shares) r.cpu->shares = static_cast<uint64_t>(*c.cpu_shares);
    r.cpu->cpus = c.cpuset_cpus;
    r.cpu->mems = c.cpuset_mems;
  }
  if (c.memory_swap) {
    if (!r.memory) r.memory = oci::Memory{};
    r.memory->swap = *c.memory_swap;
    if (c.memory) r.memory->limit = *c.memory;
  }
  if (c.blkio_weight) {
    r.block_io = oci::BlockIo{};
    r.block_io->weight = static_cast<uint16_t>(*c.blkio_weight);
  }
}

namespace {

}  // namespace

Result<ContainerRecord> update_container(Engine& engine, const std::string& name_or_id, const ContainerUpdate& u) {
  if (u.memory && *u.memory < kMinMemory)
    return Error::make(ErrorKind::invalid_argument, "Minimum memory limit allowed is 6MB (memory {})", *u.memory);
  if (u.cpus && !(*u.cpus > 0))
    return Error::make(ErrorKind::invalid_argument, "cpus {}: give a positive number such as 0.5", *u.cpus);
  if (u.restart) BERTH_TRY_VOID(monitor::RestartPolicy::parse(*u.restart).context("restart policy"));
  if (u.cpu_shares && (*u.cpu_shares < 2 || *u.cpu_shares > 262144))
    return Error::make(ErrorKind::invalid_argument, "cpu shares {}: give a weight from 2 to 262144 (1024 is the default)",
                       *u.cpu_shares);
  if (u.blkio_weight && (*u.blkio_weight < 10 || *u.blkio_weight > 1000))
    return Error::make(ErrorKind::invalid_argument, "Range of blkio weight is from 10 to 1000 (blkio weight {})",
                       *u.blkio_weight);
  BERTH_TRY_VOID(check_cpuset(u.cpuset_cpus, "CPUs", "/sys/devices/system/cpu/online"));
  BERTH_TRY_VOID(check_cpuset(u.cpuset_mems, "memory nodes", "/sys/devices/system/node/online"));
  if (u.memory_swap && *u.memory_swap < -1)
    return Error::make(ErrorKind::invalid_argument, "memory swap {}: give bytes, or -1 for no limit", *u.memory_swap);
  BERTH_TRY(auto found, find_container(engine, name_or_id));
  BERTH_TRY(auto lock, lock_container(engine, found.id));
  BERTH_TRY(auto r, find_container(engine, found.id));
  if (u.restart && *u.restart != "no" && r.config.auto_remove)
    return Error(ErrorKind::failed_precondition,
                 "Restart policy cannot be updated because AutoRemove is enabled for the container");
  ContainerConfig& c = r.config;
  BERTH_TRY_VOID(check_memory_swap(u, c));
  if (u.memory) c.memory = *u.memory;
  if (u.cpu_shares) c.cpu_shares = *u.cpu_shares;
  if (u.cpuset_cpus) c.cpuset_cpus = *u.cpuset_cpus;
  if (u.cpuset_mems) c.cpuset_mems = *u.cpuset_mems;
  if (u.memory_swap) c.memory_swap = *u.memory_swap;
  if (u.blkio_weight) c.blkio_weight = *u.blkio_weight;
  if (u.cpus) c.cpus = *u.cpus;
  if (u.pids_limit) c.pids_limit = *u.pids_limit;
  if (u.restart) c.restart = *u.restart;
  auto changed = resources_of(u, c);
  // The running cgroup first: a limit the kernel refuses (memory below what is in use) changes
  // nothing.
  if (r.running() && (changed.memory || changed.cpu || changed.pids_limit || changed.block_io))
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
