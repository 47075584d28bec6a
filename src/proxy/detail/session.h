// proxy/detail/session.h — what the HTTP and TCP sessions share: stream
// helpers that work for plain and TLS client streams, and the byte pump of tunnels.
#pragma once

// clang-format off: first, Boost 1.74's asio/awaitable.hpp uses std::exchange without it.
#include <utility>
// clang-format on

#include <algorithm>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <vector>

#include "proxy/detail/buffer_pool.h"
#include "proxy/detail/core.h"

namespace berth::proxy::detail {

using asio::awaitable;
inline auto with(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

inline TcpSocket& raw_socket(TcpSocket& s) { return s; }
inline TcpSocket& raw_socket(asio::ssl::stream<TcpSocket>& s) { return s.next_layer(); }

// (The HTTP session's hot paths write it out: `buf.commit(co_await s.async_read_some(buf.prepare()…`
// spares a coroutine frame, an allocation, per read.)
template <class Stream>
awaitable<size_t> read_into(Stream& stream, FlatBuffer& buf, error_code& ec) {
  const size_t n = co_await stream.async_read_some(buf.prepare(), with(ec));
  buf.commit(n);
  co_return n;
}

// Not a coroutine itself (the caller awaits asio's operation): a coroutine frame per write
// would be one more allocation per request.
template <class Stream>
auto write_all(Stream& stream, std::string_view data, error_code& ec) {
  return asio::async_write(stream, asio::buffer(data.data(), data.size()), with(ec));
}

// Copies bytes from `from` to `to` until either side closes or fails; `pending` (bytes already
// read from `from`) go first. `activity` is bumped on each transfer (idle timeouts).
template <class From, class To>
awaitable<void> pump(From& from, To& to, FlatBuffer& pending, int64_t& activity, uint64_t& bytes) {
  error_code ec;
  if (!pending.empty()) {
    co_await write_all(to, pending.view(), ec);
    bytes += pending.size();
    pending.clear();
    if (ec) co_return;
  }
  std::vector<char> buf(16384);
  for (;;) {
    const size_t n = co_await from.async_read_some(asio::buffer(buf), with(ec));
    if (ec) break;
    activity = now_ms();
    co_await asio::async_write(to, asio::buffer(buf.data(), n), with(ec));
    if (ec) break;
    bytes += n;
  }
  error_code ignored;
  raw_socket(to).shutdown(TcpSocket::shutdown_send, ignored);
}

// Runs a tunnel between a client stream and a backend socket until both directions end, or
// until `idle_ms` pass without a byte either way.
template <class Stream>
awaitable<void> tunnel(Core& core, Stream& client, TcpSocket& backend, FlatBuffer& client_pending,
                       FlatBuffer& backend_pending, int idle_ms, uint64_t& up, uint64_t& down) {
  int64_t activity = now_ms();
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer done(ex, std::chrono::steady_clock::time_point::max());
  bool other_done = false;
  Deadline idle;
  idle.fire = [&] {
    const int64_t quiet = now_ms() - activity;
    if (quiet >= idle_ms) {
      error_code ignored;
      raw_socket(client).close(ignored);
      backend.close(ignored);
    } else {
      core.arm(idle, idle_ms - quiet);
    }
  };
  core.arm(idle, idle_ms);
  asio::co_spawn(
      ex,
      [&]() -> awaitable<void> {
        co_await pump(backend, client, backend_pending, activity, down);
        other_done = true;
        done.cancel();
      },
      asio::detached);
  co_await pump(client, backend, client_pending, activity, up);
  if (!other_done) {
    error_code ec;
    co_await done.async_wait(with(ec));
  }
  core.disarm(idle);
}

}  // namespace berth::proxy::detail
