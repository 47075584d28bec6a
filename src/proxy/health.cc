// Active health checks: one coroutine per checked backend, for as long as the backend is in the
// table. TCP: a connect; HTTP: `GET path` whose status is 2xx or 3xx. `rise` successes in a row
// bring a backend in, `fall` failures in a row take it out.
#include "proxy/detail/session.h"

namespace berth::proxy::detail {

namespace {

awaitable<std::string> check_once(Core& core, BackendState& b, const HealthCheck& check) {
  TcpSocket socket(core.io.get_executor());
  Deadline deadline;
  bool timed_out = false;
  deadline.fire = [&] {
    timed_out = true;
    error_code ignored;
    socket.close(ignored);
  };
  core.arm(deadline, check.timeout_ms);
  error_code ec;
  co_await socket.async_connect(b.endpoint, with(ec));
  std::string result;
  if (ec) {
    result = timed_out ? "connect timed out" : fmt::format("connect: {}", ec.message());
  } else if (check.kind == HealthCheck::Kind::tcp) {
    result = "ok";
  } else {
    const std::string request = fmt::format(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: berth-proxy-check\r\nConnection: close\r\n\r\n",
        check.path.empty() ? "/" : check.path, b.address);
    co_await write_all(socket, request, ec);
    FlatBuffer buf;
    while (!ec && buf.view().find("\r\n") == std::string_view::npos && buf.size() < 4096) {
      co_await read_into(socket, buf, ec);
    }
    const auto line = buf.view();
    if (line.size() >= 12 && line.starts_with("HTTP/1.")) {
      const int code = std::atoi(std::string(line.substr(9, 3)).c_str());
      result = (code >= 200 && code < 400) ? "ok" : fmt::format("status {}", code);
    } else {
      result = timed_out ? "timed out" : fmt::format("no HTTP answer: {}", ec.message());
    }
  }
  core.disarm(deadline);
  co_return result;
}

awaitable<void> checker(Core& core, std::shared_ptr<BackendState> b) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  error_code ec;
  bool first = true;
  while (b->in_table && b->check.kind != HealthCheck::Kind::none) {
    if (!first) {
      timer.expires_after(std::chrono::milliseconds(std::max(b->check.interval_ms, 10)));
      co_await timer.async_wait(with(ec));
    }
    first = false;
    if (!b->in_table || b->check.kind == HealthCheck::Kind::none) break;
    if (!b->address_ok) continue;
    const HealthCheck check = b->check;  // this round's, whatever the table does meanwhile
    const bool first_check = b->last_check_ms == 0;
    const int64_t start = now_ms();
    const std::string result = co_await check_once(core, *b, check);
    b->last_check_ms = now_ms();
    if (result == "ok") {
      b->last_check = fmt::format("ok in {} ms", b->last_check_ms - start);
      b->check_failures = 0;
      // A new backend comes in on its first success; one that went down needs `rise`.
      if (++b->check_successes >= std::max(check.rise, 1) || b->check_up || first_check) {
        if (!b->check_up) b->down_until_ms = 0;
        b->check_up = true;
      }
    } else {
      b->last_check = result;
      b->check_successes = 0;
      if (++b->check_failures >= std::max(check.fall, 1)) {
        b->check_up = false;
        b->idle.clear();
      }
    }
  }
  b->checker_running = false;
}

}  // namespace

void Core::ensure_checker(const std::shared_ptr<BackendState>& backend, const HealthCheck& check) {
  backend->check = check;
  if (backend->checker_running) return;
  backend->checker_running = true;
  asio::co_spawn(io, checker(*this, backend), asio::detached);
}

}  // namespace berth::proxy::detail
