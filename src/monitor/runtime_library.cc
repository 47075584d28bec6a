// monitor/runtime_library.cc — LibraryRuntime: the runtime's create, start and delete in-process.
#include "monitor/runtime_library.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "base/trace.h"

namespace berth::monitor {

Result<pid_t> LibraryRuntime::create(int in, int out, int err, const std::string& console_socket) {
  runtime::CreateOptions o;
  o.id = id_;
  o.bundle = bundle_;
  o.console_socket = console_socket;
  o.stdio[0] = in >= 0 ? in : null_fd();
  o.stdio[1] = out >= 0 ? out : null_fd();
  o.stdio[2] = err >= 0 ? err : null_fd();
  trace::mark("start: log and stdio");
  BERTH_TRY(pid_t pid, where_ == Create::here ? runtime::create(global_, o) : create_in_forked_child(o));
  trace::mark("runtime create: clone, cgroup, mounts, pivot_root");
  return pid;
}

Result<void> LibraryRuntime::start() {
  auto started = runtime::start(global_, id_);
  trace::mark("runtime start: release the process");
  return started;
}

void LibraryRuntime::remove() { (void)runtime::remove(global_, id_, true); }

Result<pid_t> LibraryRuntime::spawn_exec(const std::vector<std::string>& args, int out) {
  return spawn_runtime_exec(binary_, global_.root, id_, args, out);
}

// The child answers on a pipe, "pid" or "!message", in one write (under PIPE_BUF: atomic), then
// exits. The answer is read once the child is reaped, never to the pipe's end: the container,
// cloned with the write end, holds it until it execs, which waits for `start`.
Result<pid_t> LibraryRuntime::create_in_forked_child(const runtime::CreateOptions& o) {
  int answer[2];
  if (::pipe2(answer, O_CLOEXEC | O_NONBLOCK) < 0) return Error::from_errno("pipe");
  UniqueFd answer_r(answer[0]), answer_w(answer[1]);
  pid_t child = ::fork();
  if (child < 0) return Error::from_errno("fork to create container '{}'", id_);
  if (child == 0) {
    answer_r.reset();
    auto created = runtime::create(global_, o);
    std::string text = created ? std::to_string(*created) : "!" + created.error().message();
    (void)!::write(answer_w.get(), text.data(), std::min<size_t>(text.size(), PIPE_BUF));
    ::_exit(created ? 0 : 1);
  }
  answer_w.reset();
  while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
  }
  char buf[PIPE_BUF];
  ssize_t got = ::read(answer_r.get(), buf, sizeof buf);
  if (got <= 0)
    return Error::make(ErrorKind::internal, "create container '{}': the child that creates it died", id_);
  std::string text(buf, static_cast<size_t>(got));
  if (text[0] == '!') return Error::make(ErrorKind::failed_precondition, "{}", text.substr(1));
  return static_cast<pid_t>(std::atoi(text.c_str()));
}

int LibraryRuntime::null_fd() {
  if (!null_) null_ = UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  return null_.get();
}

}  // namespace berth::monitor
