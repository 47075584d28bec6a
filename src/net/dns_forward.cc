#include "net/dns_forward.h"

#include <arpa/inet.h>
#include <fmt/core.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/random.h>

#include <cstring>
#include <ctime>

#include "net/detail/dns_text.h"
#include "net/dns_message.h"

namespace berth::net::dns {
namespace {

std::optional<Upstream> upstream_of(std::string_view text, uint16_t port) {
  Upstream u;
  u.text = std::string(text);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&u.address);
  if (::inet_pton(AF_INET, u.text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    u.length = sizeof(sockaddr_in);
    return u;
  }
  // IPv6, maybe with a zone: "fe80::1%eth0".
  std::string host = u.text;
  unsigned scope = 0;
  if (const size_t percent = host.find('%'); percent != std::string::npos) {
    scope = ::if_nametoindex(host.c_str() + percent + 1);
    if (scope == 0) return std::nullopt;
    host.resize(percent);
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&u.address);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) != 1) return std::nullopt;
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  v6->sin6_scope_id = scope;
  u.length = sizeof(sockaddr_in6);
  return u;
}

bool same_address(const Upstream& u, const sockaddr* from, socklen_t length) {
  if (from == nullptr || from->sa_family != u.address.ss_family) return false;
  if (from->sa_family == AF_INET && length >= sizeof(sockaddr_in)) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&u.address);
    const auto* b = reinterpret_cast<const sockaddr_in*>(from);
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  if (from->sa_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&u.address);
    const auto* b = reinterpret_cast<const sockaddr_in6*>(from);
    return a->sin6_port == b->sin6_port &&
           std::memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(in6_addr)) == 0;
  }
  return false;
}

uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + 32) : c; }

}  // namespace

std::vector<Upstream> parse_resolv_conf(std::string_view text, std::string_view source,
                                        const std::vector<std::string>& exclude,
                                        std::vector<std::string>& problems, uint16_t port) {
  std::vector<Upstream> out;
  size_t line_no = 0;
  std::string_view line;
  while (detail::take_line(text, line, "#;")) {
    ++line_no;
    const auto fields = detail::fields_of(line);
    if (fields.empty() || fields[0] != "nameserver") continue;  // search, options: not ours
    const std::string_view value = fields.size() > 1 ? fields[1] : std::string_view();
    auto upstream = value.empty() ? std::nullopt : upstream_of(value, port);
    if (!upstream) {
      problems.push_back(fmt::format("{}:{}: '{}' is not an IP address; nameserver skipped", source,
                                     line_no, value));
      continue;
    }
    bool self = false;
    for (const auto& e : exclude) self = self || e == upstream->text;
    if (!self) out.push_back(std::move(*upstream));
  }
  return out;
}

std::string address_key(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(a).sin_addr;
    return std::string(reinterpret_cast<const char*>(&in), sizeof in);
  }
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a).sin6_addr;
  return std::string(reinterpret_cast<const char*>(&in6), sizeof in6);
}

Forwarder::Forwarder(std::vector<Upstream> upstreams, uint64_t timeout_ms, size_t max_in_flight,
                     size_t max_per_client)
    : upstreams_(std::move(upstreams)),
      timeout_ms_(timeout_ms),
      max_in_flight_(max_in_flight),
      max_per_client_(max_per_client) {
  // Unpredictable ids make a spoofed upstream answer a guess (RFC 5452).
  if (::getrandom(&random_state_, sizeof random_state_, 0) != sizeof random_state_) {
    random_state_ = static_cast<uint64_t>(::time(nullptr)) ^ 0x9E3779B97F4A7C15ull;
  }
  random_state_ |= 1;
}

void Forwarder::set_upstreams(std::vector<Upstream> upstreams) {
  upstreams_ = std::move(upstreams);
}

uint16_t Forwarder::fresh_id() {
  for (;;) {  // xorshift64*; at most max_in_flight_ (< 65536) ids are taken
    random_state_ ^= random_state_ >> 12;
    random_state_ ^= random_state_ << 25;
    random_state_ ^= random_state_ >> 27;
    const auto id = static_cast<uint16_t>((random_state_ * 0x2545F4914F6CDD1Dull) >> 48);
    if (!pending_.contains(id)) return id;
  }
}

std::optional<Forwarder::Send> Forwarder::start(std::span<const uint8_t> query, size_t question_end,
                                                const Client& client, uint64_t now_ms) {
  if (upstreams_.empty() || pending_.size() >= max_in_flight_ || query.size() < kHeaderSize ||
      question_end > query.size()) {
    return std::nullopt;
  }
  std::string key = address_key(client.address);
  if (auto share = per_client_.find(key);
      max_per_client_ && share != per_client_.end() && share->second >= max_per_client_) {
    return std::nullopt;
  }
  ++per_client_[std::move(key)];
  const uint16_t id = fresh_id();
  Pending p{
      client, message_id(query),   std::vector<uint8_t>(query.begin(), query.end()), question_end,
      0,      now_ms + timeout_ms_};
  set_message_id(p.packet, id);
  deadlines_.emplace_back(p.deadline, id);
  auto& stored = pending_.emplace(id, std::move(p)).first->second;
  return Send{stored.packet, &upstreams_[0], client.tcp_connection != 0};
}

std::optional<Forwarder::Send> Forwarder::advance(uint16_t id, Pending& pending, uint64_t now_ms) {
  if (++pending.server >= upstreams_.size()) return std::nullopt;
  pending.deadline = now_ms + timeout_ms_;
  deadlines_.emplace_back(pending.deadline, id);
  return Send{pending.packet, &upstreams_[pending.server], pending.client.tcp_connection != 0};
}

std::optional<Forwarder::Relay> Forwarder::on_response(std::span<uint8_t> packet,
                                                       const sockaddr* from, socklen_t from_length,
                                                       uint64_t now_ms,
                                                       std::optional<Send>& retry) {
  retry.reset();
  if (packet.size() < kHeaderSize) return std::nullopt;
  auto it = pending_.find(message_id(packet));
  if (it == pending_.end()) return std::nullopt;
  Pending& p = it->second;
  if (p.server >= upstreams_.size() || !same_address(upstreams_[p.server], from, from_length)) {
    return std::nullopt;
  }
  const uint16_t flags = message_flags(packet);
  const auto rcode = static_cast<Rcode>(flags & 0xF);
  const uint16_t questions = static_cast<uint16_t>(packet[4] << 8 | packet[5]);
  if (!(flags & kFlagQr)) return std::nullopt;
  if (questions == 0) {
    if (rcode == Rcode::noerror) return std::nullopt;  // an error about the query is fine
  } else {
    if (questions != 1 || packet.size() < p.question_end) return std::nullopt;
    for (size_t i = kHeaderSize; i < p.question_end; ++i) {
      if (lower(packet[i]) != lower(p.packet[i])) return std::nullopt;
    }
  }
  if ((rcode == Rcode::servfail || rcode == Rcode::refused) && p.server + 1 < upstreams_.size()) {
    retry = advance(it->first, p, now_ms);
    return std::nullopt;
  }
  set_message_id(packet, p.client_id);
  Relay relay{p.client, packet};
  forget(it);
  return relay;
}

void Forwarder::move_on(std::unordered_map<uint16_t, Pending>::iterator it, uint64_t now_ms,
                        const Resend& resend, const GiveUp& give_up) {
  const uint16_t id = it->first;
  if (auto next = advance(id, it->second, now_ms)) {
    resend(*next);
    return;
  }
  scratch_ = std::move(it->second.packet);
  set_message_id(scratch_, it->second.client_id);
  const Client client = it->second.client;
  const size_t question_end = it->second.question_end;
  forget(it);
  give_up(id, client, scratch_, question_end);
}

void Forwarder::forget(std::unordered_map<uint16_t, Pending>::iterator it) {
  if (auto share = per_client_.find(address_key(it->second.client.address));
      share != per_client_.end() && --share->second == 0) {
    per_client_.erase(share);
  }
  pending_.erase(it);
}

void Forwarder::expire(uint64_t now_ms, const Resend& resend, const GiveUp& give_up) {
  while (!deadlines_.empty() && deadlines_.front().first <= now_ms) {
    const auto [deadline, id] = deadlines_.front();
    deadlines_.pop_front();
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.deadline != deadline) continue;  // answered or moved on
    move_on(it, now_ms, resend, give_up);
  }
}

void Forwarder::fail(uint16_t id, uint64_t now_ms, const Resend& resend, const GiveUp& give_up) {
  // The deadline entry of the failed attempt stays queued and is skipped as stale later.
  if (auto it = pending_.find(id); it != pending_.end()) move_on(it, now_ms, resend, give_up);
}

std::optional<uint64_t> Forwarder::next_deadline() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.front().first;
}

}  // namespace berth::net::dns
