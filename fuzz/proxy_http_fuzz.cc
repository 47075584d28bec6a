// proxy_http: berth-proxy's HTTP/1.1 handling of a client's request and a backend's response
// (proxy/detail/http_head.h): Beast's parser as the session drives it (the whole header in one
// put, then the body, chunked bodies re-chunked), bare-LF repair of the backend's header, and
// the heads sent on. The input is a flags byte (bit 0 TLS, bit 1 an IPv6 client, bit 2 a HEAD
// request for the response, bit 3 an HTTP/1.0 client), then the client's bytes, a 0x01 byte and
// the backend's bytes. Both heads sent on must parse again with the same method, target or
// status and framing; no hop-by-hop field and nothing a Connection field lists may pass; the
// Forwarded element the proxy adds must read back as exactly what it saw; a body must arrive
// as it was sent; the fields read must be those Beast's own (copying) parser reads.
#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <optional>

#include "fuzz_util.h"
#include "proxy/detail/http_head.h"

namespace {

using namespace berth;
using namespace berth::proxy::detail;
using boost::beast::error_code;
namespace bh = boost::beast::http;

constexpr size_t kMaxHeader = 16 * 1024;  // ServeOptions::max_header_bytes
constexpr size_t kMaxResponseHeader = 64 * 1024;

template <bool isRequest>
struct Parse {
  std::vector<Field> fields;
  std::string body;
  Parser<isRequest> p;
  error_code ec;
  size_t used = 0;
  Parse() {
    p.header_limit(isRequest ? kMaxHeader : kMaxResponseHeader);
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    p.fields = &fields;
    p.body_out = &body;
  }
  // The whole message in one buffer, decoded (a complete parse of something we wrote).
  void all(std::string_view text, bool head_request = false) {
    if (head_request) p.skip(true);
    p.eager(true);
    used = p.put(boost::asio::buffer(text.data(), text.size()), ec);
    if (!ec && !p.is_done() && p.need_eof()) p.put_eof(ec);
  }
};

bool listed(const std::vector<Field>& fields, std::string_view name) {
  for (const auto& f : fields)
    if (f.id == bh::field::connection && listed_in_connection(f.value, name)) return true;
  return false;
}

int count(const std::vector<Field>& fields, std::string_view name) {
  int n = 0;
  for (const auto& f : fields) n += iequals(f.name, name);
  return n;
}

// The elements of a Forwarded value (RFC 7239 §4), each a list of name=value pairs with quoted
// strings unquoted; nullopt when it does not parse.
using Element = std::vector<std::pair<std::string, std::string>>;
std::optional<std::vector<Element>> parse_forwarded(std::string_view v) {
  std::vector<Element> out(1);
  size_t i = 0;
  auto skip_ows = [&] {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
  };
  for (;;) {
    skip_ows();
    const size_t eq = v.find('=', i);
    if (eq == std::string_view::npos) return std::nullopt;
    std::string name(v.substr(i, eq - i)), value;
    i = eq + 1;
    if (i < v.size() && v[i] == '"') {
      for (++i;; ++i) {
        if (i >= v.size()) return std::nullopt;
        if (v[i] == '"') break;
        if (v[i] == '\\' && ++i >= v.size()) return std::nullopt;
        value += v[i];
      }
      ++i;
    } else {
      while (i < v.size() && v[i] != ';' && v[i] != ',' && v[i] != ' ') value += v[i++];
    }
    out.back().emplace_back(std::move(name), std::move(value));
    skip_ows();
    if (i == v.size()) return out;
    if (v[i] == ',')
      out.emplace_back();
    else if (v[i] != ';')
      return std::nullopt;
    ++i;
  }
}

void check_request(std::string_view in, bool tls, std::string_view client_ip) {
  // serve_request: the parser gets the header once it is all there (feed_header; proxy_feed
  // reads it in parts), without the empty lines before it.
  Parse<true> r;
  r.p.eager(false);
  const HeaderStep step = feed_header(r.p, in, kMaxHeader);
  if (!step.header_len) return;  // 400, 431 or waiting for more
  in.remove_prefix(step.skip);
  const size_t header_len = step.header_len;
  for (const auto& f : r.fields) {
    if (f.name.data() < in.data() || f.name.data() + f.name.size() > in.data() + in.size())
      fuzz::violated("a field name outside the input", f.name);
  }
  // The fields as Beast's own parser stores them (copies, a name's repeats moved next to its
  // first): the views must say the same.
  bh::request_parser<bh::empty_body> ref;
  ref.header_limit(kMaxHeader);
  ref.body_limit(std::numeric_limits<std::uint64_t>::max());  // as the session's parser
  ref.eager(false);
  error_code ref_ec;
  ref.put(boost::asio::buffer(in.data(), in.size()), ref_ec);
  if (ref_ec || !ref.is_header_done()) fuzz::violated("Beast's own parser disagrees", in);
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  Pairs ours, beasts;
  for (const auto& f : r.fields) ours.emplace_back(f.name, f.value);
  for (const auto& f : ref.get())
    beasts.emplace_back(std::string(f.name_string()), std::string(f.value()));
  const auto by_name = [](const auto& a, const auto& b) {
    return boost::beast::iless()(a.first, b.first);
  };
  std::stable_sort(ours.begin(), ours.end(), by_name);
  std::stable_sort(beasts.begin(), beasts.end(), by_name);
  if (ours != beasts) fuzz::violated("a field's name or value is not what was sent", in);
  std::string_view host;
  for (const auto& f : r.fields)
    if (f.id == bh::field::host) host = f.value;
  struct : BackendHead {
    std::string text;
  } head;
  static_cast<BackendHead&>(head) =
      backend_request_head(r.p, r.fields, host, client_ip, tls, "srv", head.text);
  if (!head.error.empty()) return;

  Parse<true> again;
  again.p.eager(false);
  const size_t n = again.p.put(boost::asio::buffer(head.text.data(), head.text.size()), again.ec);
  if (again.ec || !again.p.is_header_done() || n != head.text.size())
    fuzz::violated("the backend's request head does not parse", head.text);
  if (again.p.method != r.p.method || again.p.target != r.p.target)
    fuzz::violated("method or target changed", head.text);
  if (again.p.chunked() != r.p.chunked() || again.p.content_length() != r.p.content_length())
    fuzz::violated("the body's framing changed", head.text);
  for (const auto& f : again.fields) {
    const bool ours =
        (f.id == bh::field::transfer_encoding && r.p.chunked()) ||
        ((f.id == bh::field::connection || f.id == bh::field::upgrade) && head.upgrade);
    if (hop_by_hop(f) && !ours) fuzz::violated("a hop-by-hop field passed", f.name);
    const bool added = iequals(f.name, "X-Forwarded-For") || iequals(f.name, "Forwarded") ||
                       iequals(f.name, "X-Forwarded-Proto") || iequals(f.name, "X-Forwarded-Host");
    if (!added && !ours && listed(r.fields, f.name))
      fuzz::violated("a field listed in Connection passed", f.name);
  }
  if (count(again.fields, "X-Forwarded-For") != 1 || count(again.fields, "Forwarded") != 1 ||
      count(again.fields, "X-Forwarded-Proto") != 1 || count(again.fields, "Host") > 1)
    fuzz::violated("X-Forwarded-For, -Proto, Forwarded or Host not once", head.text);
  for (const auto& f : again.fields) {
    if (iequals(f.name, "X-Forwarded-For") && !f.value.ends_with(client_ip))
      fuzz::violated("X-Forwarded-For does not end with the client", f.value);
    if (f.id != bh::field::forwarded) continue;
    const auto elements = parse_forwarded(f.value);
    if (!elements) fuzz::violated("Forwarded does not parse", f.value);
    Element want = {{"for", std::string(client_ip)}, {"proto", tls ? "https" : "http"}};
    if (client_ip.find(':') != std::string_view::npos)
      want[0].second = fmt::format("[{}]", client_ip);
    if (!host.empty()) want.emplace_back("host", std::string(host));
    if (elements->back() != want) fuzz::violated("Forwarded's last element is not ours", f.value);
  }

  // forward: the body in the buffer, re-chunked when chunked, must decode to what was sent.
  std::string_view rest = in.substr(header_len);
  r.p.rechunk = r.p.chunked();
  r.p.eager(true);
  if (!r.p.is_done() && !rest.empty()) {
    r.p.put(boost::asio::buffer(rest.data(), rest.size()), r.ec);
    if (r.ec && r.ec != bh::error::need_more) return;  // 400
  }
  if (!r.p.is_done()) return;
  Parse<true> sent;
  sent.all(head.text + r.body);
  Parse<true> original;
  original.all(in);
  if (sent.ec || !sent.p.is_done() || sent.body != original.body)
    fuzz::violated("the request body changed on the way", head.text + r.body);
}

void check_response(std::string_view in, bool head_request, bool client_keep_alive,
                    bool client_http10) {
  // forward: the header gets CRs before bare LFs, then goes to the parser once complete; 1xx
  // other than 101 are dropped.
  std::string buf(in), fixed;
  std::optional<Parse<false>> rp;
  size_t header_len = 0;
  for (int interim = 0; interim < 8; ++interim) {
    const bool complete = crlf_header_lines(buf, fixed);
    if (!fixed.empty()) buf = fixed;
    if (!complete && buf.size() <= kMaxResponseHeader) return;  // waits for more
    rp.emplace();
    rp->p.eager(false);
    if (head_request) rp->p.skip(true);
    header_len = rp->p.put(boost::asio::buffer(buf.data(), buf.size()), rp->ec);
    if (rp->ec || !rp->p.is_header_done()) return;  // 502
    if (rp->p.status >= 100 && rp->p.status < 200 && rp->p.status != 101) {
      buf.erase(0, header_len);
      rp.reset();
      continue;
    }
    break;
  }
  if (!rp) return;
  auto& p = rp->p;
  const bool until_close =
      p.status != 101 && !p.chunked() && !p.content_length() && !p.is_done() && p.need_eof();
  const bool chunk_until_eof = until_close && client_keep_alive && !client_http10;
  const bool keep_alive = client_keep_alive && !(until_close && !chunk_until_eof);
  const bool chunked = p.chunked() || chunk_until_eof;
  std::string head;
  client_response_head(p, rp->fields, chunked, keep_alive, "srv=b1", head);

  Parse<false> again;
  if (head_request) again.p.skip(true);
  again.p.eager(false);
  const size_t n = again.p.put(boost::asio::buffer(head.data(), head.size()), again.ec);
  if (again.ec || !again.p.is_header_done() || n != head.size())
    fuzz::violated("the client's response head does not parse", head);
  if (again.p.status != p.status || again.p.reason != p.reason)
    fuzz::violated("status or reason changed", head);
  for (const auto& f : again.fields) {
    const bool ours = (f.id == bh::field::transfer_encoding && chunked) ||
                      (f.id == bh::field::connection) ||
                      (f.id == bh::field::upgrade && p.status == 101);
    if (hop_by_hop(f) && !ours) fuzz::violated("a hop-by-hop field passed", f.name);
    if (!ours && listed(rp->fields, f.name) && !iequals(f.name, "Set-Cookie"))
      fuzz::violated("a field listed in Connection passed", f.name);
  }
  if (p.status == 101) return;  // a tunnel from here

  // The body, re-chunked (or chunked until the backend closes), must decode to what was sent.
  std::string_view rest = std::string_view(buf).substr(header_len);
  p.rechunk = p.chunked();
  p.chunk_until_eof = chunk_until_eof;
  p.eager(true);
  if (!p.is_done() && !rest.empty()) {
    p.put(boost::asio::buffer(rest.data(), rest.size()), rp->ec);
    if (rp->ec == bh::error::need_more) rp->ec = {};
    if (rp->ec) return;  // broken: the client's connection is closed
  }
  if (!p.is_done() && p.need_eof()) p.put_eof(rp->ec);
  if (rp->ec || !p.is_done()) return;
  Parse<false> sent;
  sent.all(head + rp->body, head_request);
  Parse<false> original;
  original.all(buf, head_request);
  if (sent.ec || !sent.p.is_done() || sent.body != original.body)
    fuzz::violated("the response body changed on the way", head + rp->body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  const auto parts = fuzz::pieces(fuzz::as_text(data + 1, size - 1), '\x01', 2);
  const std::string_view client_ip = (flags & 2) ? "fd00::7" : "10.88.0.7";
  check_request(parts[0], flags & 1, client_ip);
  if (parts.size() > 1) check_response(parts[1], flags & 4, (flags & 16) == 0, flags & 8);
  return 0;
}
