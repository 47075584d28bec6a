// net/dns_answer.h — what berth-dns does with one query: answer it from the names table, reject
// it, or leave it to the forwarder. Pure (no sockets), so every case is unit-tested.
//
//   A/ANY for a known name   -> its records, rotated (round robin), AA set
//   other types, known name  -> NOERROR with no answers (no odd resolver fallbacks)
//   PTR of a known address   -> the first name written for it
//   anything else            -> forward, or REFUSED when there is no upstream
//   malformed                -> FORMERR; another opcode -> NOTIMP; EDNS version > 0 -> BADVERS
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "net/dns_message.h"
#include "net/dns_names.h"

namespace berth::net::dns {

enum class Action { reply, forward, drop };

struct AnswerContext {
  NameTable& names;
  bool can_forward = false;  // there is an upstream nameserver
  uint32_t ttl = 0;
  bool tcp = false;  // the reply may be up to 65535 bytes, not the client's UDP limit
};

// Handles `packet`. For Action::reply, out[0, *out_size) is the reply; `out` needs at least
// kPlainUdpLimit bytes (kTcpLimit for the largest TCP answers). `query` is reusable scratch; for
// Action::forward it describes the query to relay.
Action answer(const AnswerContext& context, std::span<const uint8_t> packet, Query& query,
              std::span<uint8_t> out, size_t* out_size);

}  // namespace berth::net::dns
