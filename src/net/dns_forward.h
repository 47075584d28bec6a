// net/dns_forward.h — relaying queries berth-dns cannot answer to the upstream nameservers of
// a resolv.conf. Pure bookkeeping (no sockets): the server sends what this returns.
//
// Each relayed query gets a fresh random id that no other query in flight has; the upstream's
// answer is accepted only from the server asked, with that id and the same question, and goes
// back to its client under the client's own id. A server that does not answer within the
// timeout, or answers SERVFAIL/REFUSED, is followed by the next; when none is left the client
// gets SERVFAIL.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace berth::net::dns {

struct Upstream {
  sockaddr_storage address{};
  socklen_t length = 0;
  std::string text;  // "192.0.2.53" for messages
};

// The `nameserver` lines of a resolv.conf (IPv4 and IPv6, port `port`), in order. Addresses in
// `exclude` (berth-dns's own) are left out so that it never forwards to itself; a bad line is
// reported in `problems` ("FILE:LINE: ...") and skipped.
std::vector<Upstream> parse_resolv_conf(std::string_view text, std::string_view source,
                                        const std::vector<std::string>& exclude,
                                        std::vector<std::string>& problems, uint16_t port = 53);

// Who asked: a UDP address, or a TCP connection of the server (tcp_connection != 0).
struct Client {
  sockaddr_storage address{};
  socklen_t length = 0;
  uint64_t tcp_connection = 0;
};

// A peer's IP address as a key (the port left out): what per-client limits count by.
std::string address_key(const sockaddr_storage& address);

class Forwarder {
 public:
  // At most `max_in_flight` queries are in flight, `max_per_client` (0: no limit) of them from
  // one client address, so one client asking for names that need forwarding cannot take every
  // slot from the others.
  explicit Forwarder(std::vector<Upstream> upstreams, uint64_t timeout_ms = 2000,
                     size_t max_in_flight = 4096, size_t max_per_client = 256);

  // A new list (resolv.conf changed): queries in flight go on with the new list.
  void set_upstreams(std::vector<Upstream> upstreams);
  bool has_upstreams() const { return !upstreams_.empty(); }

  struct Send {
    std::span<const uint8_t> packet;  // valid until the next call
    const Upstream* upstream;
    // The client asked over TCP: ask over TCP too, the answer may not fit a datagram.
    bool over_tcp;
  };
  // Takes over `query` (a parsed query; question ends at `question_end`). Nullopt when there is
  // no upstream or too many queries are in flight, in all or from this client (the caller
  // answers SERVFAIL).
  std::optional<Send> start(std::span<const uint8_t> query, size_t question_end,
                            const Client& client, uint64_t now_ms);

  struct Relay {
    Client client;
    std::span<const uint8_t> packet;  // the answer with the client's id, valid until next call
  };
  // An upstream's answer (rewritten in place). Returns the client to send it to; nullopt when it
  // is ignored (unknown id, wrong server, other question) or `retry` was set to a next server.
  std::optional<Relay> on_response(std::span<uint8_t> packet, const sockaddr* from,
                                   socklen_t from_length, uint64_t now_ms,
                                   std::optional<Send>& retry);

  using Resend = std::function<void(const Send&)>;
  // `id` is ours (the one upstreams saw); `original` is the client's query under its own id.
  using GiveUp = std::function<void(uint16_t id, const Client&, std::span<const uint8_t> original,
                                    size_t question_end)>;
  // Queries past their deadline: `resend` for each one a next server can try, `give_up` for each
  // no server answered (the caller answers SERVFAIL).
  void expire(uint64_t now_ms, const Resend& resend, const GiveUp& give_up);
  // The server asked for query `id` is unreachable (ICMP port or host unreachable): move on now
  // rather than at the timeout.
  void fail(uint16_t id, uint64_t now_ms, const Resend& resend, const GiveUp& give_up);

  std::optional<uint64_t> next_deadline() const;
  size_t in_flight() const { return pending_.size(); }

 private:
  struct Pending {
    Client client;
    uint16_t client_id;
    std::vector<uint8_t> packet;  // carries our id
    size_t question_end;
    size_t server;
    uint64_t deadline;
  };
  uint16_t fresh_id();
  // Removes a query from the table and from its client's count.
  void forget(std::unordered_map<uint16_t, Pending>::iterator it);
  std::optional<Send> advance(uint16_t id, Pending& pending, uint64_t now_ms);
  void move_on(std::unordered_map<uint16_t, Pending>::iterator it, uint64_t now_ms,
               const Resend& resend, const GiveUp& give_up);

  std::vector<Upstream> upstreams_;
  uint64_t timeout_ms_;
  size_t max_in_flight_;
  size_t max_per_client_;
  std::unordered_map<uint16_t, Pending> pending_;
  std::unordered_map<std::string, size_t> per_client_;  // queries in flight by address_key
  // (deadline, id) in the order they were set; stale entries are skipped when popped (all
  // timeouts are equal, so this stays sorted).
  std::deque<std::pair<uint64_t, uint16_t>> deadlines_;
  uint64_t random_state_;
  std::vector<uint8_t> scratch_;
};

}  // namespace berth::net::dns
