#include "build/detail/run_step.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <set>

#include "base/process.h"
#include "base/sys.h"
#include "base/unique_fd.h"

namespace berth::build::detail {
namespace {

constexpr size_t kTailLines = 12;

// The berth-runtime processes of RUN steps now running, for cancel_runs().
std::mutex children_mutex;
std::set<pid_t> children;
std::atomic<bool> cancelled{false};

}  // namespace

void cancel_runs() {
  cancelled = true;
  std::lock_guard l(children_mutex);
  for (pid_t pid : children) ::kill(pid, SIGKILL);
}

bool runs_cancelled() { return cancelled; }

Result<RunOutcome> run_container(const RunRequest& r) {
  BERTH_TRY_VOID(sys::mkdir_all(r.bundle, 0700));
  BERTH_TRY_VOID(sys::atomic_write(r.bundle + "/config.json", oci::to_json(*r.spec), 0644, sys::Durability::process_crash));
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return Error::from_errno("create a pipe");
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  std::vector<std::string> argv = {r.runtime, "--root", r.runtime_root, "run", "--bundle", r.bundle, r.id};
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  if (cancelled) return Error(ErrorKind::unavailable, "the build was interrupted");
  pid_t parent = ::getpid();
  std::unique_lock children_lock(children_mutex);
  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork");
  if (pid == 0) {
    // The runtime goes when the build does; a container it leaves is removed by the next build.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the CLI blocks them for its signal thread
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(write_end.get(), 1);
    ::dup2(write_end.get(), 2);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  children.insert(pid);
  children_lock.unlock();
  write_end.reset();
  RunOutcome out;
  std::deque<std::string> tail;
  std::string pending;
  char buf[16384];
  auto emit = [&](std::string line) {
    if (r.on_line) r.on_line(line);
    tail.push_back(std::move(line));
    if (tail.size() > kTailLines) tail.pop_front();
  };
  for (;;) {
    ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
      emit(pending.substr(start, nl - start));
    pending.erase(0, start);
  }
  if (!pending.empty()) emit(pending);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return Error::from_errno("wait for berth-runtime");
  {
    std::lock_guard l(children_mutex);
    children.erase(pid);
  }
  if (cancelled) return Error(ErrorKind::unavailable, "the build was interrupted");
  out.exit_code = proc::exit_code_of(status);
  out.tail.assign(tail.begin(), tail.end());
  return out;
}

void remove_runtime_containers(const std::string& runtime, const std::string& runtime_root, const std::string& prefix) {
  for (const auto& id : sys::list_dir(runtime_root)) {
    if (!id.starts_with(prefix)) continue;
    proc::RunOptions o;
    o.path = runtime;
    o.args = {runtime, "--root", runtime_root, "delete", "--force", id};
    std::string ignored;
    o.output = &ignored;
    o.timeout_seconds = 30;
    (void)proc::run(o);
  }
}

}  // namespace berth::build::detail
