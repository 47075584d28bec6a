// berth-runtime — the OCI runtime with runc's command line, so podman and friends can drive it.
// Parses arguments, calls one runtime:: function, prints the result or the error.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/sys.h"
#include "cli/runtime/args.h"
#include "runtime/runtime.h"

namespace berth::cli {
namespace {

using runtime::GlobalOptions;

constexpr const char* kVersion = "0.1.0";
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

struct Command {
  const char* name;
  const char* usage;
  const char* summary;
  std::vector<OptionSpec> options;
  size_t option_positionals;  // positionals after which options stop (SIZE_MAX: never)
  int min_positionals;
  std::function<Result<int>(const GlobalOptions&, const ParsedArgs&)> run;
};

Result<int> done(Result<void> r) {
  if (!r) return std::move(r).error();
  return 0;
}

Result<int> parse_int(const std::string& text, std::string_view what) {
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 0 || v > 1 << 20)
    return Error::make(ErrorKind::invalid_argument, "{}: '{}' is not a valid number", what, text);
  return static_cast<int>(v);
}

Result<runtime::CreateOptions> create_options(const ParsedArgs& a) {
  runtime::CreateOptions o;
  o.id = a.positionals[0];
  o.bundle = a.value("bundle", ".");
  o.pid_file = a.value("pid-file");
  o.console_socket = a.value("console-socket");
  BERTH_TRY(o.preserve_fds, parse_int(a.value("preserve-fds", "0"), "--preserve-fds"));
  o.no_pivot = a.flag("no-pivot");
  o.no_new_keyring = a.flag("no-new-keyring");
  return o;
}

const std::vector<OptionSpec> kCreateOptions = {{"b,bundle", true, "the bundle directory (default: the current one)"},
    {"pid-file", true, "write the container process's pid to this file"},
    {"console-socket", true, "unix socket to send the terminal's master fd to"},
    {"preserve-fds", true, "pass this many fds after stdio (3, 4, ...) to the process"},
    {"no-pivot", false, "enter the rootfs with MS_MOVE + chroot instead of pivot_root"},
    {"no-new-keyring", false, "keep the caller's session keyring"}};

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) line += i + 1 == row.size() ? row[i] : pad(row[i], widths[i] + 3);
    std::puts(line.c_str());
  }
}

Result<int> list_command(const GlobalOptions& g, const ParsedArgs& a) {
  auto entries = runtime::list(g);
  std::string format = a.value("format", "table");
  if (a.flag("quiet")) {
    for (const auto& e : entries) std::puts(e.record.id.c_str());
    return 0;
  }
  if (format == "json") {
    auto arr = nlohmann::json::array();
    for (const auto& e : entries) arr.push_back(nlohmann::json::parse(runtime::state_json(e.record, e.status)));
    std::puts(arr.dump().c_str());
    return 0;
  }
  if (format != "table") return Error::make(ErrorKind::invalid_argument, "unknown --format '{}': use table or json", format);
  std::vector<std::vector<std::string>> rows = {{"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}};
  for (const auto& e : entries)
    rows.push_back({e.record.id, std::to_string(e.status == runtime::Status::stopped ? 0 : e.record.pid),
                    runtime::status_name(e.status), e.record.bundle, e.record.created, e.record.owner});
  print_table(rows);
  return 0;
}

Result<int> ps_command(const GlobalOptions& g, const ParsedArgs& a) {
  BERTH_TRY(auto pids, runtime::processes(g, a.positionals[0]));
  if (a.value("format", "table") == "json") {
    std::puts(nlohmann::json(pids).dump().c_str());
    return 0;
  }
  // As runc: run the host's ps with the given options (no shell) and keep the container's lines.
  std::vector<std::string> argv = {"ps"};
  if (a.positionals.size() > 1)
    argv.insert(argv.end(), a.positionals.begin() + 1, a.positionals.end());
  else
    argv.push_back("-ef");
  int out[2];
  if (::pipe2(out, O_CLOEXEC) < 0) return Error::from_errno("pipe");
  pid_t child = ::fork();
  if (child < 0) return Error::from_errno("fork");
  if (child == 0) {
    ::dup2(out[1], 1);
    std::vector<char*> cargv;
    for (auto& arg : argv) cargv.push_back(arg.data());
    cargv.push_back(nullptr);
    ::execvp("ps", cargv.data());
    _exit(127);
  }
  ::close(out[1]);
  FILE* p = ::fdopen(out[0], "r");
  char line[4096];
  int pid_column = -1;
  bool header = true;
  while (p && std::fgets(line, sizeof line, p)) {
    auto fields = sys::split(line, ' ');
    if (header) {
      for (size_t i = 0; i < fields.size(); ++i)
        if (fields[i] == "PID") pid_column = static_cast<int>(i);
      std::fputs(line, stdout);
      header = false;
      continue;
    }
    if (pid_column >= 0 && pid_column < static_cast<int>(fields.size())) {
      pid_t pid = std::atoi(fields[static_cast<size_t>(pid_column)].c_str());
      if (std::find(pids.begin(), pids.end(), pid) != pids.end()) std::fputs(line, stdout);
    }
  }
  if (p) std::fclose(p);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return Error(ErrorKind::not_found, "run 'ps': not found on this host");
  if (pid_column < 0) return Error::make(ErrorKind::invalid_argument, "'ps' printed no PID column with these options");
  return status == 0 ? 0 : kExitError;
}

Result<int> exec_command(const GlobalOptions& g, const ParsedArgs& a) {
  runtime::ExecOptions o;
  o.id = a.positionals[0];
  o.args.assign(a.positionals.begin() + 1, a.positionals.end());
  o.process_file = a.value("process");
  if (o.process_file.empty() && o.args.empty())
    return Error(ErrorKind::invalid_argument, "exec needs a command after the container id, or --process FILE");
  o.cwd = a.value("cwd");
  o.env = a.values_of("env");
  o.user = a.value("user");
  o.add_caps = a.values_of("cap");
  for (const auto& gid : a.values_of("additional-gids")) {
    BERTH_TRY(int g, parse_int(gid, "--additional-gids"));
    o.additional_gids.push_back(static_cast<uint32_t>(g));
  }
  o.tty = a.flag("tty");
  o.detach = a.flag("detach");
  o.no_new_privs = a.flag("no-new-privs");
  o.apparmor_profile = a.value("apparmor");
  o.pid_file = a.value("pid-file");
  o.console_socket = a.value("console-socket");
  BERTH_TRY(o.preserve_fds, parse_int(a.value("preserve-fds", "0"), "--preserve-fds"));
  return runtime::exec(g, o);
}

Result<int> spec_command(const GlobalOptions&, const ParsedArgs& a) {
  std::string path = sys::join_path(a.value("bundle", "."), "config.json");
  if (sys::exists(path))
    return Error::make(ErrorKind::already_exists, "'{}' already exists", path).with_hint("remove it first, or pass --bundle DIR");
  BERTH_TRY_VOID(sys::atomic_write(path, oci::default_spec_json(a.flag("rootless"))));
  return 0;
}

std::vector<Command> commands() {
  return {
      {"create", "create [options] ID", "Create a container: set it up and wait for start",
       kCreateOptions, SIZE_MAX, 1,
       [](auto& g, auto& a) -> Result<int> {
         BERTH_TRY(auto o, create_options(a));
         BERTH_TRY_VOID(runtime::create(g, o));  // the pid is in the state and --pid-file
         return 0;
       }},
      {"start",
       "start ID",
       "Start the user process of a created container",
       {},
       SIZE_MAX,
       1,
       [](auto& g, auto& a) { return done(runtime::start(g, a.positionals[0])); }},
      {"run", "run [options] ID",
       "Create and start a container; in the foreground, wait and delete it",
       [] {
         auto o = kCreateOptions;
         o.push_back({"d,detach", false, "return once the process runs; do not wait or delete"});
         o.push_back({"keep", false});
         return o;
       }(),
       SIZE_MAX, 1,
       [](auto& g, auto& a) -> Result<int> {
         BERTH_TRY(auto o, create_options(a));
         return runtime::run(g, o, a.flag("detach"));
       }},
      {"state",
       "state ID",
       "Print the state of a container as JSON",
       {},
       SIZE_MAX,
       1,
       [](auto& g, auto& a) -> Result<int> {
         BERTH_TRY(auto json, runtime::state(g, a.positionals[0]));
         std::puts(json.c_str());
         return 0;
       }},
      {"kill",
       "kill [--all] ID [SIGNAL]",
       "Send a signal (default TERM) to the container's process",
       {{"a,all", false, "signal every process in the container"}},
       SIZE_MAX,
       1,
       [](auto& g, auto& a) -> Result<int> {
         BERTH_TRY(int sig, runtime::parse_signal(a.positionals.size() > 1 ? a.positionals[1] : "TERM"));
         return done(runtime::kill(g, a.positionals[0], sig, a.flag("all")));
       }},
      {"delete",
       "delete [--force] ID",
       "Delete a stopped (or, with --force, any) container",
       {{"f,force", false, "kill the container first if it is running"}},
       SIZE_MAX,
       1,
       [](auto& g, auto& a) {
         return done(runtime::remove(g, a.positionals[0], a.flag("force")));
       }},
      {"exec",
       "exec [options] ID COMMAND [ARG...]",
       "Run a new process in a running container",
       {{"p,process", true, "a process.json to run instead of COMMAND"},
        {"t,tty", false, "give the process a terminal"},
        {"d,detach", false, "return once the process runs"},
        {"pid-file", true, "write the process's pid to this file"},
        {"console-socket", true, "unix socket to send the terminal's master fd to"},
        {"cwd", true, "working directory in the container"},
        {"e,env", true, "set an environment variable (NAME=value; repeatable)"},
        {"u,user", true, "run as UID[:GID]"},
        {"c,cap", true, "add a capability (repeatable)"},
        {"no-new-privs", false, "set no_new_privs"},
        {"preserve-fds", true, "pass this many fds after stdio to the process"},
        {"g,additional-gids", true, "an additional group id (repeatable)"},
        {"process-label", true},
        {"apparmor", true, "the process's AppArmor profile"},
        {"ignore-paused", false},
        {"cgroup", true}},
       1,
       1,
       exec_command},
      {"list",
       "list [--format table|json] [-q]",
       "List containers",
       {{"f,format", true, "table (default) or json"}, {"q,quiet", false, "print only ids"}},
       SIZE_MAX,
       0,
       list_command},
      {"ps",
       "ps [--format table|json] ID [PS OPTIONS...]",
       "List the processes in a container",
       {{"f,format", true, "table (default) or json"}},
       1,
       1,
       ps_command},
      {"pause",
       "pause ID",
       "Freeze every process of a container",
       {},
       SIZE_MAX,
       1,
       [](auto& g, auto& a) { return done(runtime::pause(g, a.positionals[0])); }},
      {"resume",
       "resume ID",
       "Thaw a paused container",
       {},
       SIZE_MAX,
       1,
       [](auto& g, auto& a) { return done(runtime::resume(g, a.positionals[0])); }},
      {"spec",
       "spec [--bundle DIR] [--rootless]",
       "Write a default config.json",
       {{"b,bundle", true, "where to write config.json"},
        {"rootless", false, "a user namespace mapping the caller to root"}},
       SIZE_MAX,
       0,
       spec_command},
      {"features",
       "features",
       "Print what this runtime supports (runtime-spec features.md)",
       {},
       SIZE_MAX,
       0,
       [](auto&, auto&) -> Result<int> {
         std::puts(runtime::features_json().c_str());
         return 0;
       }},
  };
}

void print_help(const std::vector<Command>& cmds) {
  std::printf(
      "Usage: berth-runtime [global options] COMMAND [options] ARGS\n\n"
      "berth's OCI runtime; its command line follows runc's.\n\nCommands:\n");
  for (const auto& c : cmds) std::printf("  %-10s %s\n", c.name, c.summary);
  std::printf(
      "\nGlobal options:\n"
      "  --root DIR          state directory (default /run/berth/runtime)\n"
      "  --log FILE          also write errors to FILE\n"
      "  --log-format FMT    text or json\n"
      "  --debug             print debug messages\n"
      "  --systemd-cgroup    read cgroupsPath as slice:prefix:name\n"
      "  -v, --version       print the version\n");
}

int report(const Error& e) {
  log::error(e.message());
  if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
  return e.kind() == ErrorKind::invalid_argument ? kExitError : kExitError;
}

int main_impl(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  auto cmds = commands();
  static const std::vector<OptionSpec> global_specs = {
      {"root", true},  {"log", true}, {"log-format", true}, {"debug", false}, {"systemd-cgroup", false},
      {"rootless", true}, {"criu", true}, {"v,version", false}, {"h,help", false}};
  auto global_args = parse_args(args, 1, global_specs, "berth-runtime", 1);
  if (!global_args) {
    report(global_args.error());
    return kExitUsage;
  }
  const auto& ga = *global_args;
  if (!ga.value("log").empty())
    log::set_file(ga.value("log"), ga.value("log-format") == "json" ? log::Format::json : log::Format::text);
  log::set_debug(ga.flag("debug"));
  if (ga.flag("version")) {
    std::printf("berth-runtime version %s\nspec: %s\n", kVersion, oci::kRuntimeSpecVersion);
    return 0;
  }
  if (ga.positionals.empty() || ga.flag("help")) {
    print_help(cmds);
    return ga.flag("help") ? 0 : kExitUsage;
  }
  GlobalOptions global;
  global.root = ga.value("root", global.root);
  global.systemd_cgroup = ga.flag("systemd-cgroup");

  const std::string& name = ga.positionals[0];
  // The index of the command word in argv: the global parser consumed everything before it.
  size_t command_index = 1;
  while (command_index < args.size() && args[command_index] != name) ++command_index;
  for (const auto& c : cmds) {
    if (name != c.name && !(name == "ls" && std::strcmp(c.name, "list") == 0)) continue;
    auto help = std::find(args.begin() + static_cast<long>(command_index) + 1, args.end(), "--help");
    if (help != args.end() && (c.option_positionals == SIZE_MAX || help - args.begin() <= static_cast<long>(command_index) + 1)) {
      std::printf("Usage: berth-runtime %s\n\n%s\n", c.usage, c.summary);
      if (auto options = describe_options(c.options); !options.empty()) std::printf("\nOptions:\n%s", options.c_str());
      return 0;
    }
    auto parsed = parse_args(args, command_index + 1, c.options, c.name, c.option_positionals);
    if (!parsed) {
      report(parsed.error());
      return kExitUsage;
    }
    if (static_cast<int>(parsed->positionals.size()) < c.min_positionals) {
      std::fprintf(stderr, "berth-runtime: '%s' needs a container id\nUsage: berth-runtime %s\n", c.name, c.usage);
      return kExitUsage;
    }
    auto result = c.run(global, *parsed);
    if (!result) return report(result.error());
    return *result;
  }
  if (name == "checkpoint" || name == "restore" || name == "update" || name == "events") {
    report(Error::make(ErrorKind::unsupported, "'{}' is not supported by berth-runtime yet", name));
    return kExitError;
  }
  std::fprintf(stderr, "berth-runtime: unknown command '%s'\nRun 'berth-runtime --help' for the list of commands.\n",
               name.c_str());
  return kExitUsage;
}

}  // namespace
}  // namespace berth::cli

int main(int argc, char** argv) { return berth::cli::main_impl(argc, argv); }
