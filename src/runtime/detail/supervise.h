// runtime/detail/supervise.h — waiting for a foreground child while forwarding signals to it.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include "base/error.h"

namespace berth::runtime {

// Blocks every signal (so none is lost between fork and wait); restores the old mask on scope exit.
class BlockedSignals {
 public:
  BlockedSignals();
  ~BlockedSignals();
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;

 private:
  sigset_t previous_;
};

// Forwards every signal but SIGCHLD to `child`, reaps whatever exits (we may be a subreaper),
// and returns the child's exit status (128+N when killed by signal N). With a pty master, also
// copies our stdin to it and its output to our stdout (stdin in raw mode if it is a terminal),
// and passes window-size changes (SIGWINCH) on to it.
Result<int> forward_signals_until_exit(pid_t child, int pty_master = -1);

}  // namespace berth::runtime
