// Packets for the berth-dns unit tests: queries built byte by byte (independently of the code
// under test) and a small reader for the responses it builds.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::net::dns::testing {

inline void push16(std::vector<uint8_t>& p, uint16_t v) {
  p.push_back(static_cast<uint8_t>(v >> 8));
  p.push_back(static_cast<uint8_t>(v));
}

struct QuerySpec {
  std::string name = "web";
  uint16_t type = 1;
  uint16_t id = 0x1234;
  uint16_t flags = 0x0100;  // RD
  int edns_payload = -1;    // >= 0 adds an OPT record with this payload size
  uint8_t edns_version = 0;
};

inline std::vector<uint8_t> make_query(const QuerySpec& s) {
  std::vector<uint8_t> p;
  push16(p, s.id);
  push16(p, s.flags);
  push16(p, 1);
  push16(p, 0);
  push16(p, 0);
  push16(p, s.edns_payload >= 0 ? 1 : 0);
  std::string_view name = s.name;
  while (!name.empty()) {
    const size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    p.push_back(static_cast<uint8_t>(label.size()));
    p.insert(p.end(), label.begin(), label.end());
    name = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  }
  p.push_back(0);
  push16(p, s.type);
  push16(p, 1);
  if (s.edns_payload >= 0) {
    p.push_back(0);
    push16(p, 41);
    push16(p, static_cast<uint16_t>(s.edns_payload));
    p.push_back(0);
    p.push_back(s.edns_version);
    push16(p, 0);
    push16(p, 0);
  }
  return p;
}

// A response as the tests check it.
struct Response {
  uint16_t id = 0, flags = 0, qd = 0, an = 0, ns = 0, ar = 0;
  std::vector<std::string> a;  // dotted addresses of the A answers, in order
  std::vector<std::string> ptr;
  bool opt = false;
  uint16_t opt_payload = 0;
  uint8_t extended_rcode = 0;
  bool well_formed = false;

  uint16_t rcode() const { return static_cast<uint16_t>(extended_rcode << 4 | (flags & 0xF)); }
  bool tc() const { return flags & 0x0200; }
  bool aa() const { return flags & 0x0400; }
};

inline Response read_response(const uint8_t* p, size_t n) {
  Response r;
  auto get16 = [&](size_t at) { return static_cast<uint16_t>(p[at] << 8 | p[at + 1]); };
  if (n < 12) return r;
  r.id = get16(0), r.flags = get16(2), r.qd = get16(4), r.an = get16(6), r.ns = get16(8),
  r.ar = get16(10);
  size_t at = 12;
  auto read_name = [&](size_t from, std::string& out) -> size_t {  // returns the end, 0 if bad
    size_t end = 0;
    for (int hops = 0; from < n && hops < 20;) {
      uint8_t len = p[from];
      if ((len & 0xC0) == 0xC0) {
        if (from + 1 >= n) return 0;
        if (end == 0) end = from + 2;
        from = static_cast<size_t>((len & 0x3F) << 8 | p[from + 1]);
        ++hops;
        continue;
      }
      if (len == 0) return end ? end : from + 1;
      if (from + 1 + len > n) return 0;
      if (!out.empty()) out += '.';
      out.append(reinterpret_cast<const char*>(p + from + 1), len);
      from += 1 + len;
    }
    return 0;
  };
  for (int i = 0; i < r.qd; ++i) {
    std::string ignored;
    at = read_name(at, ignored);
    if (at == 0 || at + 4 > n) return r;
    at += 4;
  }
  for (int i = 0; i < r.an + r.ns + r.ar; ++i) {
    std::string owner;
    at = read_name(at, owner);
    if (at == 0 || at + 10 > n) return r;
    const uint16_t type = get16(at), klass = get16(at + 2), rdlen = get16(at + 8);
    const uint8_t ttl_high = p[at + 4];
    at += 10;
    if (at + rdlen > n) return r;
    if (type == 1 && rdlen == 4) {
      char text[INET_ADDRSTRLEN];
      ::inet_ntop(AF_INET, p + at, text, sizeof text);
      r.a.push_back(text);
    } else if (type == 12) {
      std::string target;
      if (read_name(at, target) == 0) return r;
      r.ptr.push_back(target);
    } else if (type == 41) {
      r.opt = true;
      r.opt_payload = klass;
      r.extended_rcode = ttl_high;
    }
    at += rdlen;
  }
  r.well_formed = at == n;
  return r;
}

}  // namespace berth::net::dns::testing
