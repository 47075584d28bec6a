#include <gtest/gtest.h>

#include "proxy/detail/http_head.h"

namespace berth::proxy::detail {
namespace {

// A head parsed as the session does: all of it in one put, the body left for later.
template <bool isRequest>
struct Parsed {
  std::string text;
  std::vector<Field> fields;
  std::string body;
  Parser<isRequest> p;
  bool ok = false;
  explicit Parsed(std::string t) : text(std::move(t)) {
    p.eager(false);
    p.fields = &fields;
    p.body_out = &body;
    boost::beast::error_code ec;
    p.put(boost::asio::buffer(text.data(), text.size()), ec);
    ok = !ec && p.is_header_done();
  }
  std::string_view value(std::string_view name) const {
    for (const auto& f : fields)
      if (iequals(f.name, name)) return f.value;
    return "<none>";
  }
};

struct Forwarded : BackendHead {
  std::string text;
};

Forwarded forward(const std::string& request, std::string_view client_ip = "10.0.0.9") {
  Parsed<true> r(request);
  EXPECT_TRUE(r.ok) << request;
  std::string_view host;
  for (const auto& f : r.fields)
    if (f.id == http::field::host) host = f.value;
  Forwarded out;
  static_cast<BackendHead&>(out) =
      backend_request_head(r.p, r.fields, host, client_ip, false, "", out.text);
  return out;
}

TEST(ProxyHttpHead, FoldedValuesKeepTheirOwnText) {
  // Beast unfolds obs-fold into a buffer of its own that dies after parsing: the fields used to
  // point into it (both showing the last folded value, or stack garbage).
  Parsed<true> r("GET / HTTP/1.1\r\nHost: a\r\nX-One: a\r\n b\r\nX-Two: c\r\n d\r\n\r\n");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.value("X-One"), "a b");
  EXPECT_EQ(r.value("X-Two"), "c d");
}

TEST(ProxyHttpHead, ForwardsWithoutHopByHopFields) {
  const auto h = forward(
      "POST /x?y HTTP/1.1\r\nHost: shop.example\r\nConnection: keep-alive, X-Secret\r\n"
      "Keep-Alive: 5\r\nX-Secret: 1\r\nTE: trailers\r\nX-Forwarded-For: 1.2.3.4\r\n"
      "Forwarded: for=1.2.3.4\r\nX-Forwarded-Proto: https\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(h.error, "");
  EXPECT_EQ(h.text,
            "POST /x?y HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 0\r\n"
            "X-Forwarded-For: 1.2.3.4, 10.0.0.9\r\nX-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: shop.example\r\n"
            "Forwarded: for=1.2.3.4, for=10.0.0.9;proto=http;host=\"shop.example\"\r\n\r\n");
}

TEST(ProxyHttpHead, NamesInEveryConnectionFieldAreDropped) {
  // Only the last Connection field used to count: X-Secret went on to the backend.
  const auto h = forward(
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret\r\nConnection: keep-alive\r\n"
      "X-Secret: 1\r\n\r\n");
  ASSERT_EQ(h.error, "");
  EXPECT_EQ(h.text.find("X-Secret"), std::string::npos) << h.text;
}

TEST(ProxyHttpHead, EveryForwardedForIsKept) {
  const auto h = forward(
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n",
      "fd00::1");
  ASSERT_EQ(h.error, "");
  EXPECT_NE(h.text.find("X-Forwarded-For: 1.1.1.1, 2.2.2.2, fd00::1\r\n"), std::string::npos);
  EXPECT_NE(h.text.find("Forwarded: for=\"[fd00::1]\";proto=http;host=\"a\"\r\n"),
            std::string::npos);
}

TEST(ProxyHttpHead, MalformedForwardedFromTheClientIsDropped) {
  // An open quote would have swallowed the element the proxy adds.
  const auto h = forward(
      "GET / HTTP/1.1\r\nHost: a\r\nForwarded: for=\"x\r\nForwarded: for=1.1.1.1;by=\"a "
      "b\"\r\n\r\n");
  ASSERT_EQ(h.error, "");
  EXPECT_NE(
      h.text.find("\r\nForwarded: for=1.1.1.1;by=\"a b\", for=10.0.0.9;proto=http;host=\"a\"\r\n"),
      std::string::npos)
      << h.text;
}

TEST(ProxyHttpHead, TwoHostFieldsAreRefused) {
  // Routed by the last, forwarded with both: a backend taking the first is reached past the
  // route's host rule.
  EXPECT_EQ(forward("GET / HTTP/1.1\r\nHost: public\r\nHost: admin\r\n\r\n").error,
            "The request has more than one Host header.");
}

TEST(ProxyHttpHead, HttpOneOneWithoutHostIsRefusedBeforeRouting) {
  // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
  // request message that lacks a Host header field". It used to be routed (a default route took
  // it) and forwarded without one.
  const auto host_error_of = [](const std::string& request) {
    Parsed<true> r(request);
    EXPECT_TRUE(r.ok) << request;
    return host_error(r.p, r.fields);
  };
  EXPECT_EQ(host_error_of("GET / HTTP/1.1\r\nX-A: 1\r\n\r\n"),
            "An HTTP/1.1 request must have a Host header.");
  EXPECT_EQ(host_error_of("GET http://a/ HTTP/1.1\r\n\r\n"),
            "An HTTP/1.1 request must have a Host header.");
  EXPECT_EQ(forward("GET / HTTP/1.1\r\n\r\n").error,
            "An HTTP/1.1 request must have a Host header.");
  // HTTP/1.0 has no Host requirement; an empty Host (RFC 9110 §7.2: no authority) is a Host.
  EXPECT_EQ(host_error_of("GET / HTTP/1.0\r\n\r\n"), "");
  EXPECT_EQ(forward("GET / HTTP/1.0\r\n\r\n").error, "");
  EXPECT_EQ(host_error_of("GET / HTTP/1.1\r\nHost:\r\n\r\n"), "");
  EXPECT_EQ(host_error_of("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
            "The request has more than one Host header.");
}

TEST(ProxyHttpHead, HostThatWouldBreakForwardedIsRefused) {
  // Copied into Forwarded's host="…", the quote would end it and add a for= of the client's
  // choosing to the element the proxy vouches for.
  EXPECT_EQ(forward("GET / HTTP/1.1\r\nHost: a\";for=\"1.2.3.4\r\n\r\n").error,
            "The Host header 'a\";for=\"1.2.3.4' is not a valid host.");
  EXPECT_EQ(forward("GET / HTTP/1.1\r\nHost: [fd00::1]:8080\r\n\r\n").error, "");
}

TEST(ProxyHttpHead, TransferCodingsOtherThanChunkedAreRefused) {
  // Beast reads such a body as empty (or by a Content-Length after it) and the backend got it
  // without its coding.
  EXPECT_EQ(forward("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n").error,
            "Transfer-Encoding 'gzip' is not supported (only chunked).");
  EXPECT_EQ(forward("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").error,
            "Transfer-Encoding 'gzip, chunked' is not supported (only chunked).");
  const auto h = forward("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
  ASSERT_EQ(h.error, "");
  EXPECT_NE(h.text.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos);
}

TEST(ProxyHttpHead, UpgradeIsForwardedOnlyWithConnectionUpgrade) {
  auto h =
      forward("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_TRUE(h.upgrade);
  EXPECT_NE(h.text.find("Connection: Upgrade\r\nUpgrade: websocket\r\n"), std::string::npos);
  h = forward("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_FALSE(h.upgrade);
  EXPECT_EQ(h.text.find("Upgrade"), std::string::npos);
}

TEST(ProxyHttpHead, StickyCookieIsFound) {
  EXPECT_EQ(cookie_value("a=1; srv=b2; c=3", "srv"), "b2");
  EXPECT_EQ(cookie_value("xsrv=1; srv=b2", "srv"), "b2");
  EXPECT_EQ(cookie_value("xsrv=1", "srv"), "");
  EXPECT_EQ(cookie_value("srv=", "srv"), "");
}

TEST(ProxyHttpHead, ResponseHeadDropsEveryListedField) {
  Parsed<false> r(
      "HTTP/1.1 200 OK\r\nConnection: X-A\r\nConnection: keep-alive\r\nX-A: 1\r\n"
      "Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nX-B: 2\r\n\r\n");
  ASSERT_TRUE(r.ok);
  std::string out;
  client_response_head(r.p, r.fields, true, false, "srv=b1", out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nX-B: 2\r\nTransfer-Encoding: chunked\r\n"
            "Set-Cookie: srv=b1; Path=/; HttpOnly\r\nConnection: close\r\n\r\n");
}

TEST(ProxyHttpHead, ResponseHeadKeepsTransferCodingsOtherThanChunked) {
  // The proxy decodes and re-makes the chunks; a gzip coding stays on the body and must stay
  // named, or the client takes gzip bytes for the body itself.
  Parsed<false> r("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(r.ok);
  std::string out;
  client_response_head(r.p, r.fields, true, true, "", out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  // A gzip body that ends at the close, re-chunked for a keep-alive client.
  Parsed<false> eof("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
  ASSERT_TRUE(eof.ok);
  out.clear();
  client_response_head(eof.p, eof.fields, true, true, "", out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  // Unchunked (an HTTP/1.0 client; the close ends the body): no Transfer-Encoding may go.
  out.clear();
  client_response_head(eof.p, eof.fields, false, false, "", out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
}

TEST(ProxyHttpHead, StatusOutsideHundredToFiveNinetyNineIsBroken) {
  // Relayed as "HTTP/1.1 20 OK", which no client can read: a 502 instead.
  EXPECT_FALSE(Parsed<false>("HTTP/1.1 020 OK\r\nContent-Length: 0\r\n\r\n").ok);
  EXPECT_FALSE(Parsed<false>("HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n").ok);
  EXPECT_TRUE(Parsed<false>("HTTP/1.1 599 Odd\r\nContent-Length: 0\r\n\r\n").ok);
}

TEST(ProxyHttpHead, BareLineFeedsOfTheHeaderGetCarriageReturns) {
  std::string fixed;
  EXPECT_TRUE(crlf_header_lines("HTTP/1.0 200 OK\nA: b\n\nbody\n", fixed));
  EXPECT_EQ(fixed, "HTTP/1.0 200 OK\r\nA: b\r\n\r\nbody\n");
  EXPECT_FALSE(crlf_header_lines("HTTP/1.0 200 OK\r\nA: b\r\n", fixed));
  EXPECT_EQ(fixed, "");
  EXPECT_TRUE(header_ends("\r\n\r\nGET / HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(header_ends("\r\n\r\n"));
}

}  // namespace
}  // namespace berth::proxy::detail
