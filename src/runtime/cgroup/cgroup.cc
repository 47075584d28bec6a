// runtime/cgroup/cgroup.cc — mode detection, mountinfo, path resolution, conversions, and the
// file helpers both cgroup versions share.
#include "runtime/cgroup/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>

#include "base/sys.h"
#include "base/unique_fd.h"
#include "runtime/cgroup/detail/cgroup_internal.h"

namespace berth::runtime::cgroup {

uint64_t oom_kills(const std::string& path) {
  if (path.empty()) return 0;
  for (const char* file : {"/sys/fs/cgroup/memory{}/memory.oom_control", "/sys/fs/cgroup{}/memory.events"}) {
    auto text = sys::read_file(fmt::format(fmt::runtime(file), path));
    if (!text) continue;
    auto at = text->find("oom_kill ");
    if (at != std::string::npos) return std::strtoull(text->c_str() + at + 9, nullptr, 10);
  }
  return 0;
}

Mode detect_mode(const std::string& mount_root) {
  struct statfs st;
  if (::statfs(mount_root.c_str(), &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC) return Mode::v2;
  return Mode::v1;
}

std::vector<Hierarchy> v1_hierarchies() {
  auto text = sys::read_file("/proc/self/mountinfo");
  if (!text) return {};
  return detail::parse_mountinfo(*text);
}

Result<std::string> resolve_path(const std::optional<std::string>& cgroups_path,
                                 std::string_view container_id, bool systemd_style) {
  if (!cgroups_path || cgroups_path->empty()) {
    if (container_id.empty() || container_id.find('/') != std::string_view::npos ||
        container_id == "." || container_id == "..")
      return Error::make(ErrorKind::invalid_argument, "invalid container id '{}' for a cgroup name",
                         container_id);
    return fmt::format("/berth/{}", container_id);
  }
  const std::string& given = *cgroups_path;
  std::string joined;
  if (systemd_style) {
    // "slice:prefix:name" as runc's --systemd-cgroup takes it.
    auto colon1 = given.find(':');
    auto colon2 = colon1 == std::string::npos ? colon1 : given.find(':', colon1 + 1);
    if (colon2 == std::string::npos || given.find(':', colon2 + 1) != std::string::npos)
      return Error::make(ErrorKind::invalid_argument,
                         "invalid systemd cgroupsPath '{}': expected 'slice:prefix:name'", given);
    std::string slice = given.substr(0, colon1);
    std::string prefix = given.substr(colon1 + 1, colon2 - colon1 - 1);
    std::string name = given.substr(colon2 + 1);
    if (slice.empty()) slice = "system.slice";
    if (name.empty()) name = std::string(container_id);
    if (slice.find('/') != std::string::npos || prefix.find('/') != std::string::npos ||
        name.find('/') != std::string::npos)
      return Error::make(ErrorKind::invalid_argument,
                         "invalid systemd cgroupsPath '{}': parts may not contain '/'", given);
    joined = "/" + slice + "/" + (prefix.empty() ? name : prefix + "-" + name) + ".scope";
  } else {
    joined = given;
  }
  std::string out;
  for (const auto& part : sys::split(joined, '/')) {
    if (part == "..")
      return Error::make(ErrorKind::invalid_argument,
                         "invalid cgroupsPath '{}': '..' is not allowed", given);
    if (part == ".") continue;
    out += "/" + part;
  }
  if (out.empty())
    return Error::make(ErrorKind::invalid_argument,
                       "invalid cgroupsPath '{}': the root cgroup cannot hold a container", given);
  return out;
}

uint64_t cpu_shares_to_weight(uint64_t shares) {
  shares = std::clamp<uint64_t>(shares, 2, 262144);
  return std::clamp<uint64_t>(1 + ((shares - 2) * 9999) / 262142, 1, 10000);
}

uint64_t blkio_weight_to_io_weight(uint64_t weight) {
  weight = std::clamp<uint64_t>(weight, 10, 1000);
  return std::clamp<uint64_t>(1 + (weight - 10) * 9999 / 990, 1, 10000);
}

Result<std::unique_ptr<Cgroup>> Cgroup::create(const std::string& path, Mode mode) {
  if (mode == Mode::v2) {
    BERTH_TRY_VOID(detail::create_v2_dirs(path, "/sys/fs/cgroup"));
    return detail::make_v2(path, "/sys/fs/cgroup");
  }
  auto hierarchies = v1_hierarchies();
  if (hierarchies.empty())
    return Error::make(ErrorKind::unsupported, "create cgroup '{}': no cgroup v1 hierarchy mounted",
                       path);
  BERTH_TRY_VOID(detail::create_v1_dirs(path, hierarchies));
  return detail::make_v1(path, std::move(hierarchies));
}

std::unique_ptr<Cgroup> Cgroup::open(const std::string& path, Mode mode) {
  if (mode == Mode::v2) return detail::make_v2(path, "/sys/fs/cgroup");
  return detail::make_v1(path, v1_hierarchies());
}

namespace detail {

namespace {
// Undoes mountinfo's octal escapes ("\040" for a space).
std::string unescape_mountinfo(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() &&
        std::all_of(s.begin() + i + 1, s.begin() + i + 4,
                    [](char c) { return c >= '0' && c <= '7'; })) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool is_controller_option(const std::string& option) {
  static const char* const kNotControllers[] = {"rw",           "ro",
                                                "noprefix",     "clone_children",
                                                "xattr",        "cpuset_v2_mode",
                                                "favordynmods", "nofavordynmods"};
  for (const char* word : kNotControllers)
    if (option == word) return false;
  return option.rfind("release_agent=", 0) != 0;
}
}  // namespace

std::vector<Hierarchy> parse_mountinfo(std::string_view text) {
  std::vector<Hierarchy> out;
  for (const auto& line : sys::split(text, '\n')) {
    auto fields = sys::split(line, ' ');
    auto dash = std::find(fields.begin(), fields.end(), "-");
    // Optional fields come between field 6 and "-"; after it: fstype, source, super options.
    if (fields.size() < 5 || dash == fields.end() || fields.end() - dash < 4) continue;
    if (*(dash + 1) != "cgroup") continue;
    Hierarchy h;
    h.mount_point = unescape_mountinfo(fields[4]);
    for (const auto& option : sys::split(*(dash + 3), ','))
      if (is_controller_option(option)) h.controllers.push_back(option);
    if (h.controllers.empty()) continue;
    // The same hierarchy bind-mounted twice is still one hierarchy.
    bool seen = std::any_of(out.begin(), out.end(),
                            [&](const Hierarchy& o) { return o.controllers == h.controllers; });
    if (!seen) out.push_back(std::move(h));
  }
  return out;
}

Result<void> write_knob(int dirfd, const std::string& file, std::string_view value) {
  int fd = ::openat(dirfd, file.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return Error::make(ErrorKind::unsupported,
                         "write '{}' to '{}': this kernel has no '{}' in the cgroup", value, file,
                         file);
    return Error::from_errno("write '{}' to '{}'", value, file);
  }
  UniqueFd guard(fd);
  ssize_t n;
  do {
    n = ::write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Error::from_errno("write '{}' to '{}'", value, file);
  if (static_cast<size_t>(n) != value.size())
    return Error::make(ErrorKind::io, "short write of '{}' to '{}'", value, file);
  return {};
}

bool has_knob(int dirfd, const std::string& file) {
  return ::faccessat(dirfd, file.c_str(), F_OK, 0) == 0;
}

Result<std::string> read_knob(int dirfd, const std::string& file) {
  BERTH_TRY(auto fd, sys::open_at(dirfd, file, O_RDONLY));
  BERTH_TRY(auto text, sys::read_fd(fd.get()).context(fmt::format("read '{}'", file)));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::vector<std::string> cgroup_tree(const std::string& root) {
  std::vector<std::string> out;
  struct stat st;
  if (::stat(root.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) return out;
  out.push_back(root);
  for (size_t i = 0; i < out.size(); ++i) {
    DIR* dir = ::opendir(out[i].c_str());
    if (!dir) continue;
    while (struct dirent* e = ::readdir(dir)) {
      if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      out.push_back(out[i] + "/" + e->d_name);
    }
    ::closedir(dir);
  }
  return out;
}

Result<std::vector<pid_t>> tree_processes(const std::string& root) {
  std::vector<pid_t> pids;
  for (const auto& dir : cgroup_tree(root)) {
    auto text = sys::read_file(dir + "/cgroup.procs");
    if (!text) {
      if (text.error().sys_errno() == ENOENT) continue;  // removed while we walked
      return std::move(text).error().context("list cgroup processes");
    }
    for (const auto& line : sys::split(*text, '\n')) {
      pid_t pid = 0;
      auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
      if (ec == std::errc() && end == line.data() + line.size()) pids.push_back(pid);
    }
  }
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

// A killed process leaves its cgroup as it exits; on a loaded host that has taken over a second
// (a cgroup left behind in some hierarchies, seen in CI), so wait up to 5 s.
constexpr auto kExitWait = std::chrono::seconds(5);

Result<void> wait_until_empty(const std::string& root) {
  auto deadline = std::chrono::steady_clock::now() + kExitWait;
  for (;;) {
    BERTH_TRY(auto pids, tree_processes(root));
    if (pids.empty()) return {};
    if (std::chrono::steady_clock::now() >= deadline)
      return Error(
          ErrorKind::failed_precondition,
          fmt::format("remove cgroup '{}': process {} is still inside it", root, pids.front()),
          EBUSY);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Result<void> remove_tree(const std::string& root) {
  auto tree = cgroup_tree(root);
  auto deadline = std::chrono::steady_clock::now() + kExitWait;
  for (auto it = tree.rbegin(); it != tree.rend(); ++it) {
    for (;;) {
      if (::rmdir(it->c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) return Error::from_errno("remove cgroup '{}'", *it);
      if (std::chrono::steady_clock::now() >= deadline)
        return Error(ErrorKind::failed_precondition,
                     fmt::format("remove cgroup '{}': processes are still inside it", *it), EBUSY);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return {};
}

Result<void> make_dirs(const std::string& mount_point, const std::string& rel,
                       std::vector<std::string>& created) {
  std::string current = mount_point;
  for (const auto& part : sys::split(rel, '/')) {
    current += "/" + part;
    if (::mkdir(current.c_str(), 0755) == 0) {
      created.push_back(current);
    } else if (errno != EEXIST) {
      return Error::from_errno("create cgroup '{}'", current);
    }
  }
  return {};
}

void remove_created(const std::vector<std::string>& created) {
  for (auto it = created.rbegin(); it != created.rend(); ++it) (void)remove_tree(*it);
}

}  // namespace detail
}  // namespace berth::runtime::cgroup
