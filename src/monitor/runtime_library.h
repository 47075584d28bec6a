// monitor/runtime_library.h — the RuntimeDriver that calls berth's runtime library in this
// process: no berth-runtime process per create, start and delete. The engine's monitors (the
// foreground `berth run`, berth-monitor started with --runtime-in-process) use it; health checks
// still run as `berth-runtime exec` children, since an exec in-process would block the loop.
#pragma once

#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "monitor/monitor.h"
#include "runtime/runtime.h"

namespace berth::monitor {

class LibraryRuntime : public RuntimeDriver {
 public:
  // Where `create` runs. A monitor that then waits for days creates in a forked child (the
  // container is then its child's, and the subreaper's once that child exits, as with a
  // runtime program): create's allocations would otherwise leave its heap fragmented, tens of
  // kB resident for the container's whole life (docs/monitor.md, "Memory"). A fork of the
  // small monitor still costs a fraction of an exec.
  enum class Create { here, in_forked_child };
  // `binary`: berth-runtime, for health checks' exec.
  LibraryRuntime(runtime::GlobalOptions global, std::string id, std::string bundle, std::string binary,
                 Create where = Create::here)
      : global_(std::move(global)), id_(std::move(id)), bundle_(std::move(bundle)), binary_(std::move(binary)),
        where_(where) {}
  Result<pid_t> create(int in, int out, int err, const std::string& console_socket) override;
  Result<void> start() override;
  void remove() override;
  Result<pid_t> spawn_exec(const std::vector<std::string>& args, int out) override;

 private:
  int null_fd();
  Result<pid_t> create_in_forked_child(const runtime::CreateOptions& o);
  runtime::GlobalOptions global_;
  std::string id_, bundle_, binary_;
  Create where_;
  UniqueFd null_;
};

}  // namespace berth::monitor
