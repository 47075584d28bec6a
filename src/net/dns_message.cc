#include "net/dns_message.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace berth::net::dns {
namespace {

uint16_t get16(std::span<const uint8_t> p, size_t at) {
  return static_cast<uint16_t>(p[at] << 8 | p[at + 1]);
}
uint32_t get32(std::span<const uint8_t> p, size_t at) {
  return static_cast<uint32_t>(get16(p, at)) << 16 | get16(p, at + 2);
}
void put16(std::span<uint8_t> p, size_t at, uint16_t v) {
  p[at] = static_cast<uint8_t>(v >> 8);
  p[at + 1] = static_cast<uint8_t>(v);
}
void put32(std::span<uint8_t> p, size_t at, uint32_t v) {
  put16(p, at, static_cast<uint16_t>(v >> 16));
  put16(p, at + 2, static_cast<uint16_t>(v));
}

constexpr uint16_t kOpcodeMask = 0x7800;

// Skips a name in the additional section, where a compression pointer may end it. Returns the
// offset just past the name.
std::optional<size_t> skip_name(std::span<const uint8_t> p, size_t at) {
  size_t wire = 0;
  for (;;) {
    if (at >= p.size()) return std::nullopt;
    const uint8_t len = p[at];
    if ((len & 0xC0) == 0xC0) return at + 2 <= p.size() ? std::optional(at + 2) : std::nullopt;
    if (len & 0xC0) return std::nullopt;  // the obsolete extended label types
    at += 1;
    wire += len + 1u;
    if (wire > kMaxNameWire) return std::nullopt;
    if (len == 0) return at;
    if (len > p.size() - at) return std::nullopt;
    at += len;
  }
}

}  // namespace

ParseOutcome parse_query(std::span<const uint8_t> p, Query& q) {
  q.name.clear();
  q.name_is_plain = true;
  q.qtype = q.qclass = 0;
  q.question_end = 0;
  q.edns = false;
  q.edns_version = 0;
  q.udp_payload = kPlainUdpLimit;
  if (p.size() < kHeaderSize) return {Verdict::drop};
  q.id = get16(p, 0);
  q.flags = get16(p, 2);
  if (q.flags & kFlagQr) return {Verdict::drop};
  if (q.flags & kOpcodeMask) return {Verdict::reject, Rcode::notimp};
  const ParseOutcome formerr{Verdict::reject, Rcode::formerr};
  if (get16(p, 4) != 1 || get16(p, 6) != 0 || get16(p, 8) != 0) return formerr;
  const uint16_t additional = get16(p, 10);

  // QNAME: plain labels only; no query needs a compression pointer in its only question.
  size_t at = kHeaderSize;
  size_t wire = 0;
  for (;;) {
    if (at >= p.size()) return formerr;
    const uint8_t len = p[at++];
    if (len & 0xC0) return formerr;
    wire += len + 1u;
    if (wire > kMaxNameWire) return formerr;
    if (len == 0) break;
    if (len > p.size() - at) return formerr;
    if (!q.name.empty()) q.name += '.';
    for (size_t i = 0; i < len; ++i) {
      auto c = static_cast<char>(p[at + i]);
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      } else if (c == '.' || p[at + i] <= 0x20 || p[at + i] == 0x7f) {
        q.name_is_plain = false;  // "a.b" as one label must never match the two labels a, b
      }
      q.name += c;
    }
    at += len;
  }
  if (p.size() - at < 4) return formerr;
  q.qtype = get16(p, at);
  q.qclass = get16(p, at + 2);
  at += 4;
  q.question_end = at;

  // The additional section: an OPT record (EDNS), maybe others (TSIG, skipped).
  for (uint16_t i = 0; i < additional; ++i) {
    const size_t name_at = at;
    auto after_name = skip_name(p, at);
    if (!after_name || p.size() - *after_name < 10) return formerr;
    at = *after_name;
    const uint16_t type = get16(p, at);
    const uint16_t rr_class = get16(p, at + 2);
    const uint32_t ttl = get32(p, at + 4);
    const uint16_t rdlength = get16(p, at + 8);
    at += 10;
    if (rdlength > p.size() - at) return formerr;
    if (type == rrtype::kOpt) {
      // RFC 6891 6.1.1: one OPT, owned by the root.
      if (q.edns || *after_name - name_at != 1) return formerr;
      q.edns = true;
      q.udp_payload = std::max<uint16_t>(rr_class, kPlainUdpLimit);
      q.edns_version = static_cast<uint8_t>(ttl >> 16);
    }
    at += rdlength;
  }
  return {Verdict::query};
}

ResponseBuilder::ResponseBuilder(std::span<uint8_t> out, std::span<const uint8_t> packet,
                                 const Query& query, bool authoritative, bool recursion_available)
    : out_(out), query_(query) {
  constexpr size_t kOptSize = 11;
  limit_ = out.size();
  if (query.edns) limit_ = limit_ > kOptSize ? limit_ - kOptSize : 0;
  if (limit_ < kHeaderSize) {  // callers pass at least 512 bytes; stay safe regardless
    limit_ = 0;
    return;
  }
  uint16_t flags = kFlagQr | (query.flags & kFlagRd);
  if (authoritative) flags |= kFlagAa;
  if (recursion_available) flags |= kFlagRa;
  put16(out_, 0, query.id);
  put16(out_, 2, flags);
  std::fill(out_.begin() + 4, out_.begin() + kHeaderSize, 0);
  size_ = kHeaderSize;
  const size_t end = query.question_end;
  const size_t question = end >= kHeaderSize ? end - kHeaderSize : 0;
  if (question > 0 && end <= packet.size() && question <= limit_ - size_) {
    std::memcpy(out_.data() + size_, packet.data() + kHeaderSize, question);
    size_ += question;
    put16(out_, 4, 1);
  }
}

bool ResponseBuilder::begin_answer(uint16_t type, uint32_t ttl, size_t rdata_size) {
  if (truncated_ || size_ == kHeaderSize) return false;
  if (size_ + 12 + rdata_size > limit_) {
    truncated_ = true;
    return false;
  }
  put16(out_, size_, 0xC000 | kHeaderSize);  // the name: a pointer to the question's
  put16(out_, size_ + 2, type);
  put16(out_, size_ + 4, kClassIn);
  put32(out_, size_ + 6, ttl);
  put16(out_, size_ + 10, static_cast<uint16_t>(rdata_size));
  size_ += 12;
  ++answers_;
  return true;
}

bool ResponseBuilder::add_a(uint32_t address_be, uint32_t ttl) {
  if (!begin_answer(rrtype::kA, ttl, 4)) return false;
  std::memcpy(out_.data() + size_, &address_be, 4);
  size_ += 4;
  return true;
}

bool ResponseBuilder::add_ptr(std::string_view dotted_name, uint32_t ttl) {
  std::array<uint8_t, kMaxNameWire> name{};
  auto n = encode_name(dotted_name, name);
  if (!n || !begin_answer(rrtype::kPtr, ttl, *n)) return false;
  std::memcpy(out_.data() + size_, name.data(), *n);
  size_ += *n;
  return true;
}

size_t ResponseBuilder::finish() {
  if (limit_ == 0) return 0;
  uint16_t flags = get16(out_, 2);
  if (truncated_) {
    size_ = query_.question_end <= size_ ? query_.question_end : kHeaderSize;
    answers_ = 0;
    flags |= kFlagTc;
  }
  const auto rcode = static_cast<uint16_t>(rcode_);
  put16(out_, 2, static_cast<uint16_t>((flags & 0xFFF0) | (rcode & 0xF)));
  put16(out_, 6, static_cast<uint16_t>(answers_));
  if (query_.edns) {
    out_[size_] = 0;  // the root
    put16(out_, size_ + 1, rrtype::kOpt);
    put16(out_, size_ + 3, kOurUdpPayload);
    put32(out_, size_ + 5, static_cast<uint32_t>(rcode >> 4) << 24);  // extended rcode, version 0
    put16(out_, size_ + 9, 0);
    size_ += 11;
    put16(out_, 10, 1);
  }
  return size_;
}

size_t build_reject(const Query& query, Rcode rcode, std::span<uint8_t> out) {
  if (out.size() < kHeaderSize) return 0;
  std::fill(out.begin(), out.begin() + kHeaderSize, 0);
  put16(out, 0, query.id);
  put16(out, 2,
        static_cast<uint16_t>(kFlagQr | (query.flags & (kOpcodeMask | kFlagRd)) |
                              (static_cast<uint16_t>(rcode) & 0xF)));
  return kHeaderSize;
}

std::optional<size_t> encode_name(std::string_view dotted, std::span<uint8_t> out) {
  if (!dotted.empty() && dotted.back() == '.') dotted.remove_suffix(1);
  size_t at = 0;
  while (!dotted.empty()) {
    const size_t dot = dotted.find('.');
    const std::string_view label = dotted.substr(0, dot);
    if (label.empty() || label.size() > 63 || at + 1 + label.size() >= out.size()) {
      return std::nullopt;
    }
    out[at++] = static_cast<uint8_t>(label.size());
    std::memcpy(out.data() + at, label.data(), label.size());
    at += label.size();
    dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
    if (dot != std::string_view::npos && dotted.empty()) return std::nullopt;  // "a..b" or "a.."
  }
  if (at >= out.size() || at + 1 > kMaxNameWire) return std::nullopt;
  out[at++] = 0;
  return at;
}

std::optional<uint32_t> parse_reverse_ipv4(std::string_view name) {
  constexpr std::string_view kSuffix = ".in-addr.arpa";
  if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) return std::nullopt;
  name.remove_suffix(kSuffix.size());
  std::array<uint8_t, 4> bytes{};
  for (int i = 3; i >= 0; --i) {
    const size_t dot = name.find('.');
    const std::string_view part = name.substr(0, dot);
    if (part.empty() || part.size() > 3 || (i == 0) != (dot == std::string_view::npos)) {
      return std::nullopt;
    }
    unsigned value = 0;
    for (char c : part) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 255) return std::nullopt;
    bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(value);
    name = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  }
  uint32_t address;
  std::memcpy(&address, bytes.data(), 4);
  return address;
}

uint16_t message_id(std::span<const uint8_t> packet) { return get16(packet, 0); }
void set_message_id(std::span<uint8_t> packet, uint16_t id) { put16(packet, 0, id); }
uint16_t message_flags(std::span<const uint8_t> packet) { return get16(packet, 2); }

}  // namespace berth::net::dns
