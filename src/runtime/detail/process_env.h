// runtime/detail/process_env.h — the environment a container process starts with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace berth::runtime {

// `env` with HOME added when it has none, as runc and crun do: the home directory of `uid` in
// `passwd_path` (the container's /etc/passwd once its root is in place), else "/".
std::vector<std::string> with_home(std::vector<std::string> env, uint32_t uid,
                                   const std::string& passwd_path = "/etc/passwd");

// Gives stdin, stdout and stderr to the process's user, as runc and crun do, so that a process
// that is not root may reopen them (`echo > /dev/stdout` opens /proc/self/fd/1 anew and is
// checked against the file's owner). Character devices are left alone: a terminal is set up
// elsewhere, and /dev/null or a tty the runtime was started with belongs to the host. Best
// effort: an owner the container cannot map stays as it is.
void give_stdio_to(uint32_t uid, uint32_t gid);

}  // namespace berth::runtime
