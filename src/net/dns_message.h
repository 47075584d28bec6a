// net/dns_message.h — DNS messages (RFC 1035, EDNS0 from RFC 6891) as berth-dns reads and
// writes them: the header and single question of a query, and responses built into a caller's
// buffer. Every read is bounds-checked: a truncated or garbage packet yields a drop or FORMERR,
// never a read past its end. Relayed upstream answers are not parsed beyond header and question.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace berth::net::dns {

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kPlainUdpLimit = 512;     // a reply without EDNS (RFC 1035 4.2.1)
inline constexpr uint16_t kOurUdpPayload = 1232;  // what we announce and answer up to over UDP
inline constexpr size_t kTcpLimit = 65535;
inline constexpr size_t kMaxNameWire = 255;  // RFC 1035 2.3.4

enum class Rcode : uint16_t {  // 4 bits in the header, 12 with EDNS's extended bits
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5,
  badvers = 16,
};

namespace rrtype {
inline constexpr uint16_t kA = 1;
inline constexpr uint16_t kPtr = 12;
inline constexpr uint16_t kAaaa = 28;
inline constexpr uint16_t kOpt = 41;
inline constexpr uint16_t kAny = 255;
}  // namespace rrtype
inline constexpr uint16_t kClassIn = 1;
inline constexpr uint16_t kClassAny = 255;

// Header flag bits (RFC 1035 4.1.1).
inline constexpr uint16_t kFlagQr = 0x8000;
inline constexpr uint16_t kFlagAa = 0x0400;
inline constexpr uint16_t kFlagTc = 0x0200;
inline constexpr uint16_t kFlagRd = 0x0100;
inline constexpr uint16_t kFlagRa = 0x0080;

// What to do with an incoming packet.
enum class Verdict {
  query,   // a well-formed standard query: every field of Query is set
  reject,  // answer with the rcode (FORMERR, NOTIMP): only Query::id and flags are set
  drop,    // no reply: shorter than a header, or itself a response (QR set)
};

struct Query {
  uint16_t id = 0;
  uint16_t flags = 0;         // as received (RD and the opcode are echoed)
  std::string name;           // lower case, dotted, no trailing dot; "" is the root
  bool name_is_plain = true;  // false when a label holds '.' or a control byte: never local
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  size_t question_end = 0;  // [kHeaderSize, question_end) is the question as received
  bool edns = false;
  uint8_t edns_version = 0;
  uint16_t udp_payload = kPlainUdpLimit;  // the client's UDP limit (at least 512)
};

struct ParseOutcome {
  Verdict verdict;
  Rcode rcode = Rcode::noerror;
};

// Reads a query. `query` is scratch the caller may reuse (its name keeps its capacity).
ParseOutcome parse_query(std::span<const uint8_t> packet, Query& query);

// Builds a response into `out`; the size of `out` is the limit (512, the client's EDNS payload,
// or 65535 over TCP). The question is copied as received, so a client's 0x20 case survives.
class ResponseBuilder {
 public:
  ResponseBuilder(std::span<uint8_t> out, std::span<const uint8_t> packet, const Query& query,
                  bool authoritative, bool recursion_available);

  void set_rcode(Rcode rcode) { rcode_ = rcode; }
  // Add answers naming the question (a compression pointer to it). False when the answer no
  // longer fits: the response is then sent with TC set and no answers (the client retries
  // over TCP).
  bool add_a(uint32_t address_be, uint32_t ttl);
  bool add_ptr(std::string_view dotted_name, uint32_t ttl);
  // Finishes the header counts and the OPT record (when the query had EDNS); returns the size.
  size_t finish();

 private:
  bool begin_answer(uint16_t type, uint32_t ttl, size_t rdata_size);

  std::span<uint8_t> out_;
  const Query& query_;
  size_t size_ = 0;
  size_t limit_ = 0;  // out_.size() minus the room the OPT record needs
  size_t answers_ = 0;
  bool truncated_ = false;
  Rcode rcode_ = Rcode::noerror;
};

// A header-only reply to a packet parse_query rejected (id, opcode and RD echoed). `out` must
// hold kHeaderSize bytes; returns kHeaderSize.
size_t build_reject(const Query& query, Rcode rcode, std::span<uint8_t> out);

// Writes `dotted` ("web.example", trailing dot optional) as wire labels. Nullopt when a label
// is empty or longer than 63 bytes, the name longer than 255, or `out` too small.
std::optional<size_t> encode_name(std::string_view dotted, std::span<uint8_t> out);

// "4.3.2.10.in-addr.arpa" -> 10.2.3.4 in network byte order; nullopt for anything else.
std::optional<uint32_t> parse_reverse_ipv4(std::string_view lower_name);

// Header fields of any message (the caller has checked size >= kHeaderSize).
uint16_t message_id(std::span<const uint8_t> packet);
void set_message_id(std::span<uint8_t> packet, uint16_t id);
uint16_t message_flags(std::span<const uint8_t> packet);

}  // namespace berth::net::dns
