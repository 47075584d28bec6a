#include "net/dns_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/sys.h"
#include "net/dns_answer.h"
#include "net/dns_forward.h"
#include "net/dns_message.h"
#include "net/dns_names.h"

namespace berth::net::dns {
namespace {

constexpr size_t kBatch = 64;          // UDP datagrams per recvmmsg/sendmmsg
constexpr size_t kQueryBuffer = 2048;  // a longer UDP query is answered FORMERR
constexpr size_t kMaxConnections = 64;
// One client address may hold this many of them: a flood from one cannot take every slot.
constexpr size_t kMaxConnectionsPerClient = 8;
constexpr uint64_t kTcpIdleMs = 10'000;
// A query begun over TCP must be complete within this, however its bytes trickle in (slowloris).
constexpr uint64_t kTcpQueryMs = 5'000;
constexpr size_t kTcpMaxBuffered = 1 << 20;
constexpr size_t kMaxNamesFile = 16 << 20;

enum Tag : uint64_t {
  kUdp = 1,
  kTcpListen,
  kDatagram,
  kInotify,
  kSignal,
  kConn,
  kStream,
};
uint64_t tag_of(Tag tag, uint64_t id = 0) { return static_cast<uint64_t>(tag) << 56 | id; }

struct Endpoint {
  sockaddr_storage address{};
  socklen_t length = 0;
};

Result<Endpoint> endpoint_of(const std::string& ip, uint16_t port) {
  Endpoint e;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&e.address);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&e.address);
  if (::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    e.length = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    e.length = sizeof(sockaddr_in6);
  } else {
    return Error::make(ErrorKind::invalid_argument, "--listen '{}' is not an IP address", ip)
        .with_hint("give the network's gateway address, e.g. --listen 10.89.0.1");
  }
  return e;
}

Result<UniqueFd> bound_socket(const Endpoint& at, int type, std::string_view what,
                              std::string_view where) {
  UniqueFd fd(::socket(at.address.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("create {} socket", what);
  int one = 1;
  if (type == SOCK_STREAM) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&at.address), at.length) != 0) {
    const int saved = errno;
    Error error = Error::with_errno(saved, fmt::format("bind {} on {}", what, where));
    if (saved == EADDRNOTAVAIL) {
      return std::move(error).with_hint(
          "the address must be on an interface of this network namespace (the network's "
          "bridge); create the bridge and its address first");
    }
    if (saved == EADDRINUSE) {
      return std::move(error).with_hint(
          "another DNS server listens there; stop it or use another --port");
    }
    return error;
  }
  return fd;
}

struct Connection {
  UniqueFd fd;
  std::vector<uint8_t> in;
  std::vector<uint8_t> out;
  uint64_t last_active = 0;
  bool want_write = false;
  sockaddr_storage peer{};
  std::string client;          // address_key(peer): its share of kMaxConnectionsPerClient
  uint64_t partial_since = 0;  // when the incomplete query in `in` began; 0: none
};

// One query relayed to an upstream over UDP, from a socket of its own connected to the server:
// a fresh random source port per query (RFC 5452), and the ICMP error of an unreachable server
// arrives on it, so the next server is asked at once instead of after the timeout.
struct UpstreamDatagram {
  UniqueFd fd;
  sockaddr_storage address{};
  socklen_t length = 0;
};

// One query relayed to an upstream over TCP (for a client that asked over TCP).
struct UpstreamStream {
  UniqueFd fd;
  sockaddr_storage address{};
  socklen_t length = 0;
  std::vector<uint8_t> out;  // the framed query, then what is left of it to send
  std::vector<uint8_t> in;
};

std::pair<std::string, std::string> split_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace

const char* describe(ExitReason reason) {
  switch (reason) {
    case ExitReason::terminated:
      return "terminated by a signal";
    case ExitReason::names_removed:
      return "the names file was removed";
    case ExitReason::idle:
      return "no records left for the idle time";
  }
  return "?";
}

struct Server::Impl {
  ServerOptions o;
  std::string where;  // "10.89.0.1:53"
  UniqueFd lock, udp, tcp, epoll, inotify, signals;
  int names_wd = -1;
  std::string names_base;
  // (watch, file name) pairs that mean resolv.conf: its own directory, and its target's when it
  // is a symlink (/etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf).
  std::vector<std::pair<int, std::string>> resolv_watches;
  NameTable names;
  Forwarder forwarder{{}};
  Query query;
  std::optional<uint64_t> empty_since;
  std::optional<ExitReason> exit;
  std::unordered_map<uint64_t, Connection> connections;
  std::unordered_map<std::string, size_t> connections_per_client;
  uint64_t next_connection = 1;
  std::unordered_map<uint16_t, UpstreamStream> streams;      // by our id of the query
  std::unordered_map<uint16_t, UpstreamDatagram> datagrams;  // by our id of the query
  std::vector<uint16_t> unreachable;  // ids whose server failed at once: move on next round

  // Left uninitialised (make_unique_for_overwrite): pages are touched only when traffic needs
  // them, which keeps an idle responder's resident memory small.
  std::array<std::array<uint8_t, kQueryBuffer>, kBatch> in;
  std::array<std::array<uint8_t, kOurUdpPayload>, kBatch> out;
  std::array<sockaddr_storage, kBatch> peers;
  std::array<iovec, kBatch> in_iov{}, out_iov{};
  std::array<mmsghdr, kBatch> in_msgs{}, out_msgs{};
  std::unique_ptr<uint8_t[]> big_buffer = std::make_unique_for_overwrite<uint8_t[]>(2 + kTcpLimit);
  std::span<uint8_t> big{big_buffer.get(), 2 + kTcpLimit};

  void warn(std::string_view message) const {
    if (o.warn) o.warn(message);
  }
  AnswerContext context(bool over_tcp) {
    return AnswerContext{names, forwarder.has_upstreams(), o.ttl, over_tcp};
  }

  Result<void> load_names();
  void load_resolv_conf();
  Result<void> watch();
  void watch_resolv_conf();
  void on_inotify();
  void on_signal();
  void on_udp(uint64_t now);
  void on_datagram(uint16_t id, uint64_t now);
  Forwarder::Resend resend_fn() {
    return [this](const Forwarder::Send& send) { send_upstream(send); };
  }
  Forwarder::GiveUp give_up_fn() {
    return [this](uint16_t id, const Client& client, std::span<const uint8_t> original, size_t) {
      datagrams.erase(id);
      streams.erase(id);
      servfail(client, original);
    };
  }
  void on_accept(uint64_t now);
  void on_connection(uint64_t id, uint32_t events, uint64_t now);
  void send_upstream(const Forwarder::Send& send);
  void open_stream(const Forwarder::Send& send);
  void on_stream(uint16_t id, uint32_t events, uint64_t now);
  void on_upstream_answer(std::span<uint8_t> packet, const sockaddr* from, socklen_t length,
                          uint64_t now);
  void deliver(const Client& client, std::span<const uint8_t> packet);
  void servfail(const Client& client, std::span<const uint8_t> query_packet);
  size_t servfail_into(std::span<const uint8_t> query_packet, std::span<uint8_t> out_buffer);
  void queue_tcp(Connection& c, std::span<const uint8_t> packet);
  void flush(uint64_t id, Connection& c);
  void close_connection(uint64_t id);
  std::unordered_map<uint64_t, Connection>::iterator drop_connection(
      std::unordered_map<uint64_t, Connection>::iterator it);
  int timeout_ms(uint64_t now) const;
  void housekeeping(uint64_t now);
};

Result<void> Server::Impl::load_names() {
  auto text = sys::read_file(o.names_path);
  if (!text) {
    if (text.error().sys_errno() == ENOENT) {
      return Error::make(ErrorKind::not_found, "names file '{}' does not exist", o.names_path);
    }
    return std::move(text).error().context("read names file");
  }
  if (text->size() > kMaxNamesFile) {
    return Error::make(ErrorKind::invalid_argument, "names file '{}' is larger than {} bytes",
                       o.names_path, kMaxNamesFile);
  }
  std::vector<std::string> problems;
  names = NameTable::parse(*text, o.names_path, problems);
  for (const auto& p : problems) warn(p);
  if (names.record_count() > 0) {
    empty_since.reset();
  } else if (!empty_since) {
    empty_since = clock::monotonic_ms();
  }
  return {};
}

void Server::Impl::load_resolv_conf() {
  if (o.resolv_conf.empty()) return;
  auto text = sys::read_file(o.resolv_conf);
  if (!text) {
    warn(fmt::format("{}; names the network does not know are refused", text.error().message()));
    forwarder.set_upstreams({});
    return;
  }
  std::vector<std::string> problems;
  // Never forward to ourselves (a host resolv.conf may name our address).
  std::vector<std::string> self;
  if (o.port == 53) self.push_back(o.listen);
  auto upstreams = parse_resolv_conf(*text, o.resolv_conf, self, problems);
  for (const auto& p : problems) warn(p);
  if (upstreams.empty()) {
    warn(fmt::format("no nameserver in '{}'; names the network does not know are refused",
                     o.resolv_conf));
  }
  forwarder.set_upstreams(std::move(upstreams));
}

Result<void> Server::Impl::watch() {
  inotify = UniqueFd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify) return Error::from_errno("inotify_init1");
  constexpr uint32_t kFileEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE;
  auto [names_dir, names_file] = split_dir(o.names_path);
  names_base = names_file;
  names_wd = ::inotify_add_watch(inotify.get(), names_dir.c_str(),
                                 kFileEvents | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
  if (names_wd < 0) return Error::from_errno("watch directory '{}'", names_dir);
  watch_resolv_conf();
  return {};
}

void Server::Impl::watch_resolv_conf() {
  if (o.resolv_conf.empty()) return;
  std::vector<std::string> paths{o.resolv_conf};
  if (char* target = ::realpath(o.resolv_conf.c_str(), nullptr)) {
    if (target != o.resolv_conf) paths.emplace_back(target);
    std::free(target);
  }
  for (const auto& path : paths) {
    auto [dir, file] = split_dir(path);
    // IN_MASK_ADD: when it shares the names file's directory, that watch keeps its events.
    const int wd = ::inotify_add_watch(
        inotify.get(), dir.c_str(),
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_MASK_ADD);
    if (wd < 0) {
      warn(fmt::format("watch directory '{}': {}; resolv.conf changes need a SIGHUP", dir,
                       std::strerror(errno)));
      continue;
    }
    const std::pair<int, std::string> watch{wd, file};
    if (std::find(resolv_watches.begin(), resolv_watches.end(), watch) == resolv_watches.end()) {
      resolv_watches.push_back(watch);
    }
  }
}

Result<std::unique_ptr<Server>> Server::open(ServerOptions options) {
  auto impl = std::make_unique_for_overwrite<Impl>();
  Impl& s = *impl;
  s.o = std::move(options);
  BERTH_TRY(Endpoint at, endpoint_of(s.o.listen, s.o.port));
  s.where = at.address.ss_family == AF_INET6 ? fmt::format("[{}]:{}", s.o.listen, s.o.port)
                                             : fmt::format("{}:{}", s.o.listen, s.o.port);

  BERTH_TRY(s.lock, sys::open(s.o.lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (::flock(s.lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Error::make(ErrorKind::already_exists, "already running for '{}'", s.o.lock_path);
    }
    return Error::from_errno("lock '{}'", s.o.lock_path);
  }

  if (!sys::exists(s.o.names_path)) {
    return Error::make(ErrorKind::not_found, "names file '{}' does not exist", s.o.names_path)
        .with_hint("the engine writes it before it starts berth-dns");
  }
  // Watch first, read then: a change in between is not missed.
  BERTH_TRY_VOID(s.watch());
  BERTH_TRY_VOID(s.load_names());
  // Each relayed query has a socket of its own: as many as the fd limit allows.
  rlimit files{};
  ::getrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_cur < files.rlim_max) {
    files.rlim_cur = std::min<rlim_t>(files.rlim_max, 8192);
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  const size_t max_in_flight =
      files.rlim_cur > 256 ? std::min<size_t>(4096, files.rlim_cur - 192) : 64;
  s.forwarder = Forwarder({}, s.o.upstream_timeout_ms, max_in_flight);
  s.load_resolv_conf();
  BERTH_TRY(s.udp, bound_socket(at, SOCK_DGRAM, "UDP", s.where));
  // A deep receive queue absorbs bursts (many containers resolving at once).
  int buffer = 4 << 20;
  if (::setsockopt(s.udp.get(), SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof buffer) != 0) {
    ::setsockopt(s.udp.get(), SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  }
  BERTH_TRY(s.tcp, bound_socket(at, SOCK_STREAM, "TCP", s.where));
  if (::listen(s.tcp.get(), 64) != 0) return Error::from_errno("listen on TCP {}", s.where);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return Error::from_errno("sigprocmask");
  s.signals = UniqueFd(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!s.signals) return Error::from_errno("signalfd");
  ::signal(SIGPIPE, SIG_IGN);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

void Server::Impl::send_upstream(const Forwarder::Send& send) {
  if (send.over_tcp) {
    open_stream(send);
    return;
  }
  const uint16_t id = message_id(send.packet);
  UpstreamDatagram d;
  d.fd = UniqueFd(
      ::socket(send.upstream->address.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  std::memcpy(&d.address, &send.upstream->address, sizeof d.address);
  d.length = send.upstream->length;
  epoll_event ev{.events = EPOLLIN, .data = {.u64 = tag_of(kDatagram, id)}};
  if (!d.fd || ::connect(d.fd.get(), reinterpret_cast<const sockaddr*>(&d.address), d.length) ||
      ::send(d.fd.get(), send.packet.data(), send.packet.size(), MSG_DONTWAIT) < 0 ||
      ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, d.fd.get(), &ev) != 0) {
    // No socket (EMFILE), no route, ...: the next server is asked in this loop round's
    // housekeeping (not from here: this may run inside the forwarder's own callbacks).
    datagrams.erase(id);
    unreachable.push_back(id);
    return;
  }
  datagrams.insert_or_assign(id, std::move(d));  // replaces (closes) the previous server's
}

size_t Server::Impl::servfail_into(std::span<const uint8_t> query_packet,
                                   std::span<uint8_t> out_buffer) {
  if (parse_query(query_packet, query).verdict != Verdict::query) return 0;
  const size_t limit =
      query.edns ? std::min<size_t>(query.udp_payload, kOurUdpPayload) : kPlainUdpLimit;
  ResponseBuilder reply(out_buffer.first(std::min(limit, out_buffer.size())), query_packet, query,
                        false, true);
  reply.set_rcode(Rcode::servfail);
  return reply.finish();
}

void Server::Impl::servfail(const Client& client, std::span<const uint8_t> query_packet) {
  std::array<uint8_t, kOurUdpPayload> reply{};
  const size_t n = servfail_into(query_packet, reply);
  if (n > 0) deliver(client, std::span<const uint8_t>(reply.data(), n));
}

void Server::Impl::deliver(const Client& client, std::span<const uint8_t> packet) {
  if (client.tcp_connection == 0) {
    (void)::sendto(udp.get(), packet.data(), packet.size(), MSG_DONTWAIT,
                   reinterpret_cast<const sockaddr*>(&client.address), client.length);
    return;
  }
  auto it = connections.find(client.tcp_connection);
  if (it == connections.end()) return;  // the client hung up meanwhile
  queue_tcp(it->second, packet);
  flush(it->first, it->second);
}

void Server::Impl::on_udp(uint64_t now) {
  for (int round = 0; round < 8; ++round) {
    for (size_t i = 0; i < kBatch; ++i) {
      in_iov[i] = {in[i].data(), in[i].size()};
      in_msgs[i].msg_hdr = {};
      in_msgs[i].msg_hdr.msg_name = &peers[i];
      in_msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      in_msgs[i].msg_hdr.msg_iov = &in_iov[i];
      in_msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int received = ::recvmmsg(udp.get(), in_msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (received <= 0) return;
    unsigned replies = 0;
    for (int i = 0; i < received; ++i) {
      const std::span<const uint8_t> packet(in[i].data(), in_msgs[i].msg_len);
      size_t size = 0;
      if (in_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        if (parse_query(packet, query).verdict != Verdict::drop) {
          size = build_reject(query, Rcode::formerr, out[i]);
        }
      } else {
        const Action action = answer(context(false), packet, query, out[i], &size);
        if (action == Action::forward) {
          Client client;
          std::memcpy(&client.address, &peers[i], sizeof(sockaddr_storage));
          client.length = in_msgs[i].msg_hdr.msg_namelen;
          if (auto send = forwarder.start(packet, query.question_end, client, now)) {
            send_upstream(*send);
          } else {
            size = servfail_into(packet, out[i]);
          }
        }
      }
      if (size == 0) continue;
      out_iov[replies] = {out[i].data(), size};
      out_msgs[replies].msg_hdr = {};
      out_msgs[replies].msg_hdr.msg_name = &peers[i];
      out_msgs[replies].msg_hdr.msg_namelen = in_msgs[i].msg_hdr.msg_namelen;
      out_msgs[replies].msg_hdr.msg_iov = &out_iov[replies];
      out_msgs[replies].msg_hdr.msg_iovlen = 1;
      ++replies;
    }
    for (unsigned sent = 0; sent < replies;) {
      const int n = ::sendmmsg(udp.get(), out_msgs.data() + sent, replies - sent, MSG_DONTWAIT);
      if (n <= 0) break;  // a full send buffer: the clients retry
      sent += static_cast<unsigned>(n);
    }
    if (static_cast<size_t>(received) < kBatch) return;
  }
}

void Server::Impl::on_upstream_answer(std::span<uint8_t> packet, const sockaddr* from,
                                      socklen_t length, uint64_t now) {
  if (packet.size() < kHeaderSize) return;
  const uint16_t id = message_id(packet);  // ours: on_response restores the client's
  std::optional<Forwarder::Send> retry;
  auto relay = forwarder.on_response(packet, from, length, now, retry);
  if (retry) send_upstream(*retry);
  if (relay) {
    datagrams.erase(id);
    deliver(relay->client, relay->packet);
  }
}

void Server::Impl::on_datagram(uint16_t id, uint64_t now) {
  auto it = datagrams.find(id);
  if (it == datagrams.end()) return;
  const ssize_t n = ::recv(it->second.fd.get(), big.data(), big.size(), MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    datagrams.erase(it);  // ECONNREFUSED, EHOSTUNREACH: the server is not there
    unreachable.push_back(id);
    return;
  }
  // A copy: answering may replace or erase the entry. A connected socket hears only its server.
  const UpstreamDatagram& d = it->second;
  sockaddr_storage from = d.address;
  const socklen_t from_length = d.length;
  if (static_cast<size_t>(n) >= kHeaderSize) {
    on_upstream_answer(big.first(static_cast<size_t>(n)), reinterpret_cast<const sockaddr*>(&from),
                       from_length, now);
  }
}

void Server::Impl::open_stream(const Forwarder::Send& send) {
  const uint16_t id = message_id(send.packet);
  UpstreamStream stream;
  stream.fd = UniqueFd(
      ::socket(send.upstream->address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!stream.fd) {
    streams.erase(id);
    unreachable.push_back(id);
    return;
  }
  std::memcpy(&stream.address, &send.upstream->address, sizeof stream.address);
  stream.length = send.upstream->length;
  if (::connect(stream.fd.get(), reinterpret_cast<const sockaddr*>(&stream.address),
                stream.length) != 0 &&
      errno != EINPROGRESS) {
    streams.erase(id);
    unreachable.push_back(id);
    return;
  }
  stream.out = {static_cast<uint8_t>(send.packet.size() >> 8),
                static_cast<uint8_t>(send.packet.size())};
  stream.out.insert(stream.out.end(), send.packet.begin(), send.packet.end());
  epoll_event ev{.events = EPOLLIN | EPOLLOUT, .data = {.u64 = tag_of(kStream, id)}};
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, stream.fd.get(), &ev) != 0) {
    streams.erase(id);
    unreachable.push_back(id);
    return;
  }
  streams.insert_or_assign(id, std::move(stream));  // replaces (closes) the previous server's
}

void Server::Impl::on_stream(uint16_t id, uint32_t events, uint64_t now) {
  auto it = streams.find(id);
  if (it == streams.end()) return;
  UpstreamStream& s = it->second;
  if ((events & EPOLLOUT) && !s.out.empty()) {
    const ssize_t n = ::send(s.fd.get(), s.out.data(), s.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) {
      streams.erase(it);  // refused or reset: the next server, now
      unreachable.push_back(id);
      return;
    }
    if (n > 0) s.out.erase(s.out.begin(), s.out.begin() + n);
    if (s.out.empty()) {
      epoll_event ev{.events = EPOLLIN, .data = {.u64 = tag_of(kStream, id)}};
      ::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, s.fd.get(), &ev);
    }
  }
  if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
  for (;;) {
    std::array<uint8_t, 4096> chunk;
    const ssize_t n = ::recv(s.fd.get(), chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0 || s.in.size() + static_cast<size_t>(n) > 2 + kTcpLimit) break;
    s.in.insert(s.in.end(), chunk.begin(), chunk.begin() + n);
    if (s.in.size() >= 2 && s.in.size() >= 2u + (s.in[0] << 8 | s.in[1])) {
      const size_t length = static_cast<size_t>(s.in[0] << 8 | s.in[1]);
      UpstreamStream done = std::move(s);
      streams.erase(it);
      on_upstream_answer(std::span<uint8_t>(done.in).subspan(2, length),
                         reinterpret_cast<const sockaddr*>(&done.address), done.length, now);
      return;
    }
  }
  streams.erase(it);  // closed before a whole answer, or an oversized one: the next server
  unreachable.push_back(id);
}

void Server::Impl::on_accept(uint64_t now) {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    UniqueFd fd(::accept4(tcp.get(), reinterpret_cast<sockaddr*>(&peer), &length,
                          SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    if (connections.size() >= kMaxConnections) continue;  // closed: the client retries
    std::string client = address_key(peer);
    auto share = connections_per_client.find(client);
    if (share != connections_per_client.end() && share->second >= kMaxConnectionsPerClient) {
      continue;  // closed: this client holds its share already
    }
    const uint64_t id = next_connection++;
    epoll_event ev{.events = EPOLLIN, .data = {.u64 = tag_of(kConn, id)}};
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) continue;
    ++connections_per_client[client];
    connections.emplace(id,
                        Connection{std::move(fd), {}, {}, now, false, peer, std::move(client), 0});
  }
}

void Server::Impl::queue_tcp(Connection& c, std::span<const uint8_t> packet) {
  c.out.push_back(static_cast<uint8_t>(packet.size() >> 8));
  c.out.push_back(static_cast<uint8_t>(packet.size()));
  c.out.insert(c.out.end(), packet.begin(), packet.end());
}

void Server::Impl::close_connection(uint64_t id) {
  if (auto it = connections.find(id); it != connections.end()) drop_connection(it);
}

std::unordered_map<uint64_t, Connection>::iterator Server::Impl::drop_connection(
    std::unordered_map<uint64_t, Connection>::iterator it) {
  if (auto share = connections_per_client.find(it->second.client);
      share != connections_per_client.end() && --share->second == 0) {
    connections_per_client.erase(share);
  }
  return connections.erase(it);
}

void Server::Impl::flush(uint64_t id, Connection& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      close_connection(id);
      return;
    }
    c.out.erase(c.out.begin(), c.out.begin() + n);
  }
  if (c.out.size() > kTcpMaxBuffered) {  // a client that sends but never reads
    close_connection(id);
    return;
  }
  const bool want_write = !c.out.empty();
  if (want_write != c.want_write) {
    c.want_write = want_write;
    epoll_event ev{.events = EPOLLIN | (want_write ? EPOLLOUT : 0u),
                   .data = {.u64 = tag_of(kConn, id)}};
    ::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
  }
}

void Server::Impl::on_connection(uint64_t id, uint32_t events, uint64_t now) {
  auto it = connections.find(id);
  if (it == connections.end()) return;
  Connection& c = it->second;
  c.last_active = now;
  bool closed = (events & (EPOLLERR | EPOLLHUP)) != 0;
  if (events & EPOLLIN) {
    for (;;) {
      std::array<uint8_t, 4096> chunk;
      const ssize_t n = ::recv(c.fd.get(), chunk.data(), chunk.size(), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        closed = true;
        break;
      }
      if (n < 0) break;
      c.in.insert(c.in.end(), chunk.begin(), chunk.begin() + n);
      if (c.in.size() > 2 + kTcpLimit + 4096) break;  // handle what is there first
    }
    size_t at = 0;
    while (c.in.size() - at >= 2) {
      const size_t length = static_cast<size_t>(c.in[at] << 8 | c.in[at + 1]);
      if (c.in.size() - at - 2 < length) break;
      const std::span<const uint8_t> packet(c.in.data() + at + 2, length);
      size_t size = 0;
      const Action action =
          answer(context(true), packet, query, std::span<uint8_t>(big).subspan(2), &size);
      if (action == Action::forward) {
        Client client;
        client.address = c.peer;  // counts against this address's share of the forwarder
        client.tcp_connection = id;
        if (auto send = forwarder.start(packet, query.question_end, client, now)) {
          send_upstream(*send);
        } else {
          size = servfail_into(packet, std::span<uint8_t>(big).subspan(2));
        }
      }
      if (size > 0) queue_tcp(c, std::span<const uint8_t>(big.data() + 2, size));
      at += 2 + length;
    }
    c.in.erase(c.in.begin(), c.in.begin() + static_cast<ptrdiff_t>(at));
    if (c.in.empty()) {
      c.partial_since = 0;
    } else if (at > 0 || c.partial_since == 0) {
      c.partial_since = now;
    }
  }
  if (closed) {
    // Answers to queries already read are still sent if the socket takes them at once.
    if (!c.out.empty()) {
      (void)::send(c.fd.get(), c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    close_connection(id);
    return;
  }
  flush(id, c);
}

void Server::Impl::on_inotify() {
  alignas(inotify_event) std::array<char, 8192> buffer;
  bool names_changed = false;
  bool resolv_changed = false;
  for (;;) {
    const ssize_t n = ::read(inotify.get(), buffer.data(), buffer.size());
    if (n <= 0) break;
    for (ssize_t at = 0; at < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buffer.data() + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
      const std::string_view name = ev->len ? std::string_view(ev->name) : std::string_view();
      if (ev->mask & IN_Q_OVERFLOW) names_changed = resolv_changed = true;
      if (ev->wd == names_wd) {
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) names_changed = true;
        // IN_CREATE (asked for resolv.conf's sake) comes before the content: wait for the close.
        if (name == names_base && !(ev->mask & IN_CREATE)) names_changed = true;
      }
      for (const auto& [wd, file] : resolv_watches) {
        if (ev->wd == wd && name == file) resolv_changed = true;
      }
    }
  }
  if (resolv_changed) {
    watch_resolv_conf();  // a retargeted symlink: watch the new target's directory too
    load_resolv_conf();
  }
  if (names_changed) {
    auto loaded = load_names();
    if (!loaded) {
      if (loaded.error().kind() == ErrorKind::not_found) {
        exit = ExitReason::names_removed;
      } else {
        warn(fmt::format("{}; keeping the names read before", loaded.error().message()));
      }
    }
  }
}

void Server::Impl::on_signal() {
  signalfd_siginfo info;
  while (::read(signals.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo == SIGHUP) {
      load_resolv_conf();
      if (auto loaded = load_names(); !loaded) {
        if (loaded.error().kind() == ErrorKind::not_found) exit = ExitReason::names_removed;
      }
    } else {
      exit = ExitReason::terminated;
    }
  }
}

int Server::Impl::timeout_ms(uint64_t now) const {
  uint64_t wake = UINT64_MAX;
  if (auto deadline = forwarder.next_deadline()) wake = std::min(wake, *deadline);
  if (empty_since && o.idle_exit_seconds > 0) {
    wake = std::min(wake, *empty_since + o.idle_exit_seconds * uint64_t{1000});
  }
  if (!connections.empty()) wake = std::min(wake, now + 1000);
  if (wake == UINT64_MAX) return -1;
  return wake <= now ? 0 : static_cast<int>(std::min<uint64_t>(wake - now, 60'000));
}

void Server::Impl::housekeeping(uint64_t now) {
  while (!unreachable.empty()) {
    const uint16_t id = unreachable.back();
    unreachable.pop_back();
    forwarder.fail(id, now, resend_fn(), give_up_fn());
  }
  forwarder.expire(now, resend_fn(), give_up_fn());
  for (auto it = connections.begin(); it != connections.end();) {
    const Connection& c = it->second;
    const bool stalled = c.partial_since != 0 && now - c.partial_since > kTcpQueryMs;
    it = stalled || now - c.last_active > kTcpIdleMs ? drop_connection(it) : std::next(it);
  }
  if (empty_since && o.idle_exit_seconds > 0 &&
      now - *empty_since >= o.idle_exit_seconds * uint64_t{1000}) {
    // The engine writes names, then looks at the lock. So: let go of the lock, then read the
    // names once more. A container that started in between either found the lock free (and
    // started a new responder) or left its name for this one, which stays.
    ::flock(lock.get(), LOCK_UN);
    auto reloaded = load_names();
    if (reloaded && !empty_since && ::flock(lock.get(), LOCK_EX | LOCK_NB) == 0) return;
    exit = ExitReason::idle;
  }
}

Result<ExitReason> Server::run(const std::function<void()>& on_ready) {
  Impl& s = *impl_;
  s.epoll = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  if (!s.epoll) return Error::from_errno("epoll_create1");
  for (auto [fd, tag] : {std::pair{s.udp.get(), kUdp},
                         {s.tcp.get(), kTcpListen},
                         {s.inotify.get(), kInotify},
                         {s.signals.get(), kSignal}}) {
    epoll_event ev{.events = EPOLLIN, .data = {.u64 = tag_of(tag)}};
    if (::epoll_ctl(s.epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      return Error::from_errno("epoll_ctl add");
    }
  }
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(s.lock.get(), 0) == 0) (void)::pwrite(s.lock.get(), pid.data(), pid.size(), 0);
  if (on_ready) on_ready();

  std::array<epoll_event, 32> events;
  while (!s.exit) {
    const int n = ::epoll_wait(s.epoll.get(), events.data(), events.size(),
                               s.timeout_ms(clock::monotonic_ms()));
    if (n < 0 && errno != EINTR) return Error::from_errno("epoll_wait");
    const uint64_t now = clock::monotonic_ms();
    // Files and signals before packets: a names file renamed into place before a query was
    // sent is always what answers it.
    std::sort(events.begin(), events.begin() + std::max(n, 0),
              [](const epoll_event& a, const epoll_event& b) {
                auto rank = [](uint64_t t) {
                  return (t >> 56) == kInotify || (t >> 56) == kSignal ? 0 : 1;
                };
                return rank(a.data.u64) < rank(b.data.u64);
              });
    for (int i = 0; i < n && !s.exit; ++i) {
      const uint64_t t = events[i].data.u64;
      switch (static_cast<Tag>(t >> 56)) {
        case kInotify:
          s.on_inotify();
          break;
        case kSignal:
          s.on_signal();
          break;
        case kUdp:
          s.on_udp(now);
          break;
        case kTcpListen:
          s.on_accept(now);
          break;
        case kDatagram:
          s.on_datagram(static_cast<uint16_t>(t), now);
          break;
        case kStream:
          s.on_stream(static_cast<uint16_t>(t), events[i].events, now);
          break;
        case kConn:
          s.on_connection(t & ((1ull << 56) - 1), events[i].events, now);
          break;
      }
    }
    if (!s.exit) s.housekeeping(clock::monotonic_ms());
  }
  return *s.exit;
}

}  // namespace berth::net::dns
