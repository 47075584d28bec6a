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

}  // namespace berth::runtime
