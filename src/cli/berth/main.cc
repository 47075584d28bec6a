// berth — the user-facing CLI. Each verb lives in a file beside this one; this file finds the
// verb, parses its options and prints its error. `berth runtime ARGS...` execs berth-runtime.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/sys.h"
#include "cli/berth/command.h"
#include "engine/engine.h"

namespace berth::cli {
namespace {

std::vector<Command> all_commands() {
  std::vector<Command> all;
  for (auto* group : {container_commands, image_commands, volume_commands, network_commands, system_commands,
                      registry_client_commands,
                      registry_server_commands, build_commands, compose_commands, serve_commands, proxy_commands,
                      change_commands})
    for (auto& c : group()) all.push_back(std::move(c));
  return all;
}

void usage(const std::vector<Command>& commands, FILE* out) {
  std::string text =
      "Usage: berth [--root DIR] [--run-root DIR] [--debug] COMMAND [OPTIONS]\n\n"
      "Containers, images and volumes without a daemon.\n\nCommands:\n";
  for (const auto& c : commands)
    if (!c.summary.empty()) text += fmt::format("  {:<16} {}\n", c.name, c.summary);
  text += fmt::format("  {:<16} {}\n  {:<16} {}\n", "runtime", "The OCI runtime (runc's command line)", "version",
                      "Show berth's version");
  text += "\nRun 'berth COMMAND --help' for a command's options.\n";
  std::fputs(text.c_str(), out);
}

// "-it" → "-i" "-t" when every letter is a flag of the command (docker's combined flags).
std::vector<std::string> expand_short_flags(const std::vector<std::string>& args, size_t begin,
                                            const Command& command) {
  auto is_short_flag = [&](char letter) {
    for (const auto& o : command.options) {
      if (o.takes_value) continue;
      for (const auto& n : sys::split(o.names, ','))
        if (n.size() == 1 && n[0] == letter) return true;
    }
    return false;
  };
  std::vector<std::string> out(args.begin(), args.begin() + static_cast<long>(begin));
  size_t positionals = 0;
  bool done = false;
  for (size_t i = begin; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (done || a == "--") {
      done = true;
      out.push_back(a);
      continue;
    }
    if (a.size() > 2 && a[0] == '-' && a[1] != '-' && a.find('=') == std::string::npos &&
        std::all_of(a.begin() + 1, a.end(), is_short_flag)) {
      for (size_t k = 1; k < a.size(); ++k) out.push_back(std::string("-") + a[k]);
      continue;
    }
    out.push_back(a);
    if (a.empty() || a[0] != '-') {
      if (++positionals >= command.max_option_positionals) done = true;
    } else {
      // The value of an option that takes one is not a positional.
      std::string name = a.substr(a[1] == '-' ? 2 : 1);
      if (name.find('=') == std::string::npos)
        for (const auto& o : command.options)
          for (const auto& n : sys::split(o.names, ','))
            if (n == name && o.takes_value && i + 1 < args.size()) out.push_back(args[++i]);
    }
  }
  return out;
}

int run_command(const Command& command, const Globals& globals, const std::vector<std::string>& args, size_t begin) {
  std::string name(command.name);
  for (size_t i = begin; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i] == "-h" || args[i] == "--help") {
      std::printf("Usage: berth %s %s\n\n%s\n", name.c_str(), std::string(command.usage).c_str(),
                  std::string(command.summary).c_str());
      if (!command.options.empty()) std::printf("\nOptions:\n%s", describe_options(command.options).c_str());
      return 0;
    }
    if (!args[i].starts_with("-") && command.max_option_positionals != SIZE_MAX) break;
  }
  auto expanded = expand_short_flags(args, begin, command);
  auto parsed = parse_args(expanded, begin, command.options, name, command.max_option_positionals);
  if (!parsed) {
    Error e = std::move(parsed).error();
    return report(Error(e.kind(), e.message()).with_hint(fmt::format("see 'berth {} --help'", name)));
  }
  auto status = command.run(globals, *parsed);
  if (!status) {
    report(status.error());
    // As docker: 125 when run, create or exec fail before the command runs, 1 for other verbs.
    std::string_view verb = name.starts_with("container ") ? std::string_view(name).substr(10) : name;
    return verb == "run" || verb == "create" || verb == "exec" ? 125 : 1;
  }
  return *status;
}

}  // namespace
}  // namespace berth::cli

int main(int argc, char** argv) {
  using namespace berth;
  std::vector<std::string> args(argv, argv + argc);
  cli::Globals globals;
  if (const char* root = std::getenv("BERTH_ROOT"); root && *root) globals.layout.root = root;
  if (const char* run_root = std::getenv("BERTH_RUN_ROOT"); run_root && *run_root) globals.layout.run_root = run_root;
  size_t i = 1;
  for (; i < args.size() && args[i].starts_with("-"); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      std::string prefix = std::string(name) + "=";
      if (a.starts_with(prefix)) return a.substr(prefix.size());
      if (a == name && i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (auto v = value("--root")) globals.layout.root = *v;
    else if (auto v = value("--run-root")) globals.layout.run_root = *v;
    else if (a == "--debug" || a == "-D") log::set_debug(true);
    else break;
  }
  auto commands = cli::all_commands();
  if (i >= args.size()) {
    cli::usage(commands, stderr);
    return 2;
  }
  std::string verb = args[i];
  if (verb == "-h" || verb == "--help" || verb == "help") {
    cli::usage(commands, stdout);
    return 0;
  }
  if (verb == "version" || verb == "--version") {
    std::printf("berth version %s\n", BERTH_VERSION);
    return 0;
  }
  if (verb == "runtime") {
    std::string runtime = engine::programs_beside_self().runtime;
    std::vector<char*> rargs{const_cast<char*>("berth-runtime")};
    for (size_t k = i + 1; k < args.size(); ++k) rargs.push_back(argv[k]);
    rargs.push_back(nullptr);
    ::execv(runtime.c_str(), rargs.data());
    std::fprintf(stderr, "berth: run '%s': %s\n", runtime.c_str(), std::strerror(errno));
    return 127;
  }
  // Two-word verbs ("image ls", "container rm") first, then one-word ones.
  if (i + 1 < args.size()) {
    std::string two = verb + " " + args[i + 1];
    for (const auto& c : commands)
      if (c.name == two) return cli::run_command(c, globals, args, i + 2);
  }
  for (const auto& c : commands)
    if (c.name == verb) return cli::run_command(c, globals, args, i + 1);
  bool is_group = false;
  for (const auto& c : commands) is_group |= c.name.starts_with(verb + " ");
  if (is_group)
    std::fprintf(stderr, "berth: '%s' needs a subcommand\nRun 'berth --help' for the list of commands.\n", verb.c_str());
  else
    std::fprintf(stderr, "berth: unknown command '%s'\nRun 'berth --help' for the list of commands.\n", verb.c_str());
  return 2;
}
