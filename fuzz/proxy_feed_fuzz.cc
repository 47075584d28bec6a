// proxy_feed: berth-proxy's request feed loop (serve_request and forward in http_session.cc) as
// the session runs it over one client connection, with the bytes arriving in reads of arbitrary
// sizes: feed_header after each read (the header once it is all there or too long), host_error,
// backend_request_head, then feed_body on what is left and on each later read, and on to the
// next pipelined request while the connection is kept. What the proxy makes of the connection
// (each request's refusal or its method, target, fields, head for the backend and re-chunked
// body, in order) must not depend on how the bytes were split: it is compared with one read of
// them all. The input is a flags byte (bits 0-1: the header limit, 16384, 1024, 256 or 64
// bytes), a count byte K (K % 16), K read sizes (each byte + 1; no K: one byte a read), then the
// client's bytes.
#include <boost/beast/http/error.hpp>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "fuzz_util.h"
#include "proxy/detail/http_head.h"

namespace {

using namespace berth;
using namespace berth::proxy::detail;

// What the session did with one request.
struct Served {
  int refused = 0;  // the status it answered itself, the connection then closed
  std::string method, target;
  int version = 0;
  bool keep_alive = false;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string head;      // sent to the backend
  std::string body;      // sent to the backend after the head (re-chunked when chunked)
  bool complete = true;  // the body was all there when the client stopped sending
  bool operator==(const Served&) const = default;
};

// The bytes a connection's reads bring in: a buffer whose consumed front stays put (as
// FlatBuffer's) so that the parser's views stay valid until the request is built.
class Connection {
 public:
  // `sizes`: the reads' sizes, over and over (no sizes: one byte a read; `at_once`: one read).
  Connection(std::string_view stream, std::string_view sizes, bool at_once)
      : stream_(stream), sizes_(sizes), at_once_(at_once) {
    // Reserved: appending never moves the bytes the views point into (FlatBuffer may move
    // them, but only between requests or with the header not parsed yet).
    buf_.reserve(stream.size());
  }
  std::string_view view() const { return std::string_view(buf_).substr(start_); }
  bool empty() const { return start_ == buf_.size(); }
  void consume(size_t n) { start_ += n; }
  // One read; false at the end of the stream (the client closed).
  bool read() {
    if (at_ == stream_.size()) return false;
    size_t n = at_once_ ? stream_.size() : 1;
    if (!at_once_ && !sizes_.empty())
      n = static_cast<uint8_t>(sizes_[reads_++ % sizes_.size()]) + 1u;
    n = std::min(n, stream_.size() - at_);
    buf_.append(stream_.substr(at_, n));
    at_ += n;
    return true;
  }

 private:
  std::string_view stream_, sizes_;
  std::string buf_;
  bool at_once_;
  size_t start_ = 0, at_ = 0, reads_ = 0;
};

std::vector<Served> serve(std::string_view stream, std::string_view sizes, bool at_once,
                          size_t max_header) {
  Connection in(stream, sizes, at_once);
  std::vector<Served> out;
  for (;;) {
    Served& r = out.emplace_back();
    std::vector<Field> fields;
    std::string body;
    Parser<true> p;
    p.header_limit(static_cast<uint32_t>(max_header));
    p.body_limit(std::numeric_limits<std::uint64_t>::max());
    p.max_chunk_head = max_header;
    p.eager(false);
    p.fields = &fields;
    p.body_out = &body;
    HeaderStep step;
    for (;;) {
      if (!in.empty()) {
        step = feed_header(p, in.view(), max_header);
        in.consume(step.skip);
        if (step.refuse || step.header_len) break;
      }
      if (!in.read()) {
        out.pop_back();  // the client closed between requests (or mid-header: no answer)
        return out;
      }
    }
    if (step.refuse) {
      r.refused = step.refuse;
      return out;
    }
    if (const std::string error = host_error(p, fields); !error.empty()) {
      r.refused = 400;
      return out;
    }
    r.method = p.method;
    r.target = p.target;
    r.version = p.version;
    r.keep_alive = p.keep_alive();
    std::string_view host;
    for (const auto& f : fields) {
      if (f.id == http::field::host) host = f.value;
      r.fields.emplace_back(f.name, f.value);
    }
    const BackendHead bh = backend_request_head(p, fields, host, "10.88.0.7", false, "srv", r.head);
    if (!bh.error.empty()) {
      r.refused = 400;
      return out;
    }
    in.consume(step.header_len);
    fields.clear();
    p.rechunk = p.chunked();
    p.eager(true);
    boost::beast::error_code ec;
    if (!p.is_done() && !in.empty()) {
      in.consume(feed_body(p, in.view(), ec));
      if (ec) {
        r.refused = 400;
        return out;
      }
    }
    while (!p.is_done()) {
      if (!in.read()) {
        r.complete = false;
        r.body = body;
        return out;
      }
      in.consume(feed_body(p, in.view(), ec));
      if (ec) {
        r.refused = 400;  // the body broke: the connection ends (no answer is sent)
        return out;
      }
    }
    r.body = std::move(body);
    if (!r.keep_alive || out.size() >= 64) return out;
  }
}

std::string describe(const std::vector<Served>& v) {
  std::string s;
  for (const auto& r : v) {
    s += fmt::format("[refused {} {} {} v{} ka {} complete {} head {:?} body {:?}]\n", r.refused,
                     r.method, r.target, r.version, r.keep_alive, r.complete, r.head, r.body);
  }
  return s;
}

}  // namespace

// Built with BOOST_ENABLE_ASSERT_HANDLER (this file and http_head.cc): Beast's assertions abort
// as assert() does, but one. Boost 1.74's parse_chunk_header asserts `n >= 5` when it comes back
// to a last chunk ("0\r\n", no extension, no chunk before it) whose end it had not seen, and one
// byte more was read: 4 is possible, and the code after it waits for more as it should (release
// builds have no assertions). Fixed upstream by boostorg/beast#2861 (May 2024).
namespace boost {
void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  if (std::string_view(expr) == "n >= 5" && std::string_view(file).ends_with("basic_parser.ipp"))
    return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed.\n", file, line, function, expr);
  std::abort();
}
void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file,
                          long line) {
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed: %s\n", file, line, function, expr, msg);
  std::abort();
}
}  // namespace boost

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  constexpr size_t kLimits[] = {16384, 1024, 256, 64};
  const size_t max_header = kLimits[data[0] & 3];
  const size_t k = std::min<size_t>(data[1] % 16, size - 2);
  const std::string_view sizes = fuzz::as_text(data + 2, k);
  const std::string_view stream = fuzz::as_text(data + 2 + k, size - 2 - k);
  const auto split = serve(stream, sizes, false, max_header);
  const auto whole = serve(stream, {}, true, max_header);
  if (split != whole) {
    fuzz::violated("the requests read depend on how the bytes were split",
                   "split:\n" + describe(split) + "whole:\n" + describe(whole));
  }
  return 0;
}
