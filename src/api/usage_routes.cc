// api/usage_routes.cc — what a container uses and changed: GET /containers/{id}/top,
// /stats?stream=&one-shot=, /changes.
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "api/routes.h"
#include "engine/container_top.h"
#include "base/clock.h"
#include "base/sys.h"

namespace berth::api::detail {
namespace {

// The host's CPU time (all CPUs, ns) from /proc/stat, as dockerd's system_cpu_usage.
int64_t system_cpu_ns() {
  auto text = sys::read_file("/proc/stat");
  if (!text || !text->starts_with("cpu ")) return 0;
  auto fields = sys::split(text->substr(4, text->find('\n') - 4), ' ');
  int64_t ticks = 0;
  int n = 0;
  for (const auto& f : fields) {
    if (f.empty()) continue;
    if (n++ < 8) ticks += std::atoll(f.c_str());  // user nice system idle iowait irq softirq steal
  }
  return ticks * (1'000'000'000 / ::sysconf(_SC_CLK_TCK));
}

// A process's network counters (its namespace's), by interface, from /proc/PID/net/dev.
json network_stats(std::optional<int64_t> pid) {
  json out = json::object();
  if (!pid) return out;
  auto text = sys::read_file(fmt::format("/proc/{}/net/dev", *pid));
  if (!text) return out;
  for (const auto& line : sys::split(*text, '\n')) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name == "lo") continue;
    std::vector<int64_t> v;
    for (const auto& f : sys::split(line.substr(colon + 1), ' '))
      if (!f.empty()) v.push_back(std::atoll(f.c_str()));
    if (v.size() < 12) continue;
    out[name] = {{"rx_bytes", v[0]},   {"rx_packets", v[1]}, {"rx_errors", v[2]},
                 {"rx_dropped", v[3]}, {"tx_bytes", v[8]},   {"tx_packets", v[9]},
                 {"tx_errors", v[10]}, {"tx_dropped", v[11]}};
  }
  return out;
}

struct Reading {
  engine::CgroupCounters counters;
  int64_t system_ns = 0, time = 0;
};

json cpu_json(const std::optional<Reading>& r) {
  if (!r)
    return {
        {"cpu_usage", {{"total_usage", 0}, {"usage_in_kernelmode", 0}, {"usage_in_usermode", 0}}},
        {"throttling_data", {{"periods", 0}, {"throttled_periods", 0}, {"throttled_time", 0}}}};
  return {
      {"cpu_usage",
       {{"total_usage", r->counters.cpu_ns}, {"usage_in_kernelmode", 0}, {"usage_in_usermode", 0}}},
      {"system_cpu_usage", r->system_ns},
      {"online_cpus", std::thread::hardware_concurrency()},
      {"throttling_data", {{"periods", 0}, {"throttled_periods", 0}, {"throttled_time", 0}}}};
}

// One stats document in docker's format: `now`, with `before` as its precpu (none for one-shot).
json stats_json(const engine::ContainerRecord& c, const Reading& now,
                const std::optional<Reading>& before) {
  json memory_detail = json::object();
  // docker's CLI subtracts the page cache: inactive_file on v2, total_inactive_file on v1.
  if (now.counters.inactive_file >= 0)
    memory_detail[now.counters.cgroup_v2 ? "inactive_file" : "total_inactive_file"] =
        now.counters.inactive_file;
  json pids = {{"current", now.counters.pids}};
  if (now.counters.pids_limit >= 0) pids["limit"] = now.counters.pids_limit;
  return {{"read", clock::rfc3339(now.time)},
          {"preread", before ? clock::rfc3339(before->time) : "0001-01-01T00:00:00Z"},
          {"id", c.id},
          {"name", "/" + c.name},
          {"num_procs", 0},
          {"pids_stats", pids},
          {"blkio_stats",
           {{"io_service_bytes_recursive", nullptr},
            {"io_serviced_recursive", nullptr},
            {"io_queue_recursive", nullptr},
            {"io_service_time_recursive", nullptr},
            {"io_wait_time_recursive", nullptr},
            {"io_merged_recursive", nullptr},
            {"io_time_recursive", nullptr},
            {"sectors_recursive", nullptr}}},
          {"storage_stats", json::object()},
          {"cpu_stats", cpu_json(now)},
          {"precpu_stats", cpu_json(before)},
          {"memory_stats", c.running() ? json{{"usage", now.counters.memory},
                                              {"limit", now.counters.memory_limit},
                                              {"stats", memory_detail}}
                                       : json::object()},
          {"networks", network_stats(c.running() ? c.pid : std::nullopt)}};
}

}  // namespace

ServerResponse DockerApi::top(const std::string& id, const ServerRequest& r) {
  auto e = open();
  if (!e) return error_response(e.error());
  auto c = engine::find_container(*e, id);
  if (!c) return error_response(no_such(c.error(), "container", id));
  if (!c->running()) return error_response(409, fmt::format("Container {} is not running", c->id));
  auto table = engine::container_top(*e, c->id, r.query_value("ps_args").value_or(""));
  if (!table) return error_response(table.error());
  return json_response(200, {{"Titles", table->titles}, {"Processes", table->rows}});
}

ServerResponse DockerApi::changes(const std::string& id) {
  auto e = open();
  if (!e) return error_response(e.error());
  auto c = engine::find_container(*e, id);
  if (!c) return error_response(no_such(c.error(), "container", id));
  auto changes = engine::container_changes(*e, c->id);
  if (!changes) return error_response(changes.error());
  if (changes->empty()) return json_response(200, nullptr);  // docker answers null
  json out = json::array();
  for (const auto& ch : *changes) out.push_back({{"Path", ch.path}, {"Kind", ch.kind}});
  return json_response(200, out);
}

// Streamed: a document a second, each with the one before as its precpu. stream=0: one, with
// a reading half a second earlier as precpu (the CLI's CPU % needs two); one-shot=1 too: one
// reading, no precpu.
ServerResponse DockerApi::stats(const std::string& id, const ServerRequest& r) {
  bool stream = !r.query_value("stream") || query_flag(r, "stream");
  bool one_shot = query_flag(r, "one-shot");
  if (one_shot && stream) return error_response(400, "cannot have stream=true and one-shot=true");
  {
    auto e = open();
    if (!e) return error_response(e.error());
    auto c = engine::find_container(*e, id);
    if (!c) return error_response(no_such(c.error(), "container", id));
  }
  ServerResponse resp;
  resp.takeover = [this, id, stream, one_shot](UniqueFd socket) {
    int fd = socket.get();
    auto e = open();
    if (!e) return write_whole(fd, error_response(e.error()));
    auto read = [&]() -> Result<std::pair<engine::ContainerRecord, Reading>> {
      BERTH_TRY(auto c, engine::find_container(*e, id));
      BERTH_TRY(auto counters, engine::container_counters(*e, c.id));
      return std::pair{c, Reading{counters, system_cpu_ns(), clock::now_ns()}};
    };
    auto first = read();
    if (!first) return write_whole(fd, error_response(no_such(first.error(), "container", id)));
    if (!sys::write_all(fd, response_head(200, {{"Content-Type", "application/json"},
                                                {"Connection", "close"}})))
      return;
    std::optional<Reading> before;
    if (!one_shot) {
      before = first->second;
      ::usleep(stream ? 0 : 500'000);
      if (!stream) {
        first = read();
        if (!first) return;
      }
    }
    auto now = *first;
    for (;;) {
      if (!sys::write_all(fd, stats_json(now.first, now.second, before).dump() + "\n")) return;
      if (!stream || !now.first.running()) return;
      ::sleep(1);
      if (peer_gone(fd)) return;
      before = now.second;
      auto next = read();
      if (!next) return;
      now = *next;
    }
  };
  return resp;
}

}  // namespace berth::api::detail
