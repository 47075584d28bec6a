#include "runtime/detail/supervise.h"

#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/process.h"
#include "base/unique_fd.h"

namespace berth::runtime {

BlockedSignals::BlockedSignals() {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &previous_);
}

BlockedSignals::~BlockedSignals() { sigprocmask(SIG_SETMASK, &previous_, nullptr); }

Result<int> forward_signals_until_exit(pid_t child) {
  sigset_t all;
  sigfillset(&all);
  int sfd = ::signalfd(-1, &all, SFD_CLOEXEC);
  if (sfd < 0) return Error::from_errno("signalfd");
  UniqueFd signals(sfd);
  for (;;) {
    // SIGCHLD may have arrived before the signalfd existed: reap first, then read.
    int status;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0)
      if (pid == child) return proc::exit_code_of(status);
    struct signalfd_siginfo info;
    ssize_t n = ::read(sfd, &info, sizeof info);
    if (n != sizeof info) {
      if (n < 0 && errno == EINTR) continue;
      return Error::from_errno("read signalfd");
    }
    if (info.ssi_signo != SIGCHLD) ::kill(child, static_cast<int>(info.ssi_signo));
  }
}

}  // namespace berth::runtime
