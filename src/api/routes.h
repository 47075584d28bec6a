// api/routes.h — inside the Docker Engine API (not for other subsystems): the one router,
// DockerApi, whose routes live in a file per concern (common.cc, system_routes.cc,
// container_routes.cc, exec_routes.cc, image_routes.cc, network_routes.cc), and the helpers they
// share (attach_routes.cc: attach and resize). nlohmann's exceptions are caught in the router (common.cc).
//
// Threads: the HTTP server's event loops call handle(); a route that may block answers with a
// takeover (deferred(), or its own), which runs on a thread of its own.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/bodies.h"
#include "api/docker_api.h"
#include "api/translate.h"
#include "base/error.h"
#include "base/unique_fd.h"
#include "engine/containers.h"
#include "engine/engine_pool.h"
#include "engine/volumes.h"
#include "http/server.h"

namespace berth::api::detail {

using http::ServerRequest;
using http::ServerResponse;
using nlohmann::json;

inline constexpr size_t kBodyLimit = 16 << 20;

// HostConfig.AutoRemove through the API: the engine's --rm removes a container the moment it
// exits, before a client's attach has read its last output and its wait the exit code (Docker's
// daemon removes after both). So the API marks the container instead, its waiter removes it
// after answering, and a reaper removes marked containers that exited with nobody waiting.
inline constexpr const char* kAutoRemoveLabel = "berth.api.auto-remove";

void set_common_headers(ServerResponse& r);
ServerResponse json_response(int status, const json& body);
ServerResponse empty_response(int status);
ServerResponse error_response(int status, const std::string& message);
ServerResponse error_response(const Error& e);
// Docker's wording for a missing container or image ("No such container: x"), which clients
// show as is; other errors pass unchanged.
Error no_such(const Error& e, std::string_view what, std::string_view name);
// A response head written by a takeover: the body follows until the connection closes.
std::string response_head(int status,
                          const std::vector<std::pair<std::string, std::string>>& headers);
// The head of a hijacked stream (attach, exec start): 101 Upgrade: tcp when the client asked
// for the upgrade, else 200; raw bytes with a tty, multiplexed frames without.
std::string hijack_head(bool tty, bool upgrade);
// Writes a whole response (with Connection: close) on a taken-over socket.
void write_whole(int fd, const ServerResponse& r);
// Whether the client closed the connection (a waiter that gave up). Not a half close: an
// attached client without stdin shuts its writing side and still reads.
bool peer_gone(int fd);
// Runs `work` on a thread of its own (it may block for long) and sends what it answers.
ServerResponse deferred(std::function<ServerResponse(int fd)> work);
std::string human_duration(int64_t ns);
std::string status_text(const engine::ContainerRecord& c);
std::string command_text(const engine::ContainerRecord& c);
// A reference as dockerd shows it: Docker Hub's prefixes dropped ("docker.io/library/busybox:1"
// is "busybox:1"); other registries, localhost/ included, kept.
std::string familiar(const std::string& reference);
json familiar(const std::vector<std::string>& references);
int64_t query_int(const ServerRequest& r, std::string_view name, int64_t fallback);
bool query_flag(const ServerRequest& r, std::string_view name);

// A request body streamed into `file` (never whole in memory); once it is complete, `done` runs
// on a thread of its own with the connection (deferred()), then `scratch` (the file, or the
// directory holding it) is removed; also when the body never completes.
std::unique_ptr<http::BodySink> file_sink(UniqueFd file, std::string scratch,
                                          std::function<ServerResponse(int fd)> done);

// Which of a container's streams a reader wants.
struct StreamChoice {
  bool out = true, err = true;
};

class ExecRegistry;
struct ExecSession;

class DockerApi final : public http::Handler {
 public:
  explicit DockerApi(const ServeOptions& options);
  ~DockerApi() override;

  // Removes exited auto-remove containers nobody waits for or attaches to; once a second until
  // `stop` is set.
  void reap_until(const bool& stop, std::mutex& mutex, std::condition_variable& wake);
  http::Dispatch handle(const ServerRequest& request) override;

  // The build's work once its context is on disk (image_routes.cc).
  void run_build(int fd, const BuildQuery& q, const std::string& scratch);

 private:
  Result<engine::PooledEngine> open() const;
  // "ID/wait" and "ID/attach" while a waiter or an attached client reads a container (the reaper
  // leaves it alone).
  void hold(const std::string& id, int delta);
  bool held(const std::string& id);
  // Until nobody holds `key` (true) or `timeout_ms` passed (false); wakes at the release.
  bool wait_released(const std::string& key, int64_t timeout_ms);
  void reap(engine::Engine& e);
  // A container started here has its monitor as the server's child (the engine spawns it, and
  // a CLI that started it would exit): nobody else waits for it, so the reaper collects it once
  // it exited, else every started container would leave a zombie behind.
  void adopt_monitor(pid_t pid);
  void reap_monitors();
  ServerResponse route(const ServerRequest& request, const std::string& body);

  // system_routes.cc
  ServerResponse ping();
  static std::string kernel();
  ServerResponse version();
  ServerResponse info();
  ServerResponse events(const ServerRequest& r);
  ServerResponse system_df();

  // container_routes.cc
  ServerResponse containers(const std::string& m, const std::vector<std::string>& parts,
                            const ServerRequest& r, const std::string& body);
  static Result<int> parse_signal(const std::string& text);
  ServerResponse lifecycle(
      const std::string& id,
      std::function<Result<int>(engine::Engine&, const engine::ContainerRecord&)> act);
  ServerResponse list_containers(const ServerRequest& r);
  ServerResponse create_container(const ServerRequest& r, const std::string& body);
  ServerResponse wait_container(const std::string& id, const std::string& condition);
  // An AutoRemove container whose start failed goes at once, as in dockerd.
  void remove_failed_start(engine::Engine& e, const std::string& id);
  static engine::LogSink framed_sink(int fd, bool tty, StreamChoice which);
  ServerResponse logs(const std::string& id, const ServerRequest& r);

  // attach_routes.cc
  ServerResponse attach(const std::string& id, const ServerRequest& r);
  // Relays the container's monitor (engine/attach.h) and the client; false when the container
  // has no attach socket (then the log is followed instead).
  bool attach_live(int fd, const engine::ContainerRecord& c, bool replay, bool with_stdin,
                   StreamChoice which);
  ServerResponse resize(const std::string& id, const ServerRequest& r);

  // change_routes.cc
  ServerResponse update(const std::string& id, const std::string& body);
  ServerResponse commit(const ServerRequest& r, const std::string& body);

  // usage_routes.cc
  ServerResponse top(const std::string& id, const ServerRequest& r);
  ServerResponse stats(const std::string& id, const ServerRequest& r);
  ServerResponse changes(const std::string& id);

  // archive_routes.cc
  http::Dispatch archive(const std::string& m, const std::string& id, const ServerRequest& r);
  ServerResponse export_container(const std::string& id);

  // exec_routes.cc
  ServerResponse exec_create(const std::string& container, const std::string& body);
  ServerResponse exec_routes(const std::string& m, const std::vector<std::string>& parts,
                             const ServerRequest& r, const std::string& body);
  ServerResponse exec_detached(std::shared_ptr<ExecSession> s);
  void exec_attached(int sock, std::shared_ptr<ExecSession> s, bool upgrade);

  // image_routes.cc
  http::Dispatch build(const ServerRequest& request);
  ServerResponse images(const std::string& m, const std::vector<std::string>& parts,
                        const ServerRequest& r);
  ServerResponse remove_image(const std::string& name, bool force);

  // image_transfer_routes.cc
  ServerResponse pull(const ServerRequest& r);
  ServerResponse push(const std::string& name, const ServerRequest& r);
  ServerResponse history(const std::string& name);
  ServerResponse save(const std::vector<std::string>& names);
  http::Dispatch load(const ServerRequest& r);
  ServerResponse auth(const std::string& body);

  // prune_routes.cc
  ServerResponse prune(const std::string& kind, const ServerRequest& r);
  ServerResponse connect(const std::string& network, bool join, const std::string& body);

  // network_routes.cc
  ServerResponse networks(const std::string& m, const std::vector<std::string>& parts,
                          const ServerRequest& r, const std::string& body);
  static json volume_json(const engine::VolumeRecord& v);
  ServerResponse volumes(const std::string& m, const std::vector<std::string>& parts,
                         const ServerRequest& r, const std::string& body);

  const ServeOptions& options_;
  std::mutex held_mutex_;
  std::condition_variable released_;
  std::multiset<std::string> held_;
  std::mutex monitors_mutex_;
  std::vector<pid_t> monitors_;
  std::unique_ptr<ExecRegistry> execs_;
  std::unique_ptr<engine::EnginePool> engines_;
};

}  // namespace berth::api::detail
