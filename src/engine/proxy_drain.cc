// engine/proxy_drain.cc — POST /drain to each running proxy's control socket (plain sockets: a
// request of a few bytes needs no HTTP library, and stop stays cheap when no proxy runs).
#include "engine/proxy_drain.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/sys.h"
#include "base/unique_fd.h"

namespace berth::engine {
namespace {

struct Pending {
  std::string name;
  UniqueFd fd;
  std::string request;
  size_t sent = 0;
  std::string response;
  bool done = false;
};

UniqueFd connect_unix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return {};
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return {};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // A unix socket connects at once or not at all (ECONNREFUSED: a dead proxy's socket file).
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS &&
      errno != EAGAIN)
    return {};
  return fd;
}

int status_of(const std::string& response) {
  // "HTTP/1.1 200 OK"
  if (!response.starts_with("HTTP/1.") || response.size() < 12) return 0;
  return std::atoi(response.c_str() + 9);
}

}  // namespace

std::optional<pid_t> running_proxy_pid(const Layout& layout, const std::string& name) {
  UniqueFd fd(::open(layout.proxy_pid(name).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;  // nobody holds it
  auto text = sys::read_fd(fd.get());
  if (!text) return std::nullopt;
  pid_t pid = static_cast<pid_t>(std::atoi(text->c_str()));
  if (pid <= 0) return std::nullopt;
  return pid;
}

std::vector<std::string> running_proxies(const Layout& layout) {
  std::vector<std::string> names;
  for (const auto& entry : sys::list_dir(layout.proxies()))
    if (entry.ends_with(".pid")) {
      std::string name = entry.substr(0, entry.size() - 4);
      if (running_proxy_pid(layout, name)) names.push_back(name);
    }
  std::sort(names.begin(), names.end());
  return names;
}

Result<void> stop_proxy(const Layout& layout, const std::string& name) {
  auto pid = running_proxy_pid(layout, name);
  if (!pid) return Error::make(ErrorKind::not_found, "no proxy named '{}' runs", name);
  if (::kill(*pid, SIGTERM) != 0) return Error::from_errno("kill proxy '{}' (pid {})", name, *pid);
  for (int i = 0; i < 1000; ++i) {  // 10 s
    if (!running_proxy_pid(layout, name)) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Error::make(ErrorKind::unavailable, "proxy '{}' (pid {}) did not stop within 10 s of SIGTERM", name, *pid);
}

Result<ControlAnswer> ask_proxy(const std::string& socket, std::string_view method, std::string_view target,
                                int64_t timeout_ms) {
  UniqueFd fd = connect_unix(socket);
  if (!fd)
    return Error::make(ErrorKind::unavailable, "connect to proxy control socket '{}': nothing listens there", socket)
        .with_hint("is the proxy running? `berth proxy ls` lists them");
  std::string request = fmt::format("{} {} HTTP/1.0\r\nHost: berth-proxy\r\nContent-Length: 0\r\n\r\n", method, target);
  std::string response;
  size_t sent = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Error::make(ErrorKind::unavailable, "proxy control socket '{}': no answer within {} ms", socket,
                         timeout_ms);
    pollfd p{fd.get(), static_cast<short>(sent < request.size() ? POLLOUT : POLLIN), 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) return Error::from_errno("poll '{}'", socket);
    if (n <= 0) continue;
    if (sent < request.size()) {
      ssize_t w = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) return Error::from_errno("write to '{}'", socket);
      if (w > 0) sent += static_cast<size_t>(w);
      continue;
    }
    char buffer[16384];
    ssize_t r = ::read(fd.get(), buffer, sizeof buffer);
    if (r < 0 && errno == EAGAIN) continue;
    if (r < 0) return Error::from_errno("read from '{}'", socket);
    if (r == 0) break;
    response.append(buffer, static_cast<size_t>(r));
  }
  ControlAnswer answer;
  answer.status = status_of(response);
  auto end = response.find("\r\n\r\n");
  if (answer.status == 0 || end == std::string::npos)
    return Error::make(ErrorKind::corrupt, "proxy control socket '{}': not an HTTP answer", socket);
  answer.body = response.substr(end + 4);
  return answer;
}

bool routed_by_proxy(const ContainerConfig& config) {
  for (const auto& [key, value] : config.labels)
    if (key.starts_with("berth.proxy.")) return key != "berth.proxy.enable" || value != "false";
  for (const auto& e : config.env)
    if (e.starts_with("VIRTUAL_HOST=")) return true;
  return false;
}

DrainReport drain_in_proxies(const Layout& layout, const std::string& id, int64_t timeout_ms) {
  return post_to_proxies(layout, fmt::format("/drain?backend={}&timeout_ms={}", id, timeout_ms), timeout_ms);
}

DrainReport post_to_proxies(const Layout& layout, const std::string& target, int64_t timeout_ms) {
  DrainReport report;
  std::vector<Pending> pending;
  for (const auto& entry : sys::list_dir(layout.proxies())) {
    if (!entry.ends_with(".sock")) continue;
    Pending p;
    p.name = entry.substr(0, entry.size() - 5);
    p.fd = connect_unix(layout.proxies() + "/" + entry);
    if (!p.fd) continue;
    p.request = fmt::format(
        "POST {} HTTP/1.1\r\nHost: berth-proxy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", target);
    pending.push_back(std::move(p));
  }
  if (pending.empty()) return report;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms + 1000);
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<Pending*> owners;
    for (auto& p : pending) {
      if (p.done) continue;
      fds.push_back({p.fd.get(), static_cast<short>(p.sent < p.request.size() ? POLLOUT : POLLIN), 0});
      owners.push_back(&p);
    }
    if (fds.empty()) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) break;
    for (size_t i = 0; i < fds.size(); ++i) {
      Pending& p = *owners[i];
      if (!fds[i].revents) continue;
      if (p.sent < p.request.size()) {
        ssize_t w = ::send(p.fd.get(), p.request.data() + p.sent, p.request.size() - p.sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) p.done = true;
        else if (w > 0) p.sent += static_cast<size_t>(w);
        continue;
      }
      char buffer[512];
      ssize_t r = ::read(p.fd.get(), buffer, sizeof buffer);
      if (r > 0) p.response.append(buffer, static_cast<size_t>(r));
      if ((r <= 0 && errno != EAGAIN) || r == 0 || p.response.find("\r\n") != std::string::npos) p.done = true;
    }
  }
  for (auto& p : pending) {
    int status = status_of(p.response);
    // 404: this proxy does not route to the container.
    if (status == 200 || status == 404) report.drained.push_back(fmt::format("{}: {}", p.name, status));
    else if (status == 0) report.failed.push_back(fmt::format("{}: no answer within {} ms", p.name, timeout_ms));
    else report.failed.push_back(fmt::format("{}: {}", p.name, p.response.substr(0, p.response.find("\r\n"))));
  }
  return report;
}

void undrain_before_start(Engine& engine, const ContainerRecord& r) {
  if (!routed_by_proxy(r.config)) return;
  auto report = post_to_proxies(engine.layout, fmt::format("/undrain?backend={}", r.id), 2000);
  for (const auto& failed : report.failed)
    log::debug(fmt::format("undrain container '{}' in proxy {}", r.name, failed));
}

void wait_up_in_proxies(const Layout& layout, const std::string& old_id, const std::string& new_id,
                        int64_t timeout_ms) {
  std::vector<std::string> waiting;  // control sockets of the proxies that route old_id
  for (const auto& entry : sys::list_dir(layout.proxies())) {
    if (!entry.ends_with(".sock")) continue;
    std::string socket = layout.proxies() + "/" + entry;
    auto old = ask_proxy(socket, "GET", fmt::format("/backend?id={}", old_id), 2000);
    if (old && old->status == 200) waiting.push_back(std::move(socket));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last;
  while (!waiting.empty()) {
    std::erase_if(waiting, [&](const std::string& socket) {
      auto answer = ask_proxy(socket, "GET", fmt::format("/backend?id={}", new_id), 2000);
      if (!answer) {
        last = answer.error().message();
        return false;
      }
      if (answer->status != 200) {
        last = fmt::format("{}: not in its table yet", socket);
        return false;
      }
      auto j = nlohmann::json::parse(answer->body, nullptr, false);
      std::string state = j.is_object() ? j.value("state", "") : "";
      last = fmt::format("{}: {}", socket, state);
      return state == "up";
    });
    if (waiting.empty()) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      log::warn(fmt::format(
          "new instance {} is not up in proxy {} after {} ms; stopping the old one anyway", new_id,
          last, timeout_ms));
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void drain_before_stop(Engine& engine, const ContainerRecord& r, std::optional<int> timeout_s) {
  if (r.state != "running" || !routed_by_proxy(r.config)) return;
  int64_t ms = int64_t{timeout_s.value_or(r.config.stop_timeout.value_or(10))} * 1000;
  auto report = drain_in_proxies(engine.layout, r.id, ms);
  for (const auto& failed : report.failed)
    log::warn(fmt::format("drain container '{}' in proxy {} (stopping it anyway)", r.name, failed));
}

}  // namespace berth::engine
