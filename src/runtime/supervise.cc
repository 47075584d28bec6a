#include "runtime/detail/supervise.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/process.h"
#include "base/unique_fd.h"

#include <optional>

namespace berth::runtime {

BlockedSignals::BlockedSignals() {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &previous_);
}

BlockedSignals::~BlockedSignals() { sigprocmask(SIG_SETMASK, &previous_, nullptr); }

namespace {

// Puts our stdin terminal in raw mode for the scope: the container's terminal does the echoing.
class RawTerminal {
 public:
  RawTerminal() {
    if (!::isatty(0) || ::tcgetattr(0, &saved_) < 0) return;
    struct termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(0, TCSANOW, &saved_);
  }

 private:
  struct termios saved_ {};
  bool active_ = false;
};

void copy_window_size(int master) {
  struct winsize ws;
  if (::ioctl(0, TIOCGWINSZ, &ws) == 0) ::ioctl(master, TIOCSWINSZ, &ws);
}

// Copies what is readable from `from` to `to`; false at EOF or error.
bool pump(int from, int to) {
  char buf[16384];
  ssize_t n = ::read(from, buf, sizeof buf);
  if (n <= 0) return n < 0 && errno == EINTR;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = ::write(to, buf + off, static_cast<size_t>(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    off += w;
  }
  return true;
}

}  // namespace

Result<int> forward_signals_until_exit(pid_t child, int pty_master) {
  sigset_t all;
  sigfillset(&all);
  int sfd = ::signalfd(-1, &all, SFD_CLOEXEC);
  if (sfd < 0) return Error::from_errno("signalfd");
  UniqueFd signals(sfd);
  std::optional<RawTerminal> raw;
  if (pty_master >= 0) {
    raw.emplace();
    copy_window_size(pty_master);
  }
  bool stdin_open = pty_master >= 0;
  int exit_code = -1;
  while (exit_code < 0) {
    // SIGCHLD may have arrived before the signalfd existed: reap first, then wait.
    int status;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0)
      if (pid == child) exit_code = proc::exit_code_of(status);
    if (exit_code >= 0) break;
    struct pollfd fds[3] = {{sfd, POLLIN, 0}, {pty_master, POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("poll");
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) (void)pump(pty_master, 1);
    if (fds[2].revents & (POLLIN | POLLHUP)) stdin_open = pump(0, pty_master);
    if (!(fds[0].revents & POLLIN)) continue;
    struct signalfd_siginfo info;
    if (::read(sfd, &info, sizeof info) != sizeof info) continue;
    if (info.ssi_signo == SIGCHLD) continue;
    if (info.ssi_signo == SIGWINCH && pty_master >= 0) {
      copy_window_size(pty_master);
      continue;
    }
    ::kill(child, static_cast<int>(info.ssi_signo));
  }
  // What the process wrote just before it exited is still in the pty.
  if (pty_master >= 0) {
    struct pollfd p{pty_master, POLLIN, 0};
    while (::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) && pump(pty_master, 1)) {
    }
  }
  return exit_code;
}

}  // namespace berth::runtime
