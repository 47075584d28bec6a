// engine/container_inspect.cc — containers: exec, logs, top, stats, cp, inspect.
#include "engine/containers.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/trace.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys.h"
#include "engine/detail/container_records.h"
#include "engine/detail/copy_in_root.h"
#include "engine/container_watch.h"
#include "engine/detail/crash_point.h"
#include "engine/events.h"
#include "engine/networks.h"
#include "engine/images.h"
#include "engine/spec.h"
#include "engine/volumes.h"
#include "monitor/monitor.h"
#include "monitor/protocol.h"
#include "runtime/mounts.h"
#include "runtime/runtime.h"
#include "state/lock.h"
#include "state/transaction.h"

namespace berth::engine {

using namespace detail;

Result<int> exec_in_container(Engine& engine, const std::string& name_or_id, const ExecRequest& request) {
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  if (r.state != "running")
    return Error::make(ErrorKind::failed_precondition, "container '{}' is {}, not running", r.name, r.state)
        .with_hint(r.state == "paused" ? "unpause it first" : "start it first");
  runtime::ExecOptions o;
  o.id = r.id;
  o.args = request.args;
  o.cwd = request.workdir;
  o.env = request.env;
  o.tty = request.tty;
  o.detach = request.detach;
  if (!request.user.empty()) {
    BERTH_TRY(auto ids, resolve_user({rootfs_of(r)}, request.user));
    o.user = fmt::format("{}:{}", ids.uid, ids.gid);
    o.additional_gids = ids.additional_gids;
  }
  return runtime::exec(runtime_options(engine), o);
}

Result<void> read_logs(Engine& engine, const std::string& name_or_id, const LogOptions& options, int out, int err) {
  return read_logs(engine, name_or_id, options, [out, err](bool is_err, std::string_view text) {
    (void)sys::write_all(is_err ? err : out, text);
    return true;
  });
}

Result<void> read_logs(Engine& engine, const std::string& name_or_id, const LogOptions& options, const LogSink& sink) {
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  std::string base = r.dir + "/" + monitor::kLogFile;
  std::vector<std::string> files;
  for (int i = 9; i >= 1; --i)
    if (sys::exists(base + "." + std::to_string(i))) files.push_back(base + "." + std::to_string(i));
  files.push_back(base);

  struct Line {
    bool is_err;
    std::string time, text;
  };
  auto parse = [&](const std::string& raw, std::vector<Line>& lines) {
    auto j = nlohmann::json::parse(raw, nullptr, false);
    if (!j.is_object()) return;
    std::string time = j.value("time", "");
    auto t = clock::parse_rfc3339(time);
    if (options.since && t && *t < *options.since) return;
    if (options.until && t && *t > *options.until) return;
    lines.push_back({j.value("stream", "") == "stderr", time, j.value("log", "")});
  };
  bool reader_gone = false;
  auto emit = [&](const Line& l) {
    if (reader_gone) return;
    std::string text = options.timestamps ? l.time + " " + l.text : l.text;
    if (!sink(l.is_err, text)) reader_gone = true;
  };
  // Watching before the first look: nothing that happens after it goes unnoticed.
  std::optional<ContainerWatch> watch;
  if (options.follow) watch.emplace(engine.layout, r, true);
  // The follow goes on from the very bytes this first look read of the current file (a look at
  // its size afterwards would skip what the monitor appended in between), a line the monitor is
  // still writing included.
  ino_t inode = 0;
  off_t offset = 0;
  std::string partial;
  std::vector<Line> lines;
  for (const auto& file : files) {
    std::string text;
    if (file == base) {
      if (auto fd = sys::open(base, O_RDONLY | O_CLOEXEC)) {
        struct ::stat st;
        if (::fstat(fd->get(), &st) == 0) inode = st.st_ino;
        if (auto read = sys::read_fd(fd->get())) text = std::move(*read);
      }
      offset = static_cast<off_t>(text.size());
      const size_t end = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
      partial = text.substr(end);
      text.resize(end);
    } else if (auto read = sys::read_file(file)) {
      text = std::move(*read);
    }
    for (const auto& raw : sys::split(text, '\n'))
      if (!raw.empty()) parse(raw, lines);
  }
  size_t first = 0;
  if (options.tail && static_cast<int64_t>(lines.size()) > *options.tail)
    first = lines.size() - static_cast<size_t>(*options.tail);
  for (size_t i = first; i < lines.size(); ++i) emit(lines[i]);
  if (!options.follow || reader_gone) return {};

  // Follow: read what the monitor appends until it is gone; a rotation starts a new file.
  auto size_of = [](const std::string& path) -> std::pair<ino_t, off_t> {
    struct ::stat st;
    if (::stat(path.c_str(), &st) < 0) return {0, 0};
    return {st.st_ino, st.st_size};
  };
  for (;;) {
    bool alive = monitor_alive(r);
    auto [now_inode, now_size] = size_of(base);
    if (now_inode != inode) {
      inode = now_inode;
      offset = 0;
      partial.clear();
    }
    if (now_size > offset) {
      BERTH_TRY(auto fd, sys::open(base, O_RDONLY));
      std::string chunk(static_cast<size_t>(now_size - offset), '\0');
      ssize_t got = ::pread(fd.get(), chunk.data(), chunk.size(), offset);
      if (got > 0) {
        offset += got;
        partial.append(chunk.data(), static_cast<size_t>(got));
        size_t newline;
        while ((newline = partial.find('\n')) != std::string::npos) {
          std::vector<Line> fresh;
          parse(partial.substr(0, newline), fresh);
          for (const auto& l : fresh) emit(l);
          partial.erase(0, newline + 1);
        }
      }
      if (reader_gone) break;
      continue;
    }
    if (!alive || reader_gone) break;
    auto woke = watch->wait(watch->watching() ? 1000 : 50, options.reader_fd);
    if (woke == ContainerWatch::Wake::reader_gone) break;
  }
  return {};
}

Result<std::vector<ProcessRow>> container_processes(Engine& engine, const std::string& name_or_id) {
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  if (!r.running()) return Error::make(ErrorKind::failed_precondition, "container '{}' is not running", r.name);
  BERTH_TRY(auto pids, runtime::processes(runtime_options(engine), r.id));
  std::vector<ProcessRow> rows;
  long ticks = ::sysconf(_SC_CLK_TCK);
  for (pid_t pid : pids) {
    ProcessRow row{pid, "?", "00:00:00", ""};
    if (auto status = sys::read_file(fmt::format("/proc/{}/status", pid))) {
      auto at = status->find("\nUid:\t");
      if (at != std::string::npos) row.user = status->substr(at + 6, status->find('\t', at + 6) - at - 6);
    }
    if (auto stat = sys::read_file(fmt::format("/proc/{}/stat", pid))) {
      auto fields = sys::split(stat->substr(stat->rfind(')') + 2), ' ');
      if (fields.size() > 12) {
        long seconds = (std::atol(fields[11].c_str()) + std::atol(fields[12].c_str())) / ticks;
        row.time = fmt::format("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
      }
    }
    if (auto cmdline = sys::read_file(fmt::format("/proc/{}/cmdline", pid))) {
      std::replace(cmdline->begin(), cmdline->end(), '\0', ' ');
      while (!cmdline->empty() && cmdline->back() == ' ') cmdline->pop_back();
      row.command = *cmdline;
    }
    rows.push_back(row);
  }
  return rows;
}

namespace {

int64_t read_number(const std::string& path, std::string_view key = {}) {
  auto text = sys::read_file(path);
  if (!text) return -1;
  if (key.empty()) return *text == "max\n" ? -1 : std::atoll(text->c_str());
  for (const auto& line : sys::split(*text, '\n'))
    if (line.starts_with(std::string(key) + " ")) return std::atoll(line.c_str() + key.size() + 1);
  return -1;
}

struct CgroupSample {
  int64_t cpu_ns = 0, memory = 0, limit = 0, pids = 0, inactive_file = -1, pids_limit = -1;
};

CgroupSample sample(const std::string& cgroup) {
  CgroupSample s;
  if (sys::exists("/sys/fs/cgroup/cgroup.controllers")) {
    std::string dir = "/sys/fs/cgroup" + cgroup;
    s.cpu_ns = read_number(dir + "/cpu.stat", "usage_usec") * 1000;
    s.memory = read_number(dir + "/memory.current");
    s.limit = read_number(dir + "/memory.max");
    s.pids = read_number(dir + "/pids.current");
    s.pids_limit = read_number(dir + "/pids.max");
    s.inactive_file = read_number(dir + "/memory.stat", "inactive_file");
  } else {
    s.cpu_ns = read_number("/sys/fs/cgroup/cpuacct" + cgroup + "/cpuacct.usage");
    s.memory = read_number("/sys/fs/cgroup/memory" + cgroup + "/memory.usage_in_bytes");
    s.limit = read_number("/sys/fs/cgroup/memory" + cgroup + "/memory.limit_in_bytes");
    s.pids = read_number("/sys/fs/cgroup/pids" + cgroup + "/pids.current");
    s.pids_limit = read_number("/sys/fs/cgroup/pids" + cgroup + "/pids.max");
    s.inactive_file = read_number("/sys/fs/cgroup/memory" + cgroup + "/memory.stat", "total_inactive_file");
  }
  return s;
}

}  // namespace

Result<Stats> container_stats(Engine& engine, const std::string& name_or_id) {
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  Stats stats{r.id, r.name};
  if (!r.running()) return stats;
  std::string cgroup = cgroups_path_of(r.id);
  auto first = sample(cgroup);
  uint64_t t0 = clock::monotonic_ms();
  ::usleep(200'000);
  auto second = sample(cgroup);
  uint64_t elapsed_ms = clock::monotonic_ms() - t0;
  if (elapsed_ms > 0 && second.cpu_ns >= first.cpu_ns)
    stats.cpu_percent = static_cast<double>(second.cpu_ns - first.cpu_ns) / (static_cast<double>(elapsed_ms) * 1e4);
  stats.memory = std::max<int64_t>(second.memory, 0);
  long pages = ::sysconf(_SC_PHYS_PAGES) * ::sysconf(_SC_PAGESIZE);
  stats.memory_limit = second.limit > 0 && second.limit < pages ? second.limit : pages;
  stats.pids = std::max<int64_t>(second.pids, 0);
  return stats;
}

Result<CgroupCounters> container_counters(Engine& engine, const std::string& name_or_id) {
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  CgroupCounters c;
  c.cgroup_v2 = sys::exists("/sys/fs/cgroup/cgroup.controllers");
  if (!r.running()) return c;
  auto s = sample(cgroups_path_of(r.id));
  c.cpu_ns = std::max<int64_t>(s.cpu_ns, 0);
  c.memory = std::max<int64_t>(s.memory, 0);
  int64_t host = static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
  c.memory_limit = s.limit > 0 && s.limit < host ? s.limit : host;
  c.inactive_file = s.inactive_file;
  c.pids = std::max<int64_t>(s.pids, 0);
  c.pids_limit = s.pids_limit;
  return c;
}

namespace {
// Runs `work` on the container's root file system (mounted for the call when it is stopped),
// under the container's lock.
Result<void> with_container_rootfs(Engine& engine, const std::string& name_or_id,
                                   const std::function<Result<void>(const std::string& rootfs)>& work) {
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  BERTH_TRY(auto lock, lock_container(engine, r.id));
  bool mounted_here = false;
  if (!r.running()) {
    BERTH_TRY_VOID(mount_rootfs(engine, r));
    mounted_here = true;
  }
  auto result = work(rootfs_of(r));
  if (mounted_here) unmount_rootfs(r);
  return result;
}
}  // namespace

Result<void> with_container_path(Engine& engine, const std::string& name_or_id, const std::string& path,
                                 const std::function<Result<void>(const std::string& host_path)>& work) {
  return with_container_rootfs(engine, name_or_id, [&](const std::string& rootfs) -> Result<void> {
    std::string inside = path.empty() || path[0] != '/' ? "/" + path : path;
    BERTH_TRY(auto host_path, runtime::secure_join(rootfs, inside));
    return work(host_path);
  });
}

Result<void> copy_files(Engine& engine, const std::string& source, const std::string& destination) {
  auto split = [](const std::string& arg) -> std::pair<std::string, std::string> {
    auto colon = arg.find(':');
    if (colon == std::string::npos || arg[0] == '/' || arg[0] == '.') return {"", arg};
    return {arg.substr(0, colon), arg.substr(colon + 1)};
  };
  auto [src_container, src_path] = split(source);
  auto [dst_container, dst_path] = split(destination);
  if (src_container.empty() == dst_container.empty())
    return Error(ErrorKind::invalid_argument, "cp: exactly one of the paths must be CONTAINER:PATH")
        .with_hint("berth cp web:/etc/hosts ./hosts   or   berth cp ./file web:/tmp/");
  const std::string& name = src_container.empty() ? dst_container : src_container;
  // Plain variables for the lambda: clang 14 cannot capture structured bindings.
  const bool copy_in = src_container.empty();
  const std::string& host_path = copy_in ? src_path : dst_path;
  std::string inside = copy_in ? dst_path : src_path;
  if (inside.empty() || inside[0] != '/') inside = "/" + inside;
  return with_container_rootfs(engine, name, [&](const std::string& rootfs) -> Result<void> {
    // Never a path string into the container: it may swap any name for a symlink meanwhile.
    if (copy_in) return detail::copy_into_root(rootfs, host_path, inside);
    return detail::copy_out_of_root(rootfs, inside, host_path);
  });
}

}  // namespace berth::engine
