// net/dns_server.h — berth-dns: the DNS responder of one network (docs/networking.md, "DNS").
//
// One thread, one epoll loop: UDP queries in batches (recvmmsg/sendmmsg), TCP on the same
// address and port, the upstream sockets, inotify on the names file's and resolv.conf's
// directories (a change is served from the next packet on), and a signalfd. It holds an
// exclusive flock on the lock file for its whole life: that lock is how the engine knows a
// responder runs for the network.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"

namespace berth::net::dns {

struct ServerOptions {
  std::string listen;  // the network's gateway address, e.g. 10.89.0.1 (IPv4 or IPv6)
  uint16_t port = 53;
  std::string names_path;
  std::string lock_path;
  std::string resolv_conf = "/etc/resolv.conf";  // "": answer REFUSED for other names
  unsigned idle_exit_seconds = 10;               // 0: never exit for want of records
  uint32_t ttl = 0;
  uint64_t upstream_timeout_ms = 2000;
  std::function<void(std::string_view)> warn;  // a problem worth a log line (bad names line)
};

enum class ExitReason { terminated, names_removed, idle };
const char* describe(ExitReason reason);

class Server {
 public:
  // Takes the lock (already_exists "already running" when another responder holds it), binds
  // UDP and TCP on listen:port, reads the names file (not_found when it is missing) and
  // resolv.conf, and starts watching both. Blocks SIGTERM, SIGINT and SIGHUP for the signalfd.
  static Result<std::unique_ptr<Server>> open(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until SIGTERM/SIGINT, the names file's removal, or --idle-exit seconds without
  // records. SIGHUP rereads both files. Writes its pid into the lock file, then calls on_ready.
  Result<ExitReason> run(const std::function<void()>& on_ready);

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::net::dns
