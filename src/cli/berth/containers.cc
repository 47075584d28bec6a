// Container verbs: run, create, start, stop, kill, restart, rm, ps, logs, inspect, exec, wait,
// top, stats, cp, pause, unpause, rename, port, container cleanup.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/sys.h"
#include "base/trace.h"
#include "cli/berth/command.h"
#include "engine/containers.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "runtime/runtime.h"

namespace berth::cli {
namespace {

using engine::ContainerRecord;

const std::vector<OptionSpec> kCreateOptions = {
    {"d,detach", false, "run in the background and print the container's id"},
    {"rm", false, "remove the container when it exits"},
    {"i,interactive", false, "keep stdin open (the container reads it)"},
    {"t,tty", false, "give the container a terminal"},
    {"name", true, "the container's name"},
    {"e,env", true, "set NAME=value (or NAME: take it from here)"},
    {"env-file", true, "read NAME=value lines from a file"},
    {"w,workdir", true, "the working directory inside the container"},
    {"u,user", true, "run as user[:group] (names or numbers)"},
    {"entrypoint", true, "override the image's ENTRYPOINT (\"\" clears it)"},
    {"v,volume", true, "bind or volume: /host:/path[:ro], NAME:/path[:ro], /path"},
    {"tmpfs", true, "mount a tmpfs: /path[:options]"},
    {"m,memory", true, "memory limit (512m, 1g)"},
    {"cpus", true, "number of CPUs (0.5)"},
    {"pids-limit", true, "maximum number of processes"},
    {"read-only", false, "mount the root file system read-only"},
    {"restart", true, "no, on-failure[:N], always, unless-stopped"},
    {"h,hostname", true, "the container's host name"},
    {"l,label", true, "set a label KEY=value"},
    {"init", false, "run an init (tini) as PID 1 that reaps zombies and forwards signals"},
    {"cap-add", true, "add a capability (NET_ADMIN, ALL)"},
    {"cap-drop", true, "drop a capability (NET_RAW, ALL)"},
    {"security-opt", true, "no-new-privileges, seccomp=unconfined, seccomp=FILE"},
    {"stop-signal", true, "the signal that stops the container (default SIGTERM)"},
    {"stop-timeout", true, "seconds to wait after the stop signal before SIGKILL"},
    {"net,network", true, "a network's name (default: bridge), none, host or container:NAME"},
    {"network-alias", true, "another name for the container on its network"},
    {"ip", true, "a fixed IPv4 address on the network"},
    {"dns", true, "a nameserver to use instead of the network's"},
    {"add-host", true, "add NAME:IP to /etc/hosts"},
    {"p,publish", true, "publish a port: [IP:][HOST_PORT:]PORT[/udp]"},
    {"P,publish-all", false, "publish every port the image exposes on ephemeral host ports"},
    {"health-cmd", true, "a command (run with /bin/sh -c) that checks the container's health"},
    {"health-interval", true, "time between health checks (30s)"},
    {"health-timeout", true, "time a health check may take (30s)"},
    {"health-retries", true, "failures in a row before unhealthy (3)"},
    {"health-start-period", true, "time after start when failures do not count (0s)"},
    {"no-healthcheck", false, "disable the image's HEALTHCHECK"},
    {"q,quiet", false, "print nothing while creating"},
};

Result<engine::ContainerConfig> config_from(const ParsedArgs& a) {
  engine::ContainerConfig c;
  if (a.positionals.empty())
    return Error(ErrorKind::invalid_argument, "an image is required").with_hint("berth run [OPTIONS] IMAGE [COMMAND...]");
  c.image = a.positionals[0];
  c.command.assign(a.positionals.begin() + 1, a.positionals.end());
  for (const auto& file : a.values_of("env-file")) {
    BERTH_TRY(auto env, engine::read_env_file(file));
    c.env.insert(c.env.end(), env.begin(), env.end());
  }
  for (const auto& e : a.values_of("env")) {
    if (e.find('=') != std::string::npos) c.env.push_back(e);
    else if (const char* value = std::getenv(e.c_str())) c.env.push_back(e + "=" + value);
  }
  c.workdir = a.value("workdir");
  c.user = a.value("user");
  if (a.values.count("entrypoint")) c.entrypoint = std::vector<std::string>{a.value("entrypoint")};
  if (c.entrypoint && c.entrypoint->front().empty()) c.entrypoint = std::vector<std::string>{};
  for (const auto& v : a.values_of("volume")) {
    BERTH_TRY(auto mount, engine::parse_volume(v));
    c.volumes.push_back(mount);
  }
  c.tmpfs = a.values_of("tmpfs");
  BERTH_TRY_VOID(parse_resource_flags(a, c.memory, c.cpus, c.pids_limit));
  c.read_only = a.flag("read-only");
  c.init = a.flag("init");
  c.tty = a.flag("tty");
  c.interactive = a.flag("interactive");
  c.auto_remove = a.flag("rm");
  c.restart = a.value("restart", "no");
  c.hostname = a.value("hostname");
  for (const auto& l : a.values_of("label")) {
    auto eq = l.find('=');
    c.labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  c.cap_add = a.values_of("cap-add");
  c.cap_drop = a.values_of("cap-drop");
  for (const auto& opt : a.values_of("security-opt")) {
    if (opt == "no-new-privileges" || opt == "no-new-privileges:true" || opt == "no-new-privileges=true")
      c.no_new_privileges = true;
    else if (opt.starts_with("seccomp=") || opt.starts_with("seccomp:"))
      c.seccomp = opt.substr(8);
    else
      return Error::make(ErrorKind::invalid_argument, "--security-opt '{}': use no-new-privileges, "
                         "seccomp=unconfined or seccomp=PROFILE.json", opt);
  }
  if (!c.seccomp.empty() && c.seccomp != "unconfined" && !sys::exists(c.seccomp))
    return Error::make(ErrorKind::not_found, "--security-opt seccomp: profile '{}' does not exist", c.seccomp);
  c.stop_signal = a.value("stop-signal");
  if (a.flag("stop-timeout")) c.stop_timeout = std::atoi(a.value("stop-timeout").c_str());
  c.network = a.value("network", engine::kDefaultNetwork);
  if (c.network == "default") c.network = engine::kDefaultNetwork;
  c.network_aliases = a.values_of("network-alias");
  c.ip = a.value("ip");
  c.dns = a.values_of("dns");
  c.add_hosts = a.values_of("add-host");
  for (auto& h : c.add_hosts)
    if (auto eq = h.find('='); eq != std::string::npos && h.find(':') == std::string::npos) h[eq] = ':';
  c.publish = a.values_of("publish");
  c.publish_all = a.flag("publish-all");
  for (const auto& p : c.publish) BERTH_TRY_VOID(engine::parse_port(p).context("--publish"));
  if (a.flag("health-cmd")) c.health_command = {"CMD-SHELL", a.value("health-cmd")};
  if (a.flag("no-healthcheck")) c.health_command = {"NONE"};
  for (auto [name, field] : {std::pair{"health-interval", &c.health_interval_ms},
                             std::pair{"health-timeout", &c.health_timeout_ms},
                             std::pair{"health-start-period", &c.health_start_period_ms}}) {
    if (!a.flag(name)) continue;
    BERTH_TRY(*field, parse_duration_ms(a.value(name)).context(std::string("--") + name));
  }
  if (a.flag("health-retries")) c.health_retries = std::atoi(a.value("health-retries").c_str());
  return c;
}

Result<ContainerRecord> create_from(engine::Engine& e, const ParsedArgs& a) {
  BERTH_TRY(auto config, config_from(a));
  BERTH_TRY(auto created, engine::create_container(e, config, a.value("name")));
  for (const auto& w : created.warnings) std::fprintf(stderr, "WARNING: %s\n", w.c_str());
  return created.container;
}

Result<int> cmd_create(const Globals& g, const ParsedArgs& a) {
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto c, create_from(e, a));
  print(c.id + "\n");
  return 0;
}

Result<int> cmd_run(const Globals& g, const ParsedArgs& a) {
  trace::mark("parse the command line");
  BERTH_TRY(auto e, open_engine(g));
  trace::mark("open berth.db");
  BERTH_TRY(auto c, create_from(e, a));
  if (a.flag("detach")) {
    auto started = engine::start_container(e, c.id);
    if (!started) {
      if (c.config.auto_remove) (void)engine::remove_container(e, c.id, true, true);
      return std::move(started).error();
    }
    print(c.id + "\n");
    return 0;
  }
  engine::ForegroundOptions fg;
  fg.stdin_fd = a.flag("interactive") ? 0 : -1;
  fg.remove = c.config.auto_remove;
  auto code = engine::run_foreground(e, c.id, fg);
  // A command that could not be started exits 127 (not found) or 126 (not runnable), as with
  // docker; the engine recorded which.
  int failed_status = 125;
  if (!code)
    if (auto after = engine::find_container(e, c.id); after && after->exit_code && *after->exit_code >= 126)
      failed_status = static_cast<int>(*after->exit_code);
  // A container that ran is gone already; one that failed to start is removed here.
  if (c.config.auto_remove && !code && engine::find_container(e, c.id)) {
    if (auto removed = engine::remove_container(e, c.id, true, true); !removed) report(removed.error());
  }
  if (!code) {
    report(code.error());
    return failed_status;
  }
  return *code;
}

// Runs `action` for each named container, printing each name like docker does; the status is
// 1 when any failed.
std::optional<int> timeout_of(const ParsedArgs& a) {
  if (!a.flag("time")) return std::nullopt;
  return std::atoi(a.value("time").c_str());
}

}  // namespace

Result<engine::LogOptions> log_options(const ParsedArgs& a) {
  engine::LogOptions o;
  o.follow = a.flag("follow");
  o.timestamps = a.flag("timestamps");
  if (a.flag("tail") && a.value("tail") != "all") {
    std::string text = a.value("tail");
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
      return Error::make(ErrorKind::invalid_argument, "--tail '{}': give a number of lines or 'all'", text);
    o.tail = std::stoll(text);
  }
  if (a.flag("since")) {
    BERTH_TRY(o.since, parse_time_or_duration(a.value("since")));
  }
  if (a.flag("until")) {
    BERTH_TRY(o.until, parse_time_or_duration(a.value("until")));
  }
  return o;
}

Result<int> command_status(Result<int> status) {
  // The command itself could not start: 127 or 126, as for run.
  if (!status && status.error().message().starts_with("exec '")) {
    report(status.error());
    return engine::exec_failure_status(status.error().message());
  }
  return status;
}

std::string status_text(const ContainerRecord& c) {
  if (c.state == "running")
    return "Up " + human_duration(clock::now_ns() - c.started.value_or(c.created)) +
           (c.health.empty() ? "" : c.health == "starting" ? " (health: starting)" : " (" + c.health + ")");
  if (c.state == "paused") return "Up " + human_duration(clock::now_ns() - c.started.value_or(c.created)) + " (Paused)";
  if (c.state == "restarting")
    return fmt::format("Restarting ({}) {}", c.exit_code.value_or(0), human_ago(c.finished.value_or(c.created)));
  if (c.state == "exited" || (c.state == "created" && c.exit_code))
    return fmt::format("Exited ({}) {}", c.exit_code.value_or(0), human_ago(c.finished.value_or(c.created)));
  if (c.state == "created") return "Created";
  return c.state;
}

namespace {

std::string command_text(const ContainerRecord& c, bool full) {
  auto spec = sys::read_file(c.dir + "/config.json");
  std::string command;
  if (spec) {
    auto j = nlohmann::json::parse(*spec, nullptr, false);
    if (j.is_object() && j.contains("process"))
      for (const auto& arg : j["process"].value("args", std::vector<std::string>{}))
        command += (command.empty() ? "" : " ") + arg;
  }
  if (!full && command.size() > 20) command = command.substr(0, 19) + "…";
  return "\"" + command + "\"";
}

std::string ports_text(engine::Engine& e, const ContainerRecord& c) {
  if (!c.running()) return "";
  auto ports = engine::container_ports(e, c.id);
  return ports ? engine::format_ports(*ports) : "";
}

bool ps_filter_matches(const ContainerRecord& c, const std::vector<std::string>& filters) {
  for (const auto& f : filters) {
    auto eq = f.find('=');
    std::string key = f.substr(0, eq), value = eq == std::string::npos ? "" : f.substr(eq + 1);
    if (key == "status" && c.state != value) return false;
    if (key == "name" && c.name.find(value) == std::string::npos) return false;
    if (key == "id" && !c.id.starts_with(value)) return false;
    if (key == "ancestor" && c.image_ref != value && !c.image_id.starts_with(value)) return false;
    if (key == "exited" && (c.state != "exited" || std::to_string(c.exit_code.value_or(-1)) != value)) return false;
    if (key == "label") {
      auto leq = value.find('=');
      auto it = c.config.labels.find(value.substr(0, leq));
      if (it == c.config.labels.end()) return false;
      if (leq != std::string::npos && it->second != value.substr(leq + 1)) return false;
    }
  }
  return true;
}

// docker's fields of a container in `ps --format`, with their table headers.
const std::vector<tmpl::ListFormat::Column> kPsColumns = {
    {"ID", "CONTAINER ID"},  {"Image", "IMAGE"},   {"Command", "COMMAND"},     {"CreatedAt", "CREATED AT"},
    {"RunningFor", "CREATED"}, {"Ports", "PORTS"},   {"State", "STATE"},         {"Status", "STATUS"},
    {"Size", "SIZE"},        {"Names", "NAMES"},   {"Labels", "LABELS"},       {"Label", "LABEL", true},
    {"Mounts", "MOUNTS"},    {"LocalVolumes", "LOCAL VOLUMES"}, {"Networks", "NETWORKS"}};

// A container as docker's `ps` templates see it (every field a string). What costs a walk of
// the disk or the database (size, networks) is worked out only when the format names it.
std::string ps_row(engine::Engine& e, const ContainerRecord& c, bool full, std::string_view format) {
  auto wanted = [&](std::string_view field) {
    return format.find(field) != std::string_view::npos || format.find("json") != std::string_view::npos;
  };
  std::string mounts;
  int local_volumes = 0;
  for (const auto& v : c.config.volumes) {
    if (!v.source.empty()) mounts += (mounts.empty() ? "" : ",") + v.source;  // a volume's name or a bind's path
    local_volumes += !v.is_bind();
  }
  std::string networks;
  if (wanted("Networks")) {
    if (auto endpoints = engine::container_endpoints(e, c.id); endpoints && !endpoints->empty())
      for (const auto& endpoint : *endpoints) networks += (networks.empty() ? "" : ",") + endpoint.network;
    else
      networks = c.config.network;
  }
  std::string size;
  if (wanted("Size")) size = human_size(engine::disk_usage(c.layer_dir + "/upper"));
  return nlohmann::json({{"ID", full ? c.id : c.id.substr(0, 12)},
                         {"Image", c.image_ref},
                         {"Command", command_text(c, full)},
                         {"CreatedAt", go_time(c.created)},
                         {"RunningFor", human_ago(c.created)},
                         {"Ports", ports_text(e, c)},
                         {"State", c.state},
                         {"Status", status_text(c)},
                         {"Size", size},
                         {"Names", c.name},
                         {"Labels", joined_labels(c.config.labels)},
                         {"Mounts", mounts},
                         {"LocalVolumes", std::to_string(local_volumes)},
                         {"Networks", networks}})
      .dump();
}

Result<int> cmd_ps(const Globals& g, const ParsedArgs& a) {
  for (const auto& f : a.values_of("filter")) {
    std::string key = f.substr(0, f.find('='));
    if (key != "status" && key != "name" && key != "id" && key != "ancestor" && key != "exited" && key != "label")
      return Error::make(ErrorKind::invalid_argument, "filter '{}': use status=, name=, id=, ancestor=, exited= or label=", f);
  }
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto all, engine::list_containers(e));
  bool show_all = a.flag("all");
  bool full = a.flag("no-trunc");
  std::vector<ContainerRecord> shown;
  for (auto& c : all)
    if ((show_all || c.running() || !a.values_of("filter").empty()) && ps_filter_matches(c, a.values_of("filter")))
      shown.push_back(c);
  if (a.flag("latest") && shown.size() > 1) shown.resize(1);
  if (a.flag("quiet")) {
    for (const auto& c : shown) print((full ? c.id : c.id.substr(0, 12)) + "\n");
    return 0;
  }
  std::string format = a.value("format");
  if (tmpl::is_template(format)) {
    std::vector<TemplateRow> rows;
    for (const auto& c : shown) rows.push_back({ps_row(e, c, full, format), {{"Label", label_method(c.config.labels)}}});
    BERTH_TRY(auto out, format_list(format, "ps", kPsColumns, rows));
    print(out);
    return 0;
  }
  if (format == "json") {
    for (const auto& c : shown) {
      nlohmann::json j = {{"ID", c.id}, {"Names", c.name}, {"Image", c.image_ref}, {"Command", command_text(c, true)},
                          {"CreatedAt", clock::rfc3339(c.created)}, {"State", c.state}, {"Status", status_text(c)},
                          {"Ports", ports_text(e, c)}, {"Labels", c.config.labels},
                          {"Networks", c.config.network}};
      if (c.exit_code) j["ExitCode"] = *c.exit_code;
      print(j.dump() + "\n");
    }
    return 0;
  }
  if (!format.empty() && format != "table") return unknown_format(format);
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : shown)
    rows.push_back({full ? c.id : c.id.substr(0, 12), c.image_ref, command_text(c, full), human_ago(c.created),
                    status_text(c), ports_text(e, c), c.name});
  print(render_table({"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"}, rows));
  return 0;
}

Result<int> cmd_logs(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.size() != 1) return Error(ErrorKind::invalid_argument, "give one container");
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto o, log_options(a));
  BERTH_TRY_VOID(engine::read_logs(e, a.positionals[0], o, 1, 2));
  return 0;
}

Result<int> cmd_inspect(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.empty()) return Error(ErrorKind::invalid_argument, "give at least one container");
  BERTH_TRY(auto e, open_engine(g));
  std::vector<std::string> documents;
  int status = 0;
  for (const auto& name : a.positionals) {
    auto c = engine::find_container(e, name);
    if (!c) {
      report(c.error());
      status = 1;
      continue;
    }
    documents.push_back(engine::inspect_json(e, *c));
  }
  std::string format = a.value("format");
  if (!format.empty() && format != "json") {
    BERTH_TRY(auto out, format_documents(documents, format, "inspect"));
    print(out);
    return status;
  }
  std::string out = "[\n";
  for (size_t i = 0; i < documents.size(); ++i) out += (i ? ",\n" : "") + documents[i];
  print(out + "\n]\n");
  return status;
}

Result<int> cmd_exec(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.size() < 2)
    return Error(ErrorKind::invalid_argument, "give a container and a command").with_hint("berth exec web ls /");
  BERTH_TRY(auto e, open_engine(g));
  engine::ExecRequest r;
  r.args.assign(a.positionals.begin() + 1, a.positionals.end());
  r.env = a.values_of("env");
  r.user = a.value("user");
  r.workdir = a.value("workdir");
  r.tty = a.flag("tty");
  r.detach = a.flag("detach");
  r.interactive = a.flag("interactive");
  return command_status(engine::exec_in_container(e, a.positionals[0], r));
}

Result<int> cmd_top(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.size() != 1) return Error(ErrorKind::invalid_argument, "give one container");
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto rows, engine::container_processes(e, a.positionals[0]));
  std::vector<std::vector<std::string>> table;
  for (const auto& p : rows) table.push_back({p.user, std::to_string(p.pid), p.time, p.command});
  print(render_table({"UID", "PID", "TIME", "CMD"}, table));
  return 0;
}

// docker's fields of `stats --format` (berth measures no network or block I/O yet: "--").
const std::vector<tmpl::ListFormat::Column> kStatsColumns = {
    {"Container", "CONTAINER"}, {"Name", "NAME"},   {"ID", "CONTAINER ID"}, {"CPUPerc", "CPU %"},
    {"MemUsage", "MEM USAGE / LIMIT"}, {"MemPerc", "MEM %"}, {"NetIO", "NET I/O"}, {"BlockIO", "BLOCK I/O"},
    {"PIDs", "PIDS"}};

Result<int> cmd_stats(const Globals& g, const ParsedArgs& a) {
  BERTH_TRY(auto e, open_engine(g));
  std::vector<std::string> names = a.positionals;
  if (names.empty()) {
    BERTH_TRY(auto all, engine::list_containers(e));
    for (const auto& c : all)
      if (c.running()) names.push_back(c.id);
  }
  std::string format = a.value("format");
  bool json = format == "json";
  if (!format.empty() && !json && format != "table" && !tmpl::is_template(format)) return unknown_format(format);
  std::vector<std::vector<std::string>> rows;
  std::vector<TemplateRow> template_rows;
  for (const auto& name : names) {
    BERTH_TRY(auto s, engine::container_stats(e, name));
    double percent = s.memory_limit > 0 ? 100.0 * static_cast<double>(s.memory) / static_cast<double>(s.memory_limit) : 0;
    if (tmpl::is_template(format)) {
      template_rows.push_back({nlohmann::json({{"Container", name == s.id ? s.id.substr(0, 12) : name},
                                               {"Name", s.name},
                                               {"ID", s.id.substr(0, 12)},
                                               {"CPUPerc", fmt::format("{:.2f}%", s.cpu_percent)},
                                               {"MemUsage", human_size(s.memory) + " / " + human_size(s.memory_limit)},
                                               {"MemPerc", fmt::format("{:.2f}%", percent)},
                                               {"NetIO", "--"},
                                               {"BlockIO", "--"},
                                               {"PIDs", std::to_string(s.pids)}})
                                   .dump()});
      continue;
    }
    if (json) {
      print(nlohmann::json({{"ID", s.id.substr(0, 12)}, {"Name", s.name}, {"CPUPerc", fmt::format("{:.2f}%", s.cpu_percent)},
                            {"MemUsage", human_size(s.memory) + " / " + human_size(s.memory_limit)},
                            {"MemPerc", fmt::format("{:.2f}%", percent)}, {"PIDs", std::to_string(s.pids)}})
                .dump() + "\n");
      continue;
    }
    rows.push_back({s.id.substr(0, 12), s.name, fmt::format("{:.2f}%", s.cpu_percent),
                    human_size(s.memory) + " / " + human_size(s.memory_limit), fmt::format("{:.2f}%", percent),
                    std::to_string(s.pids)});
  }
  if (tmpl::is_template(format)) {
    BERTH_TRY(auto out, format_list(format, "stats", kStatsColumns, template_rows));
    print(out);
    return 0;
  }
  if (!json) print(render_table({"CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"}, rows));
  return 0;
}

Result<int> cmd_wait(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.empty()) return Error(ErrorKind::invalid_argument, "give at least one container");
  BERTH_TRY(auto e, open_engine(g));
  for (const auto& name : a.positionals) {
    BERTH_TRY(auto code, engine::wait_container(e, name));
    print(std::to_string(code) + "\n");
  }
  return 0;
}

std::vector<OptionSpec> only_help() { return {}; }

}  // namespace

std::vector<Command> container_commands() {
  std::vector<Command> c;
  c.push_back({"run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a container", kCreateOptions, 1, cmd_run});
  c.push_back({"create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a container", kCreateOptions, 1, cmd_create});
  c.push_back({"start", "[OPTIONS] CONTAINER...", "Start containers",
               {{"a,attach", false, "attach to the output (follow the log until it stops)"}}, SIZE_MAX,
               [](const Globals& g, const ParsedArgs& a) -> Result<int> {
                 if (a.flag("attach") && a.positionals.size() == 1) {
                   BERTH_TRY(auto e, open_engine(g));
                   BERTH_TRY(auto c, engine::start_container(e, a.positionals[0]));
                   engine::LogOptions o;
                   o.follow = true;
                   o.since = c.started;
                   BERTH_TRY_VOID(engine::read_logs(e, c.id, o, 1, 2));
                   BERTH_TRY(auto code, engine::wait_container(e, c.id));
                   return static_cast<int>(code);
                 }
                 return for_each(g, a, [](engine::Engine& e, const std::string& n) -> Result<void> {
                   BERTH_TRY(auto c, engine::start_container(e, n));
                   return {};
                 });
               }});
  c.push_back({"stop", "[OPTIONS] CONTAINER...", "Stop containers (SIGTERM, then SIGKILL)",
               {{"t,time", true, "seconds to wait before SIGKILL (default: the container's, or 10)"},
                {"s,signal", true, "the signal to send first"}},
               SIZE_MAX, [](const Globals& g, const ParsedArgs& a) {
                 return for_each(g, a, [&](engine::Engine& e, const std::string& n) -> Result<void> {
                   BERTH_TRY(auto c, engine::stop_container(e, n, timeout_of(a)));
                   return {};
                 });
               }});
  c.push_back({"restart", "[OPTIONS] CONTAINER...", "Restart containers",
               {{"t,time", true, "seconds to wait before SIGKILL"}}, SIZE_MAX,
               [](const Globals& g, const ParsedArgs& a) {
                 return for_each(g, a, [&](engine::Engine& e, const std::string& n) -> Result<void> {
                   BERTH_TRY(auto stopped, engine::stop_container(e, n, timeout_of(a)));
                   BERTH_TRY(auto started, engine::start_container(e, stopped.id));
                   return {};
                 });
               }});
  c.push_back({"kill", "[OPTIONS] CONTAINER...", "Send a signal to containers (default SIGKILL)",
               {{"s,signal", true, "the signal (KILL, TERM, HUP, 9)"}}, SIZE_MAX,
               [](const Globals& g, const ParsedArgs& a) -> Result<int> {
                 BERTH_TRY(int sig, runtime::parse_signal(a.value("signal", "KILL")));
                 return for_each(g, a, [&](engine::Engine& e, const std::string& n) {
                   return engine::kill_container(e, n, sig);
                 });
               }});
  c.push_back({"rm", "[OPTIONS] CONTAINER...", "Remove containers",
               {{"f,force", false, "kill and remove running containers"},
                {"v,volumes", false, "also remove their anonymous volumes"}},
               SIZE_MAX, [](const Globals& g, const ParsedArgs& a) {
                 return for_each(g, a, [&](engine::Engine& e, const std::string& n) {
                   return engine::remove_container(e, n, a.flag("force"), a.flag("volumes"));
                 });
               }});
  c.push_back({"ps", "[OPTIONS]", "List containers",
               {{"a,all", false, "show all containers (default: running ones)"},
                {"q,quiet", false, "only ids"},
                {"f,filter", true, "status=, name=, id=, ancestor=, exited=, label="},
                {"format", true, "table, json, or a Go template: 'table {{.Names}}\\t{{.Status}}'"},
                {"no-trunc", false, "do not shorten ids and commands"},
                {"l,latest", false, "only the newest container"}},
               SIZE_MAX, cmd_ps});
  c.push_back({"logs", "[OPTIONS] CONTAINER", "Show a container's output",
               {{"f,follow", false, "keep printing new output until the container stops"},
                {"n,tail", true, "only the last N lines"},
                {"since", true, "from this time (RFC 3339) or duration ago (10m)"},
                {"until", true, "up to this time or duration ago"},
                {"t,timestamps", false, "show each line's time"}},
               SIZE_MAX, cmd_logs});
  c.push_back({"inspect", "[OPTIONS] CONTAINER...", "Show containers in detail (JSON)",
               {{"f,format", true, "a Go template: '{{.State.Status}}', '{{json .Config}}'"}}, SIZE_MAX, cmd_inspect});
  c.push_back({"exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", "Run a command in a running container",
               {{"i,interactive", false, "keep stdin open"}, {"t,tty", false, "give the command a terminal"},
                {"d,detach", false, "run it in the background"}, {"e,env", true, "set NAME=value"},
                {"u,user", true, "user[:group]"}, {"w,workdir", true, "working directory"}},
               2, cmd_exec});
  c.push_back({"wait", "CONTAINER...", "Wait for containers to stop and print their exit codes", only_help(), SIZE_MAX,
               cmd_wait});
  c.push_back({"top", "CONTAINER", "Show a container's processes", only_help(), SIZE_MAX, cmd_top});
  c.push_back({"stats", "[OPTIONS] [CONTAINER...]", "Show CPU, memory and process counts",
               {{"no-stream", false, "one sample, then exit (the only mode)"},
                {"format", true, "table, json, or a Go template: 'table {{.Name}}\\t{{.MemUsage}}'"}},
               SIZE_MAX, cmd_stats});
  c.push_back({"cp", "SRC DEST", "Copy files between a container and the host (CONTAINER:PATH)", only_help(),
               SIZE_MAX, [](const Globals& g, const ParsedArgs& a) -> Result<int> {
                 if (a.positionals.size() != 2)
                   return Error(ErrorKind::invalid_argument, "give a source and a destination");
                 BERTH_TRY(auto e, open_engine(g));
                 BERTH_TRY_VOID(engine::copy_files(e, a.positionals[0], a.positionals[1]));
                 return 0;
               }});
  c.push_back({"pause", "CONTAINER...", "Freeze all processes of containers", only_help(), SIZE_MAX,
               [](const Globals& g, const ParsedArgs& a) {
                 return for_each(g, a, [](engine::Engine& e, const std::string& n) {
                   return engine::pause_container(e, n, true);
                 });
               }});
  c.push_back({"unpause", "CONTAINER...", "Thaw paused containers", only_help(), SIZE_MAX,
               [](const Globals& g, const ParsedArgs& a) {
                 return for_each(g, a, [](engine::Engine& e, const std::string& n) {
                   return engine::pause_container(e, n, false);
                 });
               }});
  c.push_back({"rename", "CONTAINER NEW_NAME", "Rename a container", only_help(), SIZE_MAX,
               [](const Globals& g, const ParsedArgs& a) -> Result<int> {
                 if (a.positionals.size() != 2) return Error(ErrorKind::invalid_argument, "give a container and a new name");
                 BERTH_TRY(auto e, open_engine(g));
                 BERTH_TRY_VOID(engine::rename_container(e, a.positionals[0], a.positionals[1]));
                 return 0;
               }});
  c.push_back({"port", "CONTAINER [PORT[/PROTO]]", "List a container's published ports", only_help(), SIZE_MAX,
               [](const Globals& g, const ParsedArgs& a) -> Result<int> {
                 if (a.positionals.empty()) return Error(ErrorKind::invalid_argument, "give a container");
                 BERTH_TRY(auto e, open_engine(g));
                 BERTH_TRY(auto c, engine::find_container(e, a.positionals[0]));
                 BERTH_TRY(auto ports, engine::container_ports(e, c.id));
                 std::string out;
                 for (const auto& p : ports) {
                   std::string key = std::to_string(p.container_port) + "/" + p.protocol;
                   if (a.positionals.size() > 1 && a.positionals[1] != key &&
                       a.positionals[1] != std::to_string(p.container_port))
                     continue;
                   out += (a.positionals.size() > 1 ? "" : key + " -> ") + p.host_ip + ":" +
                          std::to_string(p.host_port) + "\n";
                 }
                 if (a.positionals.size() > 1 && out.empty())
                   return Error::make(ErrorKind::not_found, "container {} publishes no port {}", c.name,
                                      a.positionals[1]);
                 print(out);
                 return 0;
               }});
  c.push_back({"container cleanup", "CONTAINER", "", only_help(), SIZE_MAX,
               [](const Globals& g, const ParsedArgs& a) -> Result<int> {
                 // Run by a monitor when its container is over: record the exit, --rm.
                 if (a.positionals.size() != 1) return Error(ErrorKind::invalid_argument, "give a container");
                 BERTH_TRY(auto e, open_engine(g));
                 auto c = engine::find_container(e, a.positionals[0]);
                 if (!c && c.error().kind() != ErrorKind::not_found) return std::move(c).error();
                 return 0;
               }});
  Command ls = c[7];
  ls.name = "container ls";
  ls.summary = "";
  c.push_back(ls);
  // `berth container VERB` spells every verb too.
  size_t n = c.size();
  for (size_t i = 0; i < n; ++i) {
    if (c[i].name.starts_with("container ")) continue;
    Command alias = c[i];
    static std::deque<std::string> names;  // Command holds string_views into these
    names.push_back("container " + std::string(c[i].name));
    alias.name = names.back();
    alias.summary = "";
    c.push_back(alias);
  }
  return c;
}

}  // namespace berth::cli
