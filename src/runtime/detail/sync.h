// runtime/detail/sync.h — messages between the runtime and the container child over a
// SOCK_SEQPACKET socketpair: one type byte, then a payload (an error message, a pid).
#pragma once

#include <string>

#include "base/error.h"

namespace berth::runtime::sync {

enum class Msg : char {
  go = 'g',           // parent → child: id maps written, cgroup joined; carry on
  run_hooks = 'h',    // child → parent: mounts done, run prestart/createRuntime hooks
  hooks_done = 'H',   // parent → child: payload is the state JSON for createContainer hooks
  ready = 'r',        // child → parent: waiting for start
  start = 's',        // parent → child (run): exec now
  error = 'e',        // child → parent: payload is the error message
  pid = 'p',          // exec child → parent: payload is the exec'd process's pid
};

Result<void> send(int fd, Msg type, std::string_view payload = {});
// Reads one message; EOF (the peer exec'd or died) is reported as not_found.
Result<std::pair<Msg, std::string>> receive(int fd);
// Waits for `expected`; an error message from the peer becomes the returned Error.
Result<std::string> expect(int fd, Msg expected);

}  // namespace berth::runtime::sync
