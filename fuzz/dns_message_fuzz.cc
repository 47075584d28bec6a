// dns_message: a query packet as berth-dns receives it from a container (net/dns_answer.h
// answer, over net/dns_message.h parse_query and ResponseBuilder), answered from a names table
// over UDP (into a buffer of exactly the server's size, so ASan sees any overrun) and TCP.
#include <vector>

#include "fuzz_util.h"
#include "net/dns_answer.h"
#include "net/dns_message.h"
#include "net/dns_names.h"

namespace {
berth::net::dns::NameTable& names() {
  static berth::net::dns::NameTable table = [] {
    std::vector<std::string> problems;
    std::string text = "web 10.89.0.2\nweb 10.89.0.3\ndb.example 10.89.0.4\n";
    for (int i = 0; i < 40; ++i) text += "many 10.90.0." + std::to_string(i) + "\n";
    return berth::net::dns::NameTable::parse(text, "names", problems);
  }();
  return table;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth::net::dns;
  std::span<const uint8_t> packet(data, size);
  Query query;
  for (bool tcp : {false, true}) {
    std::vector<uint8_t> out(tcp ? kTcpLimit : kOurUdpPayload);
    AnswerContext context{names(), /*can_forward=*/!tcp, 600, tcp};
    size_t written = 0;
    Action action = answer(context, packet, query, out, &written);
    if (written > out.size()) berth::fuzz::violated("reply larger than its buffer");
    if (action == Action::reply && written < kHeaderSize)
      berth::fuzz::violated("reply shorter than a header");
    if (action == Action::reply && !tcp && written > kOurUdpPayload)
      berth::fuzz::violated("UDP reply over the payload limit");
  }
  if (size > 0 && size < 300) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)parse_reverse_ipv4(text);
    (void)normalise_name(text);
    uint8_t wire[kMaxNameWire + 1];
    if (auto n = encode_name(text, wire); n && *n > sizeof wire)
      berth::fuzz::violated("encode_name wrote past its buffer");
  }
  return 0;
}
