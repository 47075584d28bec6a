// runtime/cgroup/join.cc — join_self: a process moving itself into its cgroup.
#include <unistd.h>

#include "runtime/cgroup/cgroup.h"

namespace berth::runtime::cgroup {

Result<void> join_self(const std::vector<int>& fds) {
  for (int fd : fds) {
    if (::write(fd, "0", 1) != 1) return Error::from_errno("join the container's cgroup (write '0' to its tasks)");
    ::close(fd);
  }
  return {};
}

}  // namespace berth::runtime::cgroup
