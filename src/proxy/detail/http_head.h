// proxy/detail/http_head.h — the HTTP/1.1 heads berth-proxy reads and writes, without I/O: Beast's
// parser collecting fields as views, where a request header ends, bare-LF repair of a backend's
// header, hop-by-hop removal, and the heads sent on (a request to a backend, a response to the
// client). http_session.cc does the I/O; fuzz/proxy_http_fuzz.cc feeds these hostile bytes.
#pragma once

#include <fmt/format.h>

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <cctype>
#include <cstdint>
#include <functional>
#include <iterator>
#include <list>
#include <string>
#include <string_view>
#include <vector>

namespace berth::proxy::detail {

namespace http = boost::beast::http;

struct Field {
  http::field id;
  std::string_view name, value;
};

bool iequals(std::string_view a, std::string_view b);

// Whether `pending`, a chunk head that a parser left, has its end: the line's for a chunk with
// data, the empty line after the trailers for the last chunk (a chunk-size of zeros).
bool chunk_head_ended(std::string_view pending);

// Header fields collected as views into the read buffer (valid until it is consumed) and the
// body appended, decoded and re-chunked when `rechunk`, to `body_out`.
template <bool isRequest>
class Parser final : public http::basic_parser<isRequest> {
  using error_code = boost::beast::error_code;

 public:
  // Hides basic_parser::put to learn where the input is (on_field_impl).
  size_t put(boost::asio::const_buffer input, error_code& ec) {
    input_ = {static_cast<const char*>(input.data()), input.size()};
    return http::basic_parser<isRequest>::put(input, ec);
  }
  std::string_view method, target, reason;
  int status = 0;
  std::vector<Field>* fields = nullptr;
  std::string* body_out = nullptr;
  int version = 11;  // of a request: 10 for HTTP/1.0
  bool rechunk = false;
  // A body delimited by the backend closing the connection, sent on as chunks (the client's
  // connection stays open).
  bool chunk_until_eof = false;
  uint64_t body_bytes = 0;
  // The longest chunk-size line (its digits and extensions), or last chunk with its trailers,
  // taken; 0 for no limit. Beast has none: it holds every byte of a line that never ends.
  size_t max_chunk_head = 0;
  // What put() left when not done can only be part of a chunk head (after the CRLF that ends
  // the chunk data before it). header_limit when it is longer than max_chunk_head already;
  // bad_chunk_extension when its end is there and Beast still waits: Beast reads a quoted
  // extension past the end of its line, to the end of its input, for the closing quote, and
  // would scan it all again on each read. Otherwise nothing.
  error_code chunk_head_check(std::string_view pending) const {
    if (this->is_done() || pending.empty()) return {};
    if (chunk_head_ended(pending)) return http::error::bad_chunk_extension;
    if (max_chunk_head && pending.size() > max_chunk_head + 2) return http::error::header_limit;
    return {};
  }

 private:
  bool in_chunk_ = false;
  std::string_view input_;
  // Values Beast unfolded (obs-fold: a line starting with a space continues the value): Beast
  // hands them over in a buffer of its own that dies when the fields are parsed.
  // (A list: stable addresses, and unlike libstdc++'s deque no allocation until one is needed.)
  std::list<std::string> unfolded_;
  void on_request_impl(http::verb, boost::beast::string_view m, boost::beast::string_view t, int v,
                       error_code&) override {
    version = v;
    method = {m.data(), m.size()};
    target = {t.data(), t.size()};
  }
  void on_response_impl(int code, boost::beast::string_view r, int, error_code& ec) override {
    // Beast takes any three digits; "020" would be relayed as "20", which no client reads.
    if (code < 100 || code > 599) ec = http::error::bad_status;
    status = code;
    reason = {r.data(), r.size()};
  }
  void on_field_impl(http::field id, boost::beast::string_view n, boost::beast::string_view v,
                     error_code&) override {
    if (this->is_header_done()) return;
    std::string_view value(v.data(), v.size());
    const std::less_equal<const char*> le;
    if (!value.empty() && !(le(input_.data(), value.data()) &&
                            le(value.data() + value.size(), input_.data() + input_.size()))) {
      value = unfolded_.emplace_back(value);
    }
    fields->push_back({id, {n.data(), n.size()}, value});
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(boost::optional<uint64_t> const&, error_code&) override {}
  size_t on_body_impl(boost::beast::string_view body, error_code&) override {
    if (chunk_until_eof) {
      if (body.empty()) return 0;
      fmt::format_to(std::back_inserter(*body_out), "{:x}\r\n", body.size());
      body_out->append(body.data(), body.size()).append("\r\n");
      body_bytes += body.size();
      return body.size();
    }
    body_out->append(body.data(), body.size());
    body_bytes += body.size();
    return body.size();
  }
  void on_chunk_header_impl(uint64_t size, boost::beast::string_view ext,
                            error_code& ec) override {
    // By the bytes, not by how they were read: the same as feed_body's limit on what waits.
    if (max_chunk_head && chunk_head_length(size, {ext.data(), ext.size()}) > max_chunk_head) {
      ec = http::error::header_limit;
      return;
    }
    if (!rechunk) return;
    if (in_chunk_) body_out->append("\r\n");
    in_chunk_ = false;
    if (size > 0) {
      fmt::format_to(std::back_inserter(*body_out), "{:x}\r\n", size);
      in_chunk_ = true;
    }
  }
  size_t on_chunk_body_impl(uint64_t, boost::beast::string_view body, error_code&) override {
    body_out->append(body.data(), body.size());
    body_bytes += body.size();
    return body.size();
  }
  // The chunk-size line's length (the hex digits before `ext`, in input_, and `ext`); for the
  // last chunk, through the empty line that ends its trailers.
  size_t chunk_head_length(uint64_t size, std::string_view ext) const {
    const char* first = ext.data();
    while (first > input_.data() && std::isxdigit(static_cast<unsigned char>(first[-1]))) --first;
    const char* line_end = ext.data() + ext.size();
    size_t length = static_cast<size_t>(line_end - first);
    if (size == 0) {
      const std::string_view after(line_end, input_.data() + input_.size() - line_end);
      if (const size_t eom = after.find("\r\n\r\n"); eom != std::string_view::npos) length += eom + 4;
    }
    return length;
  }
  void on_finish_impl(error_code&) override {
    if (chunk_until_eof) body_out->append("0\r\n\r\n");
    if (!rechunk) return;
    if (in_chunk_) body_out->append("\r\n");
    in_chunk_ = false;
    body_out->append("0\r\n\r\n");
  }
};

// The length of the request header at the start of `v`, through its empty line (CRLF CRLF, or a
// bare LF's "\n\n", which the parser then refuses), or npos while it is incomplete.
size_t header_end(std::string_view v);

// What serve_request does with a request's header after each read, `in` being all the bytes read
// and not consumed. Empty lines before the request line are skipped (RFC 9112 §2.2). The parser
// gets the header once, all of it (given a part, Beast consumes the request line and wants the
// rest without it, and the fields are views into `in`); a header longer than `max_header` is
// refused whatever its bytes, so the answer does not depend on how the bytes were read.
struct HeaderStep {
  size_t skip = 0;        // empty lines before the request line, to consume first
  size_t header_len = 0;  // once the header is parsed: its length after them (then p has it)
  int refuse = 0;         // 400 (not an HTTP/1.x request header) or 431 (over max_header)
};
HeaderStep feed_header(Parser<true>& p, std::string_view in, size_t max_header);

// Hands a request's parser, past its header, the body bytes in `in`: how many it took (to
// consume). Needing more is not an error, unless what waits is a chunk head that
// Parser::chunk_head_check refuses (too long, or ended yet still waited on).
size_t feed_body(Parser<true>& p, std::string_view in, boost::beast::error_code& ec);

// RFC 9112 §2.2: a recipient MAY take a bare LF for a line end. busybox httpd sends a CGI's
// header lines as the script wrote them ("Content-Type: text/plain\n\n"); Beast's parser wants
// CRLF, so when the header part of `v` (up to its first empty line, or all of it while
// incomplete) has a bare LF, `fixed` is set to `v` with a CR before each bare LF of that part
// (the body is left alone); otherwise `fixed` is left empty. True once the header is complete.
bool crlf_header_lines(std::string_view v, std::string& fixed);

bool hop_by_hop(const Field& f);

// Whether `name` is listed in a Connection header's value (then it is hop-by-hop too).
bool listed_in_connection(std::string_view connection, std::string_view name);

// The value of cookie `name` in a Cookie header's value, or "" when it has none.
std::string cookie_value(std::string_view cookie, std::string_view name);

// Why a request is refused with a 400 for its Host fields, before it is routed ("" when it is
// not): more than one Host, an HTTP/1.1 request without one (RFC 9112 §3.2; HTTP/1.0 needs none),
// or a value that is not a uri-host [":" port].
std::string host_error(const Parser<true>& p, const std::vector<Field>& fields);

// What forward() sends a backend for a client's request, and what it learnt from its header.
struct BackendHead {
  std::string error;   // why the request is refused with a 400 (then nothing else is set):
                       // host_error's reasons, or a transfer coding other than chunked
  std::string cookie;  // the sticky cookie's value sent by the client ("" when none)
  bool expect_continue = false;
  bool upgrade = false;  // a protocol upgrade (WebSocket): the connection becomes a tunnel
};

// The head for the backend: hop-by-hop fields (and those the Connection field lists) and the
// client's X-Forwarded-* dropped, X-Forwarded-For/-Proto/-Host and Forwarded from what the proxy
// saw, and Transfer-Encoding: chunked when the body is (it is re-chunked as it is read). `host`
// is the Host the request was routed by, `sticky_cookie` the route's cookie name ("" for none).
// The head (request line and fields, through the empty line) replaces what `head` held (its
// memory is reused from request to request).
BackendHead backend_request_head(const Parser<true>& p, const std::vector<Field>& fields,
                                 std::string_view host, std::string_view client_ip, bool tls,
                                 std::string_view sticky_cookie, std::string& head);

// Appends to `out` the head relayed to the client for a backend's response: hop-by-hop fields
// dropped, chunked when the body is re-chunked, a Set-Cookie when `set_cookie` (name=value) is
// not empty, and Connection: close unless `keep_alive` (Upgrade for a 101).
void client_response_head(const Parser<false>& rp, const std::vector<Field>& fields, bool chunked,
                          bool keep_alive, std::string_view set_cookie, std::string& out);

}  // namespace berth::proxy::detail
