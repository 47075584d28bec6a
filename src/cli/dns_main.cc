// berth-dns — the DNS responder of one berth network (docs/networking.md, "DNS"). The engine
// starts one per network, in the host's network namespace, when the network's first container
// starts; it exits by itself when the names file goes or stays empty.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "cli/runtime/args.h"
#include "net/dns_server.h"

namespace {

using namespace berth;

void say(std::string_view level, std::string_view message) {
  std::string line = fmt::format("{} berth-dns[{}]: {}{}\n", clock::rfc3339_now(), ::getpid(),
                                 level.empty() ? "" : fmt::format("{}: ", level), message);
  (void)!::write(2, line.data(), line.size());
}

std::optional<unsigned long> number(const cli::ParsedArgs& args, std::string_view name,
                                    unsigned long fallback, unsigned long max) {
  const std::string text = args.value(name);
  if (text.empty()) return fallback;
  char* end = nullptr;
  errno = 0;
  const unsigned long value = std::strtoul(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || text[0] == '-' || value > max) {
    std::fprintf(stderr, "berth-dns: --%s '%s' is not a number from 0 to %lu\n",
                 std::string(name).c_str(), text.c_str(), max);
    return std::nullopt;
  }
  return value;
}

// The path from the root: a detached responder works from "/" (it keeps no directory busy).
std::string absolute(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[4096];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

// Detaches from the caller: a new session, stdin and stdout on /dev/null, stderr on the log
// (or /dev/null). The parent returns at once; the child keeps every socket opened before.
bool daemonise(const std::string& log_path) {
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  int log = null;
  if (!log_path.empty()) {
    log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) {
      std::fprintf(stderr, "berth-dns: open log '%s': %s\n", log_path.c_str(),
                   std::strerror(errno));
      return false;
    }
  }
  const pid_t child = ::fork();
  if (child < 0) {
    std::perror("berth-dns: fork");
    return false;
  }
  if (child > 0) ::_exit(0);
  ::setsid();
  (void)!::chdir("/");
  ::dup2(null, 0);
  ::dup2(null, 1);
  ::dup2(log, 2);
  if (log != null) ::close(log);
  ::close(null);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  const std::vector<cli::OptionSpec> specs = {
      {"listen", true, "the address to answer on: the network's gateway (required)"},
      {"port", true, "the UDP and TCP port (default 53)"},
      {"names", true, "the names file, 'NAME IPV4' lines (required)"},
      {"lock", true, "held locked while running; a second instance exits (required)"},
      {"resolv-conf", true, "nameservers for other names (default /etc/resolv.conf; '': none)"},
      {"idle-exit", true, "exit after this many seconds without records (default 10; 0: never)"},
      {"ttl", true, "the TTL of answers in seconds (default 0)"},
      {"detach", false, "run in the background, in a new session"},
      {"log", true, "append messages to this file (with --detach; else stderr)"},
      {"ready-fd", true, "write one byte to this fd once listening, then close it"},
      {"h,help", false, "this help"}};
  auto parsed = cli::parse_args(args, 1, specs, "berth-dns");
  if (!parsed || parsed->flag("help") || !parsed->positionals.empty()) {
    if (!parsed) std::fprintf(stderr, "berth-dns: %s\n", parsed.error().message().c_str());
    if (parsed && !parsed->positionals.empty()) {
      std::fprintf(stderr, "berth-dns: unexpected argument '%s'\n", parsed->positionals[0].c_str());
    }
    std::fprintf(stderr,
                 "Usage: berth-dns --listen ADDRESS --names FILE --lock FILE [options]\n\n"
                 "Answers DNS queries for the names of one berth network.\n\nOptions:\n%s",
                 cli::describe_options(specs).c_str());
    return parsed && parsed->flag("help") ? 0 : 2;
  }
  for (const char* required : {"listen", "names", "lock"}) {
    if (parsed->value(required).empty()) {
      std::fprintf(stderr, "berth-dns: --%s is required (see berth-dns --help)\n", required);
      return 2;
    }
  }
  const auto port = number(*parsed, "port", 53, 65535);
  const auto idle = number(*parsed, "idle-exit", 10, 86400UL * 365);
  const auto ttl = number(*parsed, "ttl", 0, 86400);
  const auto ready = number(*parsed, "ready-fd", 0, 1 << 20);
  if (!port || !idle || !ttl || !ready || *port == 0) {
    if (port && *port == 0) std::fprintf(stderr, "berth-dns: --port 0 is not a port\n");
    return 2;
  }
  int ready_fd = parsed->flag("ready-fd") ? static_cast<int>(*ready) : -1;
  if (ready_fd >= 0) ::fcntl(ready_fd, F_SETFD, FD_CLOEXEC);

  const std::string log_path = parsed->value("log");
  if (!log_path.empty() && !parsed->flag("detach")) {
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) {
      std::fprintf(stderr, "berth-dns: open log '%s': %s\n", log_path.c_str(),
                   std::strerror(errno));
      return 1;
    }
    ::dup2(log, 2);
    ::close(log);
  }

  net::dns::ServerOptions o;
  o.listen = parsed->value("listen");
  o.port = static_cast<uint16_t>(*port);
  o.names_path = absolute(parsed->value("names"));
  o.lock_path = absolute(parsed->value("lock"));
  // --resolv-conf '' turns forwarding off.
  o.resolv_conf =
      parsed->flag("resolv-conf") ? absolute(parsed->value("resolv-conf")) : "/etc/resolv.conf";
  o.idle_exit_seconds = static_cast<unsigned>(*idle);
  o.ttl = static_cast<uint32_t>(*ttl);
  o.warn = [](std::string_view message) { say("warning", message); };

  auto server = net::dns::Server::open(o);
  if (!server) {
    const Error& e = server.error();
    if (e.kind() == ErrorKind::already_exists) {  // the engine raced another start: fine
      std::fprintf(stderr, "berth-dns: %s\n", e.message().c_str());
      return 0;
    }
    std::fprintf(stderr, "berth-dns: %s\n", e.message().c_str());
    if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
    return e.kind() == ErrorKind::invalid_argument ? 2 : 1;
  }
  if (parsed->flag("detach") && !daemonise(log_path)) return 1;
  say("", fmt::format("answering on {} port {} for '{}'", o.listen, o.port, o.names_path));
  auto reason = (*server)->run([&ready_fd] {
    if (ready_fd < 0) return;
    (void)!::write(ready_fd, "1", 1);
    ::close(ready_fd);
    ready_fd = -1;
  });
  if (!reason) {
    say("error", reason.error().message());
    return 1;
  }
  say("", fmt::format("exiting: {}", net::dns::describe(*reason)));
  return 0;
}
