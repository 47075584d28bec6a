// dns_forward: berth-dns relaying queries to upstream nameservers (net/dns_forward.h): hostile
// upstream answers (ids, questions, rcodes, truncation), timeouts, ICMP failures and resolv.conf
// changes, in any order. The input is a list of steps: [op][length, 2 bytes][bytes].
#include <netinet/in.h>

#include "fuzz_util.h"
#include "net/dns_forward.h"
#include "net/dns_message.h"

namespace {

using namespace berth::net::dns;

std::vector<Upstream> upstreams(std::string_view text) {
  std::vector<std::string> problems;
  return parse_resolv_conf(text, "resolv.conf", {"10.89.0.1"}, problems);
}

Client client_from(uint8_t n) {
  Client c;
  auto* in = reinterpret_cast<sockaddr_in*>(&c.address);
  in->sin_family = AF_INET;
  in->sin_port = htons(static_cast<uint16_t>(1000 + n));
  in->sin_addr.s_addr = htonl(0x0a590000u + n);
  c.length = sizeof(sockaddr_in);
  c.tcp_connection = n & 1 ? n : 0;
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<Upstream> list = upstreams("nameserver 192.0.2.1\nnameserver 192.0.2.2\n");
  Forwarder forwarder(list, 2000, 8);
  std::vector<Upstream> current = list;
  uint64_t now = 0;
  std::optional<Forwarder::Send> last;
  std::vector<uint8_t> last_packet;
  Forwarder::Resend resend = [&](const Forwarder::Send& s) {
    last = s;
    last_packet.assign(s.packet.begin(), s.packet.end());
  };
  Forwarder::GiveUp give_up = [](uint16_t, const Client&, std::span<const uint8_t>, size_t) {};
  Query query;
  while (size >= 3) {
    uint8_t op = data[0];
    size_t length = std::min<size_t>(size - 3, data[1] | (data[2] << 8));
    std::vector<uint8_t> bytes(data + 3, data + 3 + length);
    data += 3 + length;
    size -= 3 + length;
    switch (op % 7) {
      case 0: {  // a client's query
        if (parse_query(bytes, query).verdict != Verdict::query) break;
        if (auto send = forwarder.start(bytes, query.question_end, client_from(op), now)) {
          last = send;
          last_packet.assign(send->packet.begin(), send->packet.end());
        }
        break;
      }
      case 1:
      case 2: {  // an answer from an upstream, as sent, or with the id of the last query sent
        const Upstream& from = current.empty() ? list[0] : current[op % current.size()];
        if (op & 0x80 && last && bytes.size() >= 2 && last_packet.size() >= 2) {
          bytes[0] = last_packet[0];
          bytes[1] = last_packet[1];
        }
        const Upstream& to = op & 0x40 && last ? *last->upstream : from;
        std::optional<Forwarder::Send> retry;
        auto relay = forwarder.on_response(bytes, reinterpret_cast<const sockaddr*>(&to.address),
                                           to.length, now, retry);
        if (relay && relay->packet.size() != bytes.size())
          berth::fuzz::violated("a relayed answer changed size");
        if (retry) resend(*retry);
        break;
      }
      case 3:  // time passes
        now += bytes.empty() ? 1 : bytes[0] * 100;
        forwarder.expire(now, resend, give_up);
        break;
      case 4:  // ICMP unreachable for a query id
        if (bytes.size() >= 2) forwarder.fail(static_cast<uint16_t>(bytes[0] << 8 | bytes[1]), now, resend, give_up);
        break;
      case 5:  // resolv.conf changed
        current = upstreams(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        forwarder.set_upstreams(current);
        if (current.empty()) current = list;
        last.reset();  // its upstream pointer went with the old list
        break;
      case 6:
        (void)forwarder.next_deadline();
        break;
    }
  }
  return 0;
}
