// runtime/state.h — what the runtime remembers about a container between commands:
// <root>/<id>/state.json (written atomically) and <root>/<id>/exec.fifo while it is "created".
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"
#include "runtime/cgroup/cgroup.h"

namespace berth::runtime {

enum class Status { creating, created, running, paused, stopped };
const char* status_name(Status status);

struct ContainerRecord {
  std::string id;
  pid_t pid = 0;
  unsigned long long pid_start_time = 0;  // /proc/<pid>/stat field 22: guards against pid reuse
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC 3339
  std::string owner;
  std::string cgroup_path;
  cgroup::Mode cgroup_mode = cgroup::Mode::v1;
  std::map<std::string, std::string> annotations;
};

// The directory of one container under the runtime's --root, locked for the command's lifetime.
class StateDir {
 public:
  // Creates <root>/<id> exclusively: already_exists if another container has the id.
  static Result<StateDir> create(const std::string& root, const std::string& id);
  // Opens an existing container: not_found names the id.
  static Result<StateDir> open(const std::string& root, const std::string& id);
  static Result<void> validate_id(const std::string& id);
  // Ids of every container under root, sorted.
  static std::vector<std::string> list(const std::string& root);

  const std::string& path() const { return path_; }
  std::string fifo_path() const { return path_ + "/exec.fifo"; }

  Result<ContainerRecord> load() const;
  Result<void> save(const ContainerRecord& record) const;
  // Removes the directory (the container is gone).
  Result<void> remove();
  // Lets other commands at the container (after create, while `run` waits on it).
  void unlock() { lock_.reset(); }
  int lock_fd() const { return lock_.get(); }
  // A directory left by a create that was killed before it wrote state.json.
  static bool is_stale(const std::string& root, const std::string& id);
  // Written before the cgroup is made: a create killed before state.json leaves a cgroup that
  // only this note names.
  Result<void> note_cgroup(const std::string& cgroup_path, cgroup::Mode mode) const;
  // Removes a stale directory and the (empty) cgroup its create noted.
  static Result<void> remove_stale(const std::string& root, const std::string& id);

 private:
  StateDir(std::string path, UniqueFd lock) : path_(std::move(path)), lock_(std::move(lock)) {}
  std::string path_;
  UniqueFd lock_;  // flock(LOCK_EX) on the directory: one command per container at a time
};

// Status from the kernel's view: the process alive (same start time), frozen, fifo present.
Status current_status(const ContainerRecord& record, const StateDir& dir);
// /proc/<pid>/stat start time, 0 if the process is gone or a zombie.
unsigned long long process_start_time(pid_t pid);
// The state JSON of the runtime spec (ociVersion, id, status, pid, bundle, annotations) plus
// rootfs, created, owner as runc prints them.
std::string state_json(const ContainerRecord& record, Status status, int indent = 2);

}  // namespace berth::runtime
