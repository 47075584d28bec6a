// engine/proxy_drain.h — before a container stops, every running `berth proxy` takes it out of
// rotation and lets its in-flight requests finish (docs/proxy.md, "Draining").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/containers.h"
#include "engine/engine.h"

namespace berth::engine {

// The pid of the proxy holding NAME.pid's lock; nullopt when none runs under that name.
std::optional<pid_t> running_proxy_pid(const Layout& layout, const std::string& name);
// The names of the proxies that run, sorted.
std::vector<std::string> running_proxies(const Layout& layout);
// SIGTERM to the proxy NAME, then waits (up to 10 s) for it to let go of its pid file.
Result<void> stop_proxy(const Layout& layout, const std::string& name);

// One request to a proxy's control socket (HTTP/1.0, so the answer ends at EOF).
struct ControlAnswer {
  int status = 0;
  std::string body;
};
// `unavailable` when nothing listens on the socket or no answer comes within timeout_ms.
Result<ControlAnswer> ask_proxy(const std::string& socket, std::string_view method, std::string_view target,
                                int64_t timeout_ms);

// Whether a proxy may route to this container: it has berth.proxy.* labels or VIRTUAL_HOST.
bool routed_by_proxy(const ContainerConfig& config);

// What each proxy answered: "NAME: 200", "NAME: 504 (in-flight requests left after 10000 ms)".
struct DrainReport {
  std::vector<std::string> drained, failed;
};

// Asks every proxy with a control socket under layout.proxies() to drain backend `id` (POST
// /drain?backend=ID&timeout_ms=N, all proxies at once) and waits for their answers, at most
// timeout_ms plus a little. A socket nobody listens on is skipped at once; with no proxy this
// is one directory listing. Never fails: a proxy that cannot drain is reported, and the stop
// goes on.
DrainReport drain_in_proxies(const Layout& layout, const std::string& id, int64_t timeout_ms);

// POST `target` to every running proxy's control socket at once; what each answered.
DrainReport post_to_proxies(const Layout& layout, const std::string& target, int64_t timeout_ms);

// A container that starts again is no longer being stopped: proxies forget an earlier drain of
// it (POST /undrain), so that it gets traffic once it runs (and is healthy).
void undrain_before_start(Engine& engine, const ContainerRecord& r);

// Before a rolling update stops the old instance `old_id`: waits until every running proxy
// that has `old_id` in its table reports the new instance `new_id` "up" (GET /backend?id=), at
// most timeout_ms. Proxies that do not route the old instance are not waited for. Never fails:
// what is still not up at the deadline is logged as a warning, and the update goes on.
void wait_up_in_proxies(const Layout& layout, const std::string& old_id, const std::string& new_id,
                        int64_t timeout_ms);

// drain_in_proxies for a running container that proxies may route to, bounded by its stop
// timeout (or `timeout_s`); failures are logged as warnings.
void drain_before_stop(Engine& engine, const ContainerRecord& r, std::optional<int> timeout_s);

}  // namespace berth::engine
