// cli/berth/command.h — what every `berth` verb shares: its arguments, the engine, and output
// (tables like docker's, sizes and times for people, errors with a hint).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "cli/runtime/args.h"
#include "engine/engine.h"

namespace berth::cli {

struct Globals {
  engine::Layout layout;
};

struct Command {
  std::string_view name;     // "run", "image ls"
  std::string_view usage;    // "[OPTIONS] IMAGE [COMMAND] [ARG...]"
  std::string_view summary;  // one line for `berth --help`
  std::vector<OptionSpec> options;
  // Options stop after this many positionals (run: 1, so the command keeps its own flags).
  size_t max_option_positionals = SIZE_MAX;
  std::function<Result<int>(const Globals&, const ParsedArgs&)> run;
};

// Every verb, registered by the files beside this one.
std::vector<Command> container_commands();
std::vector<Command> image_commands();
std::vector<Command> volume_commands();
std::vector<Command> system_commands();
std::vector<Command> registry_server_commands();
std::vector<Command> registry_client_commands();
std::vector<Command> network_commands();

Result<engine::Engine> open_engine(const Globals& globals);

// Columns padded like `docker ps` (three spaces between columns).
std::string render_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);
std::string human_size(int64_t bytes);             // "4.2MB" (Docker's decimal units)
std::string human_ago(int64_t unix_ns);            // "3 minutes ago"
std::string human_duration(int64_t ns);            // "About a minute", "3 hours"
// "10m", "1h30m", "90s", or an RFC 3339 time → ns since the epoch.
Result<int64_t> parse_time_or_duration(std::string_view text);
// "30s", "1m30s", "500ms", "2h" → milliseconds.
Result<int64_t> parse_duration_ms(std::string_view text);
// `--format '{{.State.Status}}'` on an inspect document: the field's value (strings bare,
// anything else as JSON). Go templates are not interpreted beyond such a path.
Result<std::string> format_field(std::string_view json_document, std::string_view format);
// Runs `action` on each positional (containers, volumes, networks), printing each name it did
// (with `echo`) and reporting each error; the status is 1 if any failed. With `skip_missing`
// (rm -f), a name that does not exist is no error. `what` names the kind when none is given.
Result<int> for_each(const Globals& g, const ParsedArgs& a,
                     const std::function<Result<void>(engine::Engine&, const std::string&)>& action,
                     bool echo = true, std::string_view what = "container", bool skip_missing = false);
// --label/--opt KEY=VALUE items (a bare KEY has an empty value); what names the option in errors.
Result<std::map<std::string, std::string>> key_values(const std::vector<std::string>& items, const char* what);
// Prints the error (and its hint) as berth's errors look; returns the exit status for it.
int report(const Error& error);
// Writes all of text to stdout.
void print(std::string_view text);

}  // namespace berth::cli
