// engine/detail/networks.h — what networks.cc and network_dns.cc share: network records from the
// database, and the names berth-dns answers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "engine/networks.h"

namespace berth::engine::detail {

// Networks matching a SQL `where` clause on `networks n` (?1 bound to `arg`).
Result<std::vector<NetworkRecord>> query_networks(Engine& engine, std::string_view where, const std::string& arg = {});
// By name, id or unique id prefix; not_found with a hint when there is none.
Result<NetworkRecord> find_existing(Engine& engine, std::string_view name_or_id);
// An endpoint's aliases column (a JSON array).
std::vector<std::string> parse_aliases(const std::string& json);

// The names file of one network, of every network, or of the networks near a container (its own
// and those that show their names).
Result<void> write_dns_names(Engine& engine, const NetworkRecord& n);
Result<void> write_all_dns_names(Engine& engine);
Result<void> write_dns_names_near(Engine& engine, const std::string& container_id);
// Starts the network's berth-dns unless one runs; waits until it listens.
Result<void> ensure_dns(Engine& engine, const NetworkRecord& n);

}  // namespace berth::engine::detail
