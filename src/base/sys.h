// base/sys.h — syscall wrappers: each returns Result with the call and its path in the message.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace berth::sys {

Result<UniqueFd> open(const std::string& path, int flags, mode_t mode = 0644);
Result<UniqueFd> open_at(int dirfd, const std::string& path, int flags, mode_t mode = 0644);
// `path` resolved inside `root_fd` as a process chrooted there would (openat2 RESOLVE_IN_ROOT:
// "..", absolute and relative symlinks stay inside; no magic links). `where` names the root in
// errors ("the container", "the build context"). `resolve` adds RESOLVE_* flags (RESOLVE_NO_SYMLINKS
// for a mount point); the error keeps openat2's errno.
Result<UniqueFd> open_in_root(int root_fd, const std::string& path, int flags, std::string_view where,
                              uint64_t resolve = 0);

// Reads a whole file (or fd) into memory.
Result<std::string> read_file(const std::string& path);
Result<std::string> read_fd(int fd);
// Writes data to an existing file (no create, no truncate): for /proc and cgroup knobs.
Result<void> write_file(const std::string& path, std::string_view data);
Result<void> write_file_at(int dirfd, const std::string& name, std::string_view data);
// Writes all bytes, retrying on EINTR and short writes.
Result<void> write_all(int fd, std::string_view data);
// How much a write must survive. Readers never see a partial file either way.
enum class Durability {
  power_loss,     // fsync before rename: for data that outlives a reboot
  process_crash,  // rename only: for state about live processes (gone after a reboot anyway)
};
// Creates or replaces a file atomically: write a temp file, (fsync,) rename.
Result<void> atomic_write(const std::string& path, std::string_view data, mode_t mode = 0644,
                          Durability durability = Durability::power_loss);

// mkdir -p; succeeds if the directory already exists. Tries the leaf first: one syscall when
// only it is missing or it exists.
Result<void> mkdir_all(const std::string& path, mode_t mode = 0755);
// rm -rf, without crossing into other file systems (never follows mounts or symlinks).
Result<void> remove_all(const std::string& path);
bool exists(const std::string& path);
// The names in a directory, without "." and ".."; empty when it cannot be read.
std::vector<std::string> list_dir(const std::string& path);

Result<void> mount(const std::string& source, const std::string& target, const std::string& type,
                   unsigned long flags, const std::string& data);

// A connected AF_UNIX socket pair (close-on-exec) of the given type (SOCK_STREAM, SOCK_SEQPACKET).
Result<std::pair<UniqueFd, UniqueFd>> socket_pair(int type);

// Splits "a/b//c" into {"a","b","c"}.
std::vector<std::string> split(std::string_view text, char separator);
// Joins a directory and a path inside it, never producing "//".
std::string join_path(std::string_view base, std::string_view rel);

// `bytes` random bytes from the kernel, in lower-case hex (ids, anonymous volume names).
std::string random_hex(size_t bytes);

}  // namespace berth::sys
