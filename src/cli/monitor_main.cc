// berth-monitor — one per running container (conmon's role). The engine starts it detached;
// everything it learns goes to files in --dir (monitor/protocol.h).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "base/log.h"
#include "cli/runtime/args.h"
#include "monitor/monitor.h"
#include "monitor/runtime_library.h"

int main(int argc, char** argv) {
  using namespace berth;
  std::vector<std::string> args(argv, argv + argc);
  const std::vector<cli::OptionSpec> specs = {
      {"runtime", true, "the OCI runtime binary"},
      {"runtime-root", true, "the runtime's --root"},
      {"runtime-in-process", false,
       "create, start and delete through berth's runtime library in this process (the runtime's "
       "state in --runtime-root), not by running --runtime; its exec still runs health checks"},
      {"bundle", true, "the OCI bundle"},
      {"dir", true, "the container's directory: log.jsonl, exit.json, monitor.json"},
      {"cgroup-path", true, "the container's cgroupsPath, to detect OOM kills"},
      {"restart", true, "no, on-failure[:N], always or unless-stopped"},
      {"log-max-size", true, "rotate log.jsonl past this many bytes (default 10 MiB)"},
      {"log-max-files", true, "log files kept, current included (default 3)"},
      {"ready-fd", true, "write 'ok' here once the container runs, or the error if it cannot start"},
      {"unmount", true, "detach this mount (the container's rootfs) when all is over"},
      {"exit-command", true, "run this program when all is over (not waited for)"},
      {"exit-arg", true, "an argument for --exit-command (repeat for several)"},
      {"health-arg", true, "the health check command, one argument each (repeat)"},
      {"health-interval", true, "ms between health checks (default 30000)"},
      {"health-timeout", true, "ms a health check may take (default 30000)"},
      {"health-retries", true, "failures in a row that make the container unhealthy (default 3)"},
      {"health-start-period", true, "ms after start during which failures do not count"},
      {"tty", false, "the container has a terminal: read its master, serve attach.sock"},
      {"interactive", false, "keep the container's stdin open for clients of attach.sock"},
      {"h,help", false, "this help"}};
  auto parsed = cli::parse_args(args, 1, specs, "berth-monitor");
  if (!parsed || parsed->flag("help") || parsed->positionals.size() != 1) {
    if (!parsed) log::error(parsed.error().message());
    std::fprintf(stderr, "Usage: berth-monitor [options] ID\n\nOptions:\n%s",
                 cli::describe_options(specs).c_str());
    return parsed && parsed->flag("help") ? 0 : 2;
  }
  monitor::MonitorOptions o;
  o.id = parsed->positionals[0];
  o.dir = parsed->value("dir", ".");
  o.release_memory_when_idle = true;
  o.tty = parsed->flag("tty");
  o.interactive = parsed->flag("interactive");
  o.health.command = parsed->values_of("health-arg");
  auto ms = [&](const char* name, uint64_t fallback) {
    std::string text = parsed->value(name);
    return text.empty() ? fallback : std::strtoull(text.c_str(), nullptr, 10);
  };
  o.health.interval_ms = ms("health-interval", 30'000);
  o.health.timeout_ms = ms("health-timeout", 30'000);
  o.health.retries = static_cast<unsigned>(ms("health-retries", 3));
  o.health.start_period_ms = ms("health-start-period", 0);
  o.unmount_at_end = parsed->value("unmount");
  if (std::string command = parsed->value("exit-command"); !command.empty()) {
    o.exit_command.push_back(command);
    for (const auto& arg : parsed->values_of("exit-arg")) o.exit_command.push_back(arg);
  }
  o.cgroup_path = parsed->value("cgroup-path");
  auto policy = monitor::RestartPolicy::parse(parsed->value("restart", "no"));
  if (!policy) {
    log::error(policy.error().message());
    return 2;
  }
  o.restart = *policy;
  o.log_max_size = std::stoull(parsed->value("log-max-size", std::to_string(10 << 20)));
  o.log_max_files = static_cast<unsigned>(std::stoul(parsed->value("log-max-files", "3")));
  int ready_fd = parsed->flag("ready-fd") ? std::atoi(parsed->value("ready-fd").c_str()) : -1;
  o.on_started = [&ready_fd](pid_t) {
    if (ready_fd < 0) return;
    (void)!::write(ready_fd, "ok", 2);
    ::close(ready_fd);
    ready_fd = -1;
  };
  std::string binary = parsed->value("runtime", "berth-runtime");
  std::string root = parsed->value("runtime-root", "/run/berth/runtime");
  std::string bundle = parsed->value("bundle", ".");
  std::unique_ptr<monitor::RuntimeDriver> runtime;
  if (parsed->flag("runtime-in-process"))
    runtime = std::make_unique<monitor::LibraryRuntime>(runtime::GlobalOptions{root}, o.id, bundle, binary,
                                                        monitor::LibraryRuntime::Create::in_forked_child);
  else
    runtime = std::make_unique<monitor::ExecRuntime>(binary, root, bundle, o.id, o.dir);
  auto code = monitor::run_monitor(o, *runtime);
  if (!code) {
    if (ready_fd >= 0) {
      std::string message = code.error().message();
      (void)!::write(ready_fd, message.data(), message.size());
    }
    log::error(code.error().message());
    return 1;
  }
  return *code;
}
