// The HTTP/1.1 heads berth-proxy reads and writes (proxy/detail/http_head.h): no I/O here.
#include "proxy/detail/http_head.h"

#include <algorithm>
#include <cctype>

namespace berth::proxy::detail {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A field listed more than once is one comma-separated list (RFC 9110 §5.3).
void join(std::string& list, std::string_view value) {
  if (!list.empty()) list.append(", ");
  list.append(value);
}

// RFC 9110 §7.2: uri-host [":" port], a reg-name, IPv4 or bracketed IPv6 address. Anything else
// would be forwarded inside Forwarded's quoted host="…" (a '"' could end it and add a `for=`).
bool valid_host(std::string_view host) {
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("-._~%!$&'()*+,;=:[]").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 7239 §4: Forwarded = 1#forwarded-element, an element = [pair] *( ";" [pair] ), a pair =
// token "=" ( token / quoted-string ). The client's elements go on before the proxy's own only
// if they are well formed: an open quote would swallow the proxy's element.
bool valid_forwarded(std::string_view v) {
  size_t i = 0;
  const auto ows = [&] {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
  };
  for (;;) {
    ows();
    const size_t name = i;
    while (i < v.size() && tchar(v[i])) ++i;
    if (i == name || i == v.size() || v[i] != '=') return false;
    ++i;
    if (i < v.size() && v[i] == '"') {
      for (++i;; ++i) {
        if (i >= v.size()) return false;
        const auto c = static_cast<unsigned char>(v[i]);
        if (c == '"') break;
        if (c == '\\' && ++i >= v.size()) return false;
        if (c < 0x20 && c != '\t') return false;
      }
      ++i;
    } else {
      const size_t value = i;
      while (i < v.size() && tchar(v[i])) ++i;
      if (i == value) return false;
    }
    ows();
    if (i == v.size()) return true;
    if (v[i] != ';' && v[i] != ',') return false;
    ++i;
  }
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] + 32) : a[i];
    const char y = (b[i] >= 'A' && b[i] <= 'Z') ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) return false;
  }
  return true;
}

size_t header_end(std::string_view v) {
  const size_t crlf = v.find("\r\n\r\n");
  // A bare "\n\n" counts only before it: the body after a header is not scanned (per request).
  const size_t lf = v.substr(0, crlf == std::string_view::npos ? v.size() : crlf).find("\n\n");
  if (lf != std::string_view::npos) return lf + 2;
  return crlf == std::string_view::npos ? crlf : crlf + 4;
}

HeaderStep feed_header(Parser<true>& p, std::string_view in, size_t max_header) {
  HeaderStep step;
  const size_t skip = std::min(in.find_first_not_of("\r\n"), in.size());
  const std::string_view rest = in.substr(skip);
  const size_t end = header_end(rest);
  if (end == std::string_view::npos && rest.size() <= max_header) {
    // Empty lines over the limit go (a client sending nothing else must not fill the buffer);
    // fewer wait with what follows them.
    if (in.size() > max_header) step.skip = skip;
    return step;
  }
  step.skip = skip;
  if (end == std::string_view::npos || end > max_header) {
    step.refuse = 431;
    return step;
  }
  // The header alone: what the parser makes of it depends on nothing read after it.
  boost::beast::error_code ec;
  const size_t n = p.put(boost::asio::buffer(rest.data(), end), ec);
  if (ec == http::error::header_limit) {
    step.refuse = 431;
  } else if (ec || !p.is_header_done()) {
    // need_more too: a request line or field cut short by the empty line.
    step.refuse = 400;
  } else {
    step.header_len = n;
  }
  return step;
}

bool chunk_head_ended(std::string_view pending) {
  const size_t start = pending.starts_with("\r\n") ? 2 : 0;
  size_t digits = start;
  while (digits < pending.size() && std::isxdigit(static_cast<unsigned char>(pending[digits])))
    ++digits;
  if (digits == start) return false;
  const bool last = pending.substr(start, digits - start).find_first_not_of('0') == std::string_view::npos;
  return pending.find(last ? "\r\n\r\n" : "\r\n", start) != std::string_view::npos;
}

size_t feed_body(Parser<true>& p, std::string_view in, boost::beast::error_code& ec) {
  const size_t n = p.put(boost::asio::buffer(in.data(), in.size()), ec);
  if (ec == http::error::need_more) ec = {};
  if (!ec) ec = p.chunk_head_check(in.substr(n));
  return n;
}

bool crlf_header_lines(std::string_view v, std::string& fixed) {
  fixed.clear();
  size_t end = v.size(), line = 0;
  bool bare = false, complete = false;
  for (size_t i = v.find('\n'); i != std::string_view::npos; i = v.find('\n', i + 1)) {
    const bool cr = i > 0 && v[i - 1] == '\r';
    if (!cr) bare = true;
    const bool empty_line = i - line == (cr ? 1u : 0u);
    line = i + 1;
    if (empty_line && i > 0) {
      end = i + 1;
      complete = true;
      break;
    }
  }
  if (!bare) return complete;
  fixed.reserve(v.size() + 32);
  for (size_t i = 0; i < end; ++i) {
    if (v[i] == '\n' && (i == 0 || v[i - 1] != '\r')) fixed += '\r';
    fixed += v[i];
  }
  fixed.append(v.substr(end));
  return complete;
}

bool hop_by_hop(const Field& f) {
  switch (f.id) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
      return true;
    default:
      return false;
  }
}

bool listed_in_connection(std::string_view connection, std::string_view name) {
  size_t i = 0;
  while (i < connection.size()) {
    size_t j = connection.find(',', i);
    if (j == std::string_view::npos) j = connection.size();
    if (iequals(trim(connection.substr(i, j - i)), name)) return true;
    i = j + 1;
  }
  return false;
}

std::string cookie_value(std::string_view cookie, std::string_view name) {
  const std::string key = std::string(name) + "=";
  size_t pos = 0;
  while ((pos = cookie.find(key, pos)) != std::string_view::npos) {
    if (pos == 0 || cookie[pos - 1] == ' ' || cookie[pos - 1] == ';') {
      const auto v = cookie.substr(pos + key.size());
      return std::string(v.substr(0, v.find(';')));
    }
    pos += key.size();
  }
  return {};
}

std::string host_error(const Parser<true>& p, const std::vector<Field>& fields) {
  int hosts = 0;
  std::string_view host;
  for (const auto& f : fields) {
    if (f.id != http::field::host) continue;
    ++hosts;
    host = f.value;
  }
  // RFC 9112 §3.2: a request with more than one Host, or an invalid one, gets a 400 (routing
  // takes the last; a backend could take another), and so does an HTTP/1.1 request without one.
  if (hosts > 1) return "The request has more than one Host header.";
  if (hosts == 0 && p.version >= 11) return "An HTTP/1.1 request must have a Host header.";
  if (!valid_host(host)) return fmt::format("The Host header '{}' is not a valid host.", host);
  return {};
}

BackendHead backend_request_head(const Parser<true>& p, const std::vector<Field>& fields,
                                 std::string_view host, std::string_view client_ip, bool tls,
                                 std::string_view sticky_cookie, std::string& head) {
  BackendHead out;
  head.clear();
  std::string connection, xff, fwd;
  std::string_view upgrade;
  for (const auto& f : fields) {
    switch (f.id) {
      case http::field::connection:
        join(connection, f.value);
        break;
      case http::field::forwarded:
        if (valid_forwarded(f.value)) join(fwd, f.value);
        break;
      case http::field::upgrade:
        upgrade = f.value;
        break;
      case http::field::cookie:
        if (!sticky_cookie.empty() && out.cookie.empty())
          out.cookie = cookie_value(f.value, sticky_cookie);
        break;
      case http::field::expect:
        out.expect_continue = iequals(f.value, "100-continue");
        break;
      case http::field::transfer_encoding:
        // Only chunked is decoded (and re-chunked); any other coding would reach the backend
        // as a body without its Transfer-Encoding (RFC 9112 §6.1, §6.3).
        if (!iequals(trim(f.value), "chunked")) {
          out.error =
              fmt::format("Transfer-Encoding '{}' is not supported (only chunked).", f.value);
          return out;
        }
        break;
      default:
        if (iequals(f.name, "X-Forwarded-For")) join(xff, f.value);
        break;
    }
  }
  // The session refused these before routing; checked again so that this head never carries a
  // Host that could break out of Forwarded's quotes.
  if (out.error = host_error(p, fields); !out.error.empty()) return out;
  out.upgrade = p.upgrade() && !upgrade.empty();
  head.reserve(512);
  head.append(p.method).append(" ").append(p.target).append(" HTTP/1.1\r\n");
  for (const auto& f : fields) {
    if (hop_by_hop(f) || f.id == http::field::forwarded ||
        (out.expect_continue && f.id == http::field::expect) ||
        (f.id == http::field::unknown &&
         (iequals(f.name, "X-Forwarded-For") || iequals(f.name, "X-Forwarded-Proto") ||
          iequals(f.name, "X-Forwarded-Host")))) {
      continue;
    }
    if (!connection.empty() && listed_in_connection(connection, f.name)) continue;
    head.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  const std::string_view proto = tls ? "https" : "http";
  head.append("X-Forwarded-For: ");
  if (!xff.empty()) head.append(xff).append(", ");
  head.append(client_ip).append("\r\nX-Forwarded-Proto: ").append(proto).append("\r\n");
  if (!host.empty()) head.append("X-Forwarded-Host: ").append(host).append("\r\n");
  head.append("Forwarded: ");
  if (!fwd.empty()) head.append(fwd).append(", ");
  const bool v6 = client_ip.find(':') != std::string_view::npos;
  head.append(v6 ? "for=\"[" : "for=").append(client_ip).append(v6 ? "]\"" : "");
  head.append(";proto=").append(proto);
  if (!host.empty()) head.append(";host=\"").append(host).append("\"");
  head.append("\r\n");
  if (p.chunked()) head.append("Transfer-Encoding: chunked\r\n");
  if (out.upgrade) head.append("Connection: Upgrade\r\nUpgrade: ").append(upgrade).append("\r\n");
  head.append("\r\n");
  return out;
}

void client_response_head(const Parser<false>& rp, const std::vector<Field>& fields, bool chunked,
                          bool keep_alive, std::string_view set_cookie, std::string& out) {
  const int status = rp.status;
  std::string connection;
  std::string_view upgrade;
  // The backend's transfer codings but chunked (gzip, ...): chunked is decoded and re-made here,
  // the others stay on the body and must stay named before it (RFC 9112 §6.1).
  std::string codings;
  for (const auto& f : fields) {
    if (f.id == http::field::connection) join(connection, f.value);
    if (f.id == http::field::upgrade) upgrade = f.value;
    if (f.id == http::field::transfer_encoding) {
      for (size_t i = 0; i <= f.value.size();) {
        size_t j = f.value.find(',', i);
        if (j == std::string_view::npos) j = f.value.size();
        const std::string_view coding = trim(f.value.substr(i, j - i));
        // The registered codings only (RFC 9110 §18.6): anything else was never decodable.
        for (std::string_view known : {"gzip", "x-gzip", "deflate", "compress", "x-compress"})
          if (iequals(coding, known)) join(codings, known);
        i = j + 1;
      }
    }
  }
  fmt::format_to(std::back_inserter(out), "HTTP/1.1 {} ", status);
  out.append(rp.reason).append("\r\n");
  for (const auto& f : fields) {
    if (hop_by_hop(f)) continue;
    if (!connection.empty() && listed_in_connection(connection, f.name)) continue;
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  // Unchunked, the body goes to an HTTP/1.0 client or ends at the close: no Transfer-Encoding
  // then (an HTTP/1.0 client may not get one, RFC 9112 §6.1).
  if (chunked) {
    out.append("Transfer-Encoding: ").append(codings).append(codings.empty() ? "" : ", ");
    out.append("chunked\r\n");
  }
  if (!set_cookie.empty() && status != 101) {
    out.append("Set-Cookie: ").append(set_cookie).append("; Path=/; HttpOnly\r\n");
  }
  if (status == 101) {
    out.append("Connection: Upgrade\r\nUpgrade: ").append(upgrade).append("\r\n");
  } else if (!keep_alive) {
    out.append("Connection: close\r\n");
  }
  out.append("\r\n");
}

}  // namespace berth::proxy::detail
