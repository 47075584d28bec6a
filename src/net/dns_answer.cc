#include "net/dns_answer.h"

#include <algorithm>

namespace berth::net::dns {

Action answer(const AnswerContext& context, std::span<const uint8_t> packet, Query& query,
              std::span<uint8_t> out, size_t* out_size) {
  *out_size = 0;
  const ParseOutcome parsed = parse_query(packet, query);
  if (parsed.verdict == Verdict::drop) return Action::drop;
  if (parsed.verdict == Verdict::reject) {
    *out_size = build_reject(query, parsed.rcode, out);
    return Action::reply;
  }

  size_t limit = kTcpLimit;
  if (!context.tcp) {
    limit = query.edns ? std::min<size_t>(query.udp_payload, kOurUdpPayload) : kPlainUdpLimit;
  }
  const auto reply_space = out.first(std::min(limit, out.size()));
  if (query.edns && query.edns_version > 0) {
    ResponseBuilder reply(reply_space, packet, query, false, context.can_forward);
    reply.set_rcode(Rcode::badvers);
    *out_size = reply.finish();
    return Action::reply;
  }

  if (query.name_is_plain && (query.qclass == kClassIn || query.qclass == kClassAny)) {
    if (auto records = context.names.find(query.name)) {
      ResponseBuilder reply(reply_space, packet, query, true, context.can_forward);
      if (query.qtype == rrtype::kA || query.qtype == rrtype::kAny) {
        const auto& addresses = *records->addresses;
        for (size_t i = 0; i < addresses.size(); ++i) {
          if (!reply.add_a(addresses[(records->first + i) % addresses.size()], context.ttl)) break;
        }
      }
      *out_size = reply.finish();
      return Action::reply;
    }
    if (query.qtype == rrtype::kPtr) {
      auto address = parse_reverse_ipv4(query.name);
      const std::string* name = address ? context.names.name_of(*address) : nullptr;
      if (name) {
        ResponseBuilder reply(reply_space, packet, query, true, context.can_forward);
        reply.add_ptr(*name, context.ttl);
        *out_size = reply.finish();
        return Action::reply;
      }
    }
  }
  if (context.can_forward) return Action::forward;
  ResponseBuilder reply(reply_space, packet, query, false, false);
  reply.set_rcode(Rcode::refused);
  *out_size = reply.finish();
  return Action::reply;
}

}  // namespace berth::net::dns
