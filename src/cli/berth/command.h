// cli/berth/command.h — what every `berth` verb shares: its arguments, the engine, and output
// (tables like docker's, sizes and times for people, errors with a hint).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "cli/runtime/args.h"
#include "cli/template/format.h"
#include "engine/containers.h"
#include "engine/engine.h"

namespace berth::engine {
struct Event;
}

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
std::vector<Command> build_commands();
std::vector<Command> serve_commands();
std::vector<Command> proxy_commands();
std::vector<Command> change_commands();

// --memory, --cpus, --pids-limit (run, create, update): each given one is set.
Result<void> parse_resource_flags(const ParsedArgs& a, std::optional<int64_t>& memory, std::optional<double>& cpus,
                                  std::optional<int64_t>& pids_limit);

// A base image `berth build` does not have: pulled from its registry (registry_client.cc).
Result<std::string> pull_for_build(engine::Engine& engine, const std::string& name);
std::vector<Command> compose_commands();

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
// `inspect --format TEMPLATE` as docker's: each JSON document through the Go template
// (cli/template/), a line each; `command` names the command in errors ("inspect"). Nothing is
// returned when any document fails.
Result<std::string> format_documents(const std::vector<std::string>& documents, std::string_view format,
                                     std::string_view command);
// A list through `--format TEMPLATE` or `table TEMPLATE` (cli/template/format.h): each row a
// JSON object, with the methods the row has (`{{.Label "k"}}`).
struct TemplateRow {
  std::string json;
  std::map<std::string, tmpl::Method> methods;
};
Result<std::string> format_list(std::string_view format, std::string command,
                                std::vector<tmpl::ListFormat::Column> columns, const std::vector<TemplateRow>& rows);
// The error for a list's --format that is neither table, json nor a template.
Error unknown_format(std::string_view format);
// Go's time.Time.String() in local time, as docker's CreatedAt: "2024-05-01 10:20:30 +0200 CEST".
std::string go_time(int64_t unix_ns);
// Labels as docker's lists print them: "a=1,b=2" (sorted); and the {{.Label "k"}} method.
std::string joined_labels(const std::map<std::string, std::string>& labels);
tmpl::Method label_method(std::map<std::string, std::string> labels);
// Runs `action` on each positional (containers, volumes, networks), printing each name it did
// (with `echo`) and reporting each error; the status is 1 if any failed. With `skip_missing`
// (rm -f), a name that does not exist is no error. `what` names the kind when none is given.
Result<int> for_each(const Globals& g, const ParsedArgs& a,
                     const std::function<Result<void>(engine::Engine&, const std::string&)>& action,
                     bool echo = true, std::string_view what = "container", bool skip_missing = false);
// --label/--opt KEY=VALUE items (a bare KEY has an empty value); what names the option in errors.
Result<std::map<std::string, std::string>> key_values(const std::vector<std::string>& items, const char* what);
// `logs` options: -f, -t, --tail N|all, --since, --until.
Result<engine::LogOptions> log_options(const ParsedArgs& a);
// The exit status of a command run in a container (exec, run): its own, 126/127 (reported)
// when the command could not start, or berth's error.
Result<int> command_status(Result<int> status);
// A container's STATUS as `ps` shows it: "Up 3 minutes (healthy)", "Exited (1) 2 seconds ago".
std::string status_text(const engine::ContainerRecord& c);
// `berth events` (also `berth compose events`, with the project's filter): --filter (project=P
// too), --since, --until, --format.
Result<int> stream_events(const Globals& g, const ParsedArgs& a);
// The same, showing only the events `also` accepts too (compose events SERVICE...).
Result<int> stream_events_where(const Globals& g, const ParsedArgs& a,
                                const std::function<bool(const engine::Event&)>& also);
// `berth pull IMAGE` with the options of `a` (--quiet, --tls-verify, --platform): fetches it into
// the store and names it; returns the name.
Result<std::string> pull_image(const Globals& g, const ParsedArgs& a, const std::string& image);
// `berth push SOURCE DESTINATION` with the options of `a` (--quiet, --tls-verify): uploads the
// local image SOURCE to DESTINATION's registry, printing progress; returns the manifest's digest.
Result<std::string> push_image(const Globals& g, const ParsedArgs& a, const std::string& source,
                               const std::string& destination);
// Prints the error (and its hint) as berth's errors look; returns the exit status for it.
int report(const Error& error);
// Writes all of text to stdout.
void print(std::string_view text);

}  // namespace berth::cli
