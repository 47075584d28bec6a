// The names containers resolve: the files berth-dns answers from (a network's running containers,
// their aliases when healthy), starting a network's berth-dns, and a container's /etc/hosts and
// /etc/resolv.conf.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/process.h"
#include "base/sys.h"
#include "engine/detail/networks.h"
#include "engine/networks.h"
#include "monitor/protocol.h"
#include "state/lock.h"

namespace berth::engine {
namespace {

// Whether a container with a health check last reported healthy (its monitor's health.json).
bool healthy(Engine& engine, const std::string& id, bool short_lived) {
  std::string dir = short_lived ? engine.layout.run_container(id) : engine.layout.container(id);
  auto text = sys::read_file(dir + "/" + monitor::kHealthFile);
  if (!text) return false;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  return j.is_object() && j.value("Status", "") == "healthy";
}

std::string host_resolv_conf() {
  auto text = sys::read_file("/etc/resolv.conf");
  return text ? *text : std::string();
}

// The search and options lines of the host's resolv.conf: names keep resolving as on the host.
std::string host_search_lines() {
  std::string out;
  for (const auto& line : sys::split(host_resolv_conf(), '\n'))
    if (line.starts_with("search ") || line.starts_with("domain ") || line.starts_with("options ")) out += line + "\n";
  return out;
}

}  // namespace

namespace detail {

// The names berth-dns answers on a network: each running container's name, short id and aliases.
// A container on several networks asks its first network's responder only, so that responder
// also knows the names of the networks its containers share with others (at their addresses
// there; a container on this network as well keeps this network's address).
Result<void> write_dns_names(Engine& engine, const NetworkRecord& n) {
  // Read and write under one lock: concurrent berths shared "names.tmp" (a rename failed), and an
  // older read could be renamed over a newer one (stale names). The last to lock reads the latest.
  BERTH_TRY(auto lock, state::ObjectLock::acquire(engine.layout.locks(), "network_names", n.id,
                                                  state::ObjectLock::Mode::exclusive));
  BERTH_TRY(auto q, engine.db.prepare(
      "SELECT c.name, c.id, e.ip, e.aliases, json_array_length(c.config, '$.healthCommand'), "
      "(json_extract(c.config, '$.autoRemove') OR json_extract(c.config, '$.ephemeral')) FROM endpoints e JOIN containers c ON c.id = e.container_id "
      "WHERE e.active = 1 AND (e.network_id = ?1 OR (e.network_id IN (SELECT other.network_id FROM endpoints "
      "here JOIN endpoints other ON other.container_id = here.container_id WHERE here.network_id = ?1 AND "
      "here.active = 1) AND NOT EXISTS (SELECT 1 FROM endpoints mine WHERE mine.container_id = e.container_id "
      "AND mine.network_id = ?1))) ORDER BY c.created"));
  q.bind(1, n.id);
  std::string names;
  for (;;) {
    BERTH_TRY(bool row, q.step());
    if (!row) break;
    std::string ip = q.column_text(2);
    std::string id = q.column_text(1);
    names += fmt::format("{} {}\n{} {}\n", q.column_text(0), ip, id.substr(0, 12), ip);
    // A service name (an alias) answers with healthy instances only: one whose check is still
    // starting or failing gets no traffic. Its own name and id still resolve.
    if (q.column_int64(4) > 0 && !healthy(engine, id, q.column_int64(5) != 0)) continue;
    for (const auto& alias : parse_aliases(q.column_text(3))) names += fmt::format("{} {}\n", alias, ip);
  }
  std::string path = engine.layout.dns_names(n.id);
  // Without containers the file is emptied, not removed: berth-dns then exits after its
  // --idle-exit (10 s), so back-to-back `run --rm`s on an empty network find it running instead
  // of each spawning one and waiting for it (bench/net.sh: 6 ms a run, 39 ms under load). It
  // goes at once when the network's directory does (network rm, system reset).
  if (names.empty() && !sys::exists(path)) return {};
  BERTH_TRY_VOID(sys::mkdir_all(engine.layout.network_run(n.id), 0755));
  return sys::atomic_write(path, names, 0644, sys::Durability::process_crash);
}

// Every network's names (after a disconnect, and in `system check`).
Result<void> write_all_dns_names(Engine& engine) {
  BERTH_TRY(auto all, query_networks(engine, ""));
  for (const auto& n : all) BERTH_TRY_VOID(write_dns_names(engine, n));
  return {};
}

// After a container starts or stops: the names of its networks, and of the networks that show
// their names (those sharing a running container with them). Usually one file.
Result<void> write_dns_names_near(Engine& engine, const std::string& container_id) {
  BERTH_TRY(auto q, engine.db.prepare(
      "SELECT DISTINCT other.network_id FROM endpoints mine JOIN endpoints here ON here.network_id = "
      "mine.network_id JOIN endpoints other ON other.container_id = here.container_id WHERE mine.container_id = ?1 "
      "AND (here.active = 1 OR here.container_id = ?1)"));
  q.bind(1, container_id);
  std::vector<std::string> ids;
  for (;;) {
    BERTH_TRY(bool row, q.step());
    if (!row) break;
    ids.push_back(q.column_text(0));
  }
  q.reset();
  for (const auto& id : ids) {
    BERTH_TRY(auto n, find_existing(engine, id));
    BERTH_TRY_VOID(write_dns_names(engine, n));
  }
  return {};
}

// Starts the network's berth-dns unless one holds its lock; waits until it listens.
Result<void> ensure_dns(Engine& engine, const NetworkRecord& n) {
  if (!sys::exists(engine.programs.dns)) {
    log::debug(fmt::format("{} is missing: containers on '{}' resolve no names", engine.programs.dns, n.name));
    return {};
  }
  std::string lock_path = engine.layout.dns_lock(n.id);
  {
    BERTH_TRY(auto fd, sys::open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0) return {};  // running
  }
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) < 0) return Error::from_errno("pipe");
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  std::vector<std::string> argv = {engine.programs.dns, "--listen", n.gateway, "--names", engine.layout.dns_names(n.id),
                                   "--lock", lock_path, "--ready-fd", "3"};
  // An --internal network has no way out, not even by relayed DNS queries: names of other
  // containers only (others are REFUSED).
  if (n.internal) argv.insert(argv.end(), {"--resolv-conf", ""});
  // Through a short-lived middle process, so that berth-dns is init's child: a foreground
  // `berth run` (which reaps its own children as the container's monitor) never holds a zombie.
  pid_t middle = ::fork();
  if (middle < 0) return Error::from_errno("fork");
  if (middle == 0) _exit(proc::spawn_detached(argv, engine.layout.network_run(n.id) + "/dns.log", ready_w.get()) ? 0 : 1);
  int status = 0;
  while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  ready_w.reset();
  // One byte once it listens; EOF when it exits first (another one won the lock: fine).
  char byte;
  while (::read(ready_r.get(), &byte, 1) < 0 && errno == EINTR) {
  }
  return {};
}

}  // namespace detail

using namespace detail;

Result<std::string> hosts_file_for(Engine& engine, const std::string& container_id, const ContainerConfig& config,
                                   const std::string& hostname) {
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  if (config.network == "host") {
    if (auto host = sys::read_file("/etc/hosts")) hosts = *host;
  }
  BERTH_TRY(auto endpoints, container_endpoints(engine, container_id));
  if (!endpoints.empty()) hosts += endpoints.front().ip + "\t" + hostname + "\n";
  else if (config.network != "host") hosts += "127.0.0.1\t" + hostname + "\n";
  for (const auto& h : config.add_hosts) {
    auto colon = h.find(':');
    hosts += h.substr(colon + 1) + "\t" + h.substr(0, colon) + "\n";
  }
  return hosts;
}

Result<std::string> resolv_conf_for(Engine& engine, const std::string& container_id, const ContainerConfig& config) {
  if (!config.dns.empty()) {
    std::string out;
    for (const auto& d : config.dns) out += "nameserver " + d + "\n";
    return out + host_search_lines();
  }
  BERTH_TRY(auto endpoints, container_endpoints(engine, container_id));
  if (endpoints.empty()) return host_resolv_conf();
  // berth-dns on the gateway: container names first, the host's resolvers for the rest. No
  // search domains: with them a short name ("web") would first go upstream as web.<domain>.
  std::string options;
  for (const auto& line : sys::split(host_search_lines(), '\n'))
    if (line.starts_with("options ")) options += line + "\n";
  return "nameserver " + endpoints.front().gateway + "\n" + options;
}

Result<void> refresh_dns_names(Engine& engine, const std::string& container_id) {
  return write_dns_names_near(engine, container_id);
}

}  // namespace berth::engine
