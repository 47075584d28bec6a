#include "runtime/state.h"

#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/sys.h"

namespace berth::runtime {

using nlohmann::json;

const char* status_name(Status status) {
  switch (status) {
    case Status::creating: return "creating";
    case Status::created: return "created";
    case Status::running: return "running";
    case Status::paused: return "paused";
    case Status::stopped: return "stopped";
  }
  return "unknown";
}

Result<void> StateDir::validate_id(const std::string& id) {
  if (id.empty()) return Error::make(ErrorKind::invalid_argument, "container id must not be empty");
  if (id.size() > 1024) return Error::make(ErrorKind::invalid_argument, "container id is longer than 1024 characters");
  for (char c : id)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' && c != '+')
      return Error::make(ErrorKind::invalid_argument,
                         "invalid container id '{}': use letters, digits, '_', '-', '.' and '+'", id);
  if (id == "." || id == "..") return Error::make(ErrorKind::invalid_argument, "invalid container id '{}'", id);
  return {};
}

namespace {
Result<UniqueFd> lock_dir(const std::string& path) {
  BERTH_TRY(auto fd, sys::open(path, O_RDONLY | O_DIRECTORY));
  if (::flock(fd.get(), LOCK_EX) < 0) return Error::from_errno("lock '{}'", path);
  return fd;
}
}  // namespace

Result<StateDir> StateDir::create(const std::string& root, const std::string& id) {
  BERTH_TRY_VOID(validate_id(id));
  BERTH_TRY_VOID(sys::mkdir_all(root, 0711).context("create runtime root"));
  std::string path = sys::join_path(root, id);
  if (::mkdir(path.c_str(), 0711) < 0) {
    if (errno == EEXIST)
      return Error::make(ErrorKind::already_exists, "container '{}' already exists", id)
          .with_hint("pick another id, or remove it with `berth-runtime delete " + id + "`");
    return Error::from_errno("mkdir '{}'", path);
  }
  auto lock = lock_dir(path);
  if (!lock) {
    ::rmdir(path.c_str());
    return std::move(lock).error();
  }
  return StateDir(path, std::move(*lock));
}

Result<StateDir> StateDir::open(const std::string& root, const std::string& id) {
  BERTH_TRY_VOID(validate_id(id));
  std::string path = sys::join_path(root, id);
  auto lock = lock_dir(path);
  if (!lock) {
    if (lock.error().kind() == ErrorKind::not_found)
      return Error::make(ErrorKind::not_found, "container '{}' does not exist", id);
    return std::move(lock).error();
  }
  if (!sys::exists(path + "/state.json"))  // still being created, or half-deleted
    return Error::make(ErrorKind::not_found, "container '{}' does not exist", id);
  return StateDir(path, std::move(*lock));
}

std::vector<std::string> StateDir::list(const std::string& root) {
  std::vector<std::string> ids;
  DIR* dir = ::opendir(root.c_str());
  if (!dir) return ids;
  while (auto* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    if (sys::exists(sys::join_path(root, e->d_name) + "/state.json")) ids.emplace_back(e->d_name);
  }
  ::closedir(dir);
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool StateDir::is_stale(const std::string& root, const std::string& id) {
  if (!validate_id(id)) return false;
  std::string path = sys::join_path(root, id);
  if (!sys::exists(path) || sys::exists(path + "/state.json")) return false;
  auto fd = sys::open(path, O_RDONLY | O_DIRECTORY);
  // A create in progress holds the lock; a killed one does not.
  return fd && ::flock(fd->get(), LOCK_EX | LOCK_NB) == 0;
}

Result<ContainerRecord> StateDir::load() const {
  BERTH_TRY(auto text, sys::read_file(path_ + "/state.json"));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Error::make(ErrorKind::corrupt, "'{}/state.json' is not valid JSON", path_);
  ContainerRecord r;
  try {
    r.id = j.at("id").get<std::string>();
    r.pid = j.at("pid").get<pid_t>();
    r.pid_start_time = j.value("pidStartTime", 0ULL);
    r.bundle = j.value("bundle", "");
    r.rootfs = j.value("rootfs", "");
    r.created = j.value("created", "");
    r.owner = j.value("owner", "");
    r.cgroup_path = j.value("cgroupPath", "");
    r.cgroup_mode = j.value("cgroupMode", "v1") == "v2" ? cgroup::Mode::v2 : cgroup::Mode::v1;
    if (j.contains("annotations")) r.annotations = j["annotations"].get<std::map<std::string, std::string>>();
  } catch (const json::exception& e) {
    return Error::make(ErrorKind::corrupt, "'{}/state.json': {}", path_, e.what());
  }
  return r;
}

Result<void> StateDir::save(const ContainerRecord& r) const {
  json j = {{"id", r.id},         {"pid", r.pid},       {"pidStartTime", r.pid_start_time},
            {"bundle", r.bundle}, {"rootfs", r.rootfs}, {"created", r.created},
            {"owner", r.owner},   {"cgroupPath", r.cgroup_path},
            {"cgroupMode", r.cgroup_mode == cgroup::Mode::v2 ? "v2" : "v1"},
            {"annotations", r.annotations}};
  return sys::atomic_write(path_ + "/state.json", j.dump(), 0644, sys::Durability::process_crash);
}

Result<void> StateDir::note_cgroup(const std::string& cgroup_path, cgroup::Mode mode) const {
  return sys::atomic_write(path_ + "/cgroup", std::string(mode == cgroup::Mode::v2 ? "v2 " : "v1 ") + cgroup_path,
                           0644, sys::Durability::process_crash);
}

Result<void> StateDir::remove_stale(const std::string& root, const std::string& id) {
  std::string path = sys::join_path(root, id);
  if (auto note = sys::read_file(path + "/cgroup"); note && note->size() > 3) {
    auto mode = note->starts_with("v2 ") ? cgroup::Mode::v2 : cgroup::Mode::v1;
    auto cg = cgroup::Cgroup::open(note->substr(3), mode);
    // Whatever is inside is the half-made container's init: nobody else can reach it.
    if (auto pids = cg->processes())
      for (pid_t pid : *pids) ::kill(pid, SIGKILL);
    BERTH_TRY_VOID(cg->destroy().context("the cgroup of a create cut short"));
  }
  return sys::remove_all(path);
}

Result<void> StateDir::remove() {
  auto r = sys::remove_all(path_);
  lock_.reset();
  return r;
}

unsigned long long process_start_time(pid_t pid) {
  if (pid <= 0) return 0;
  auto stat = sys::read_file(fmt::format("/proc/{}/stat", pid));
  if (!stat) return 0;
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  auto close = stat->rfind(')');
  if (close == std::string::npos) return 0;
  auto fields = sys::split(std::string_view(*stat).substr(close + 2), ' ');
  // fields[0] is field 3 (state); start time is field 22.
  if (fields.size() < 20 || fields[0] == "Z" || fields[0] == "X") return 0;
  return std::stoull(fields[19]);
}

Status current_status(const ContainerRecord& r, const StateDir& dir) {
  unsigned long long start = process_start_time(r.pid);
  if (start == 0 || (r.pid_start_time != 0 && start != r.pid_start_time)) return Status::stopped;
  if (sys::exists(dir.fifo_path())) return Status::created;
  if (!r.cgroup_path.empty()) {
    auto cg = cgroup::Cgroup::open(r.cgroup_path, r.cgroup_mode);
    if (cg && cg->frozen()) return Status::paused;
  }
  return Status::running;
}

std::string state_json(const ContainerRecord& r, Status status, int indent) {
  json j = {{"ociVersion", oci::kRuntimeSpecVersion},
            {"id", r.id},
            {"pid", status == Status::stopped ? 0 : r.pid},
            {"status", status_name(status)},
            {"bundle", r.bundle},
            {"rootfs", r.rootfs},
            {"created", r.created},
            {"owner", r.owner}};
  if (!r.annotations.empty()) j["annotations"] = r.annotations;
  return j.dump(indent);
}

}  // namespace berth::runtime
