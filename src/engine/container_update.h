// engine/container_update.h — docker update: a container's limits and restart policy, changed
// in its record and bundle, and at once in the cgroup and monitor of a running one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/error.h"
#include "engine/containers.h"
#include "oci/runtime_spec.h"

namespace berth::engine {

// Each field set is changed; the others are kept.
struct ContainerUpdate {
  std::optional<int64_t> memory;       // bytes, at least 6 MiB (docker's minimum)
  std::optional<double> cpus;          // CPUs' worth of time, > 0
  std::optional<int64_t> pids_limit;   // 0 or less: no limit
  std::optional<std::string> restart;  // no, on-failure[:N], always, unless-stopped
  std::optional<int64_t> cpu_shares;   // 2..262144
  std::optional<std::string> cpuset_cpus, cpuset_mems;  // "0-1,3"
  std::optional<int64_t> memory_swap;  // memory + swap, at least the memory limit; -1: no limit
  std::optional<int64_t> blkio_weight;  // 10..1000
};

// The finer knobs a container's config sets (CPU shares, cpusets, swap, block I/O weight) as
// OCI resources, added to `r` (its memory limit is needed for a swap limit on cgroup v2).
void add_tuning(const ContainerConfig& c, oci::Resources& r);

// Refuses a restart policy on an --rm container, as docker does.
Result<ContainerRecord> update_container(Engine& engine, const std::string& name_or_id, const ContainerUpdate& update);

}  // namespace berth::engine
