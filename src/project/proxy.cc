// project/proxy.cc — starting and stopping a project's `berth proxy serve`.
#include "project/proxy.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/process.h"
#include "base/sys.h"
#include "base/unique_fd.h"
#include "engine/proxy_drain.h"

namespace berth::project {
namespace {

std::string args_path(const engine::Layout& layout, const std::string& name) {
  return layout.proxies() + "/" + name + ".args";
}

std::string log_path(const engine::Layout& layout, const std::string& name) {
  return layout.proxies() + "/" + name + ".log";
}

}  // namespace

Result<void> ensure_project_proxy(engine::Engine& engine, const Project& project, const Progress& progress) {
  if (!project.proxy) return {};
  const auto& layout = engine.layout;
  std::vector<std::string> argv = {engine.programs.berth, "--root", layout.root, "--run-root", layout.run_root,
                                   "proxy", "serve", "--name", project.name, "--project", project.name};
  for (const auto& l : project.proxy->listen) argv.insert(argv.end(), {"--listen", l});
  if (!project.proxy->stats.empty()) argv.insert(argv.end(), {"--stats", project.proxy->stats});
  std::string wanted = fmt::format("{}", fmt::join(argv, "\n"));
  if (engine::running_proxy_pid(layout, project.name)) {
    auto running = sys::read_file(args_path(layout, project.name));
    if (running && *running == wanted) return {};
    BERTH_TRY_VOID(engine::stop_proxy(layout, project.name).context("restart the project's proxy"));
  }
  BERTH_TRY_VOID(sys::mkdir_all(layout.proxies(), 0700));
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) < 0) return Error::from_errno("pipe");
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  argv.insert(argv.end(), {"--ready-fd", "3"});
  std::string log = log_path(layout, project.name);
  (void)::truncate(log.c_str(), 0);
  // Through a short-lived middle process, so that the proxy is init's child (as berth-dns).
  pid_t middle = ::fork();
  if (middle < 0) return Error::from_errno("fork");
  if (middle == 0) _exit(proc::spawn_detached(argv, log, ready_w.get()) ? 0 : 1);
  int status = 0;
  while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  ready_w.reset();
  // One byte once it listens; EOF when it exits first (its reason is in its log).
  char byte;
  ssize_t n;
  while ((n = ::read(ready_r.get(), &byte, 1)) < 0 && errno == EINTR) {
  }
  if (n != 1) {
    auto read = sys::read_file(log);
    std::string text = read ? *read : "";
    while (!text.empty() && text.back() == '\n') text.pop_back();
    if (auto nl = text.rfind('\n'); nl != std::string::npos) text = text.substr(nl + 1);
    return Error::make(ErrorKind::unavailable, "start the project's proxy (x-berth-proxy): {}",
                       text.empty() ? "it exited at once" : text)
        .with_hint(fmt::format("its log: {}", log));
  }
  BERTH_TRY_VOID(sys::atomic_write(args_path(layout, project.name), wanted, 0644, sys::Durability::process_crash));
  if (progress) progress(fmt::format("Proxy {}  Started ({})", project.name, fmt::join(project.proxy->listen, ", ")));
  return {};
}

Result<void> stop_project_proxy(engine::Engine& engine, const std::string& project, const Progress& progress) {
  if (!engine::running_proxy_pid(engine.layout, project)) return {};
  BERTH_TRY_VOID(engine::stop_proxy(engine.layout, project));
  ::unlink(args_path(engine.layout, project).c_str());
  if (progress) progress(fmt::format("Proxy {}  Stopped", project));
  return {};
}

}  // namespace berth::project
