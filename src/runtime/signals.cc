#include <signal.h>
#include <strings.h>

#include <cstdlib>

#include "runtime/runtime.h"

namespace berth::runtime {
namespace {
struct SignalName {
  const char* name;
  int number;
};
constexpr SignalName kSignals[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},       {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},   {"ABRT", SIGABRT},     {"IOT", SIGIOT},     {"BUS", SIGBUS},
    {"FPE", SIGFPE},     {"KILL", SIGKILL},     {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},   {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CONT", SIGCONT},   {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},   {"URG", SIGURG},
    {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH}, {"IO", SIGIO},         {"POLL", SIGPOLL},   {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};
}  // namespace

Result<int> parse_signal(std::string_view text) {
  std::string s(text);
  if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0]))) {
    char* end = nullptr;
    long n = std::strtol(s.c_str(), &end, 10);
    if (*end == '\0' && n > 0 && n < NSIG) return static_cast<int>(n);
    return Error::make(ErrorKind::invalid_argument, "invalid signal '{}': numbers go from 1 to {}", s, NSIG - 1);
  }
  std::string name = s;
  if (name.size() > 3 && strncasecmp(name.c_str(), "SIG", 3) == 0) name = name.substr(3);
  for (const auto& sig : kSignals)
    if (strcasecmp(sig.name, name.c_str()) == 0) return sig.number;
  if (strncasecmp(name.c_str(), "RTMIN", 5) == 0 || strncasecmp(name.c_str(), "RTMAX", 5) == 0) {
    bool min = strncasecmp(name.c_str(), "RTMIN", 5) == 0;
    int offset = name.size() > 5 ? std::atoi(name.c_str() + 5) : 0;
    int n = min ? SIGRTMIN + offset : SIGRTMAX + offset;
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  }
  return Error::make(ErrorKind::invalid_argument, "unknown signal '{}'", s)
      .with_hint("use a name such as TERM, SIGKILL or HUP, or a number");
}

}  // namespace berth::runtime
