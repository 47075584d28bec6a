// `berth compose`: docker compose's verbs over project/ (Compose files and JSON project files).
// The project options (-f, -p, --env-file, --profile, --var) come before the verb, as docker
// compose takes them: `berth compose -f a.yaml -p shop up -d`.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "base/sys.h"
#include "base/unique_fd.h"
#include "build/build.h"
#include "cli/berth/command.h"
#include "engine/containers.h"
#include "engine/events.h"
#include "engine/networks.h"
#include "image/reference.h"
#include "project/changes.h"
#include "project/deploy.h"
#include "project/load.h"
#include "project/normalise.h"
#include "project/plan.h"

namespace berth::cli {
namespace {

using project::Project;

// What the verbs share: the files read, the project loaded (or only its name).
struct Compose {
  const Globals* globals = nullptr;
  ParsedArgs top;  // the options before the verb
  std::optional<project::Loaded> loaded;
  std::optional<project::LoadOptions> options;  // what loaded was loaded with
  std::string name;  // the project's name, also without files (down -p NAME)

  const Project* model() const { return loaded ? &loaded->project : nullptr; }
};

std::string current_dir() {
  char buf[4096];
  return ::getcwd(buf, sizeof buf) ? std::string(buf) : std::string(".");
}

// Loads the files; with `need_files` false, a missing file is fine when -p names the project.
Result<void> load(Compose& c, bool need_files, const std::vector<std::string>& services = {}) {
  std::string dir = c.top.value("project-directory", current_dir());
  if (!dir.starts_with("/")) dir = current_dir() + "/" + dir;
  auto options = project::read_files(c.top.values_of("file"), dir, c.top.values_of("env-file"));
  if (!options) {
    if (!need_files && options.error().kind() == ErrorKind::not_found) {
      c.name = project::normalise_project_name(c.top.value("project-name"));
      if (c.name.empty())
        if (const char* env = std::getenv("COMPOSE_PROJECT_NAME"))
          c.name = project::normalise_project_name(env);
      if (!c.name.empty()) return {};
    }
    return std::move(options).error();
  }
  if (c.top.flag("project-directory")) options->working_dir = dir;
  options->project_name = c.top.value("project-name");
  options->profiles = c.top.values_of("profile");
  BERTH_TRY(auto vars, key_values(c.top.values_of("var"), "--var"));
  options->vars = vars;
  options->services = services;
  c.options = *options;
  auto loaded = project::load_project(*options);
  if (!loaded && !need_files && c.top.flag("project-name")) {
    // Verbs that only need the name (down, ps, logs, show...) go on with -p.
    log::warn(fmt::format("project files not used: {}", loaded.error().message()));
    c.name = project::normalise_project_name(c.top.value("project-name"));
    return {};
  }
  if (!loaded) return std::move(loaded).error();
  for (const auto& w : loaded->warnings) log::warn(w);
  c.name = loaded->project.name;
  c.loaded = std::move(*loaded);
  return {};
}

void progress_line(std::string_view line) {
  std::string text = fmt::format(" {}\n", line);
  (void)sys::write_all(2, text);
}

// The project as loaded with `vars` added to the command line's (a `change --var`).
project::LoadWithVars loader_with_vars(const Compose& c) {
  return [&c](const std::map<std::string, std::string>& vars) -> Result<Project> {
    project::LoadOptions options = *c.options;
    for (const auto& [k, v] : vars) options.vars[k] = v;
    BERTH_TRY(auto loaded, project::load_project(options));
    return std::move(loaded.project);
  };
}

// The changes `berth compose change` made, applied to the files' model (those the files have
// since overridden are dropped, and stored so); says which hold and which went.
Result<void> apply_stored_changes(Compose& c, engine::Engine& e) {
  if (!c.loaded) return {};
  BERTH_TRY(auto changes, project::stored_changes(e, c.name));
  if (changes.empty()) return {};
  std::vector<std::string> notes;
  BERTH_TRY_VOID(project::apply_changes(c.loaded->project, changes, loader_with_vars(c), notes));
  for (const auto& n : notes) progress_line(n);
  return project::store_changes(e, c.name, changes);
}

// A service's build: through `berth build`'s builder, the result named as the service's image
// (or PROJECT-SERVICE), base images pulled as `berth build` pulls them.
project::BuildFunction builder(const Globals& g) {
  return [&g](const project::BuildRequest& request) -> Result<std::string> {
    BERTH_TRY(auto e, open_engine(g));
    build::BuildOptions o;
    o.context_dir = request.build.context;
    if (!sys::exists(o.context_dir))
      return Error::make(ErrorKind::not_found, "build context '{}' does not exist", o.context_dir);
    std::string dockerfile = request.build.dockerfile.starts_with("/")
                                 ? request.build.dockerfile
                                 : o.context_dir + "/" + request.build.dockerfile;
    BERTH_TRY(o.dockerfile_text, sys::read_file(dockerfile).context("read the Dockerfile"));
    o.dockerfile_name = request.build.dockerfile;
    o.tags = {request.tag};
    o.build_args = request.build.args;
    o.target = request.build.target;
    o.labels = {{project::kLabelProject, request.project}, {project::kLabelService, request.service}};
    o.pull = [&e](const std::string& name) { return pull_for_build(e, name); };
    std::mutex lock;
    o.progress = [&](const build::StepEvent& ev) {
      std::lock_guard guard(lock);
      if (ev.kind == build::StepEvent::Kind::started)
        progress_line(fmt::format("Service {}  Building {}", request.service, ev.name));
      else if (ev.kind == build::StepEvent::Kind::failed)
        progress_line(fmt::format("Service {}  {} failed: {}", request.service, ev.name, ev.text));
    };
    progress_line(fmt::format("Service {}  Building", request.service));
    BERTH_TRY(auto built, build::build_image(e, o));
    for (const auto& w : built.warnings) log::warn(w);
    progress_line(fmt::format("Service {}  Built {}", request.service, request.tag));
    return request.tag;
  };
}

// Images not in the store are pulled as `berth pull -q` pulls them.
project::PullFunction puller(const Globals& g) {
  return [&g](const std::string& image) -> Result<void> {
    // berth's own names ("busybox" is localhost/busybox:latest) have no registry to come from.
    BERTH_TRY(auto ref, image::Reference::parse(image));
    if (ref.domain() == "localhost")
      return Error(ErrorKind::not_found, "a local name: no registry to pull from");
    ParsedArgs quiet;
    quiet.values["quiet"] = {""};
    progress_line(fmt::format("Image {}  Pulling", image));
    BERTH_TRY(auto name, pull_image(g, quiet, image));
    progress_line(fmt::format("Image {}  Pulled", name));
    return {};
  };
}

Result<std::map<std::string, int>> parse_scale(const std::vector<std::string>& items,
                                               const char* what) {
  std::map<std::string, int> out;
  for (const auto& item : items) {
    auto eq = item.find('=');
    std::string n = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (eq == 0 || eq == std::string::npos || n.empty() || n.size() > 4 ||
        n.find_first_not_of("0123456789") != std::string::npos)
      return Error::make(ErrorKind::invalid_argument, "{} '{}': use SERVICE=N", what, item);
    out[item.substr(0, eq)] = std::stoi(n);
  }
  return out;
}

std::optional<int> timeout_of(const ParsedArgs& a) {
  if (!a.flag("timeout")) return std::nullopt;
  return std::atoi(a.value("timeout").c_str());
}

// --- logs ----------------------------------------------------------------------------------------

// Every instance's log, each line prefixed "NAME  | ", coloured on a terminal; following, until
// every instance has stopped.
// Set by SIGINT/SIGTERM while an attached `up` follows the logs.
volatile sig_atomic_t interrupted = 0;
void on_interrupt(int) { interrupted = 1; }

// `on_interrupt_once`: called (once) when a signal handled by on_interrupt arrives; the logs are
// then followed until every instance has stopped.
Result<int> print_logs(const Compose& c, const std::vector<engine::ContainerRecord>& containers,
                       const engine::LogOptions& options, bool prefix, bool colour,
                       const std::function<void()>& on_interrupt_once = {}) {
  size_t width = 0;
  for (const auto& r : containers) width = std::max(width, r.name.size());
  struct Stream {
    UniqueFd read;
    std::string prefix, partial;
  };
  std::vector<Stream> streams;
  std::vector<std::thread> threads;
  static const int kColours[] = {36, 33, 32, 35, 34, 96, 93, 92, 95, 94};
  std::vector<UniqueFd> writers;  // every pipe first: no thread runs when one fails
  for (size_t i = 0; i < containers.size(); ++i) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return Error::from_errno("pipe");
    std::string p;
    if (prefix) {
      std::string padded = containers[i].name + std::string(width - containers[i].name.size(), ' ');
      p = colour ? fmt::format("\033[{}m{}  |\033[0m ", kColours[i % 10], padded) : padded + "  | ";
    }
    streams.push_back({UniqueFd(fds[0]), p, ""});
    writers.emplace_back(fds[1]);
  }
  // The readers never take SIGINT/SIGTERM: those must interrupt this thread's poll.
  sigset_t signals, previous;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &signals, &previous);
  for (size_t i = 0; i < containers.size(); ++i) {
    const Globals* g = c.globals;
    threads.emplace_back([g, id = containers[i].id, options, w = writers[i].release()] {
      // A database connection per thread (state/database.h).
      if (auto e = open_engine(*g)) {
        if (auto r = engine::read_logs(*e, id, options, w, w); !r) log::warn(r.error().message());
      }
      ::close(w);
    });
  }
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  std::vector<pollfd> pfds;
  for (auto& s : streams) pfds.push_back({s.read.get(), POLLIN, 0});
  size_t open = streams.size();
  char buf[65536];
  while (open > 0) {
    if (::poll(pfds.data(), pfds.size(), -1) < 0) {
      if (errno != EINTR) break;
      if (interrupted == 1 && on_interrupt_once) {
        interrupted = 2;
        on_interrupt_once();
      }
      continue;
    }
    for (size_t i = 0; i < pfds.size(); ++i) {
      if (pfds[i].fd < 0 || !(pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(pfds[i].fd, buf, sizeof buf);
      auto& s = streams[i];
      if (n <= 0) {
        if (!s.partial.empty()) print(s.prefix + s.partial + "\n");
        pfds[i].fd = -1;
        --open;
        continue;
      }
      s.partial.append(buf, static_cast<size_t>(n));
      std::string out;
      for (size_t nl; (nl = s.partial.find('\n')) != std::string::npos;) {
        out += s.prefix + s.partial.substr(0, nl + 1);
        s.partial.erase(0, nl + 1);
      }
      if (!out.empty()) print(out);
    }
  }
  for (auto& t : threads) t.join();
  return 0;
}

// --- verbs ---------------------------------------------------------------------------------------

Result<int> cmd_config(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, true));
  const Project& p = *c.model();
  if (a.flag("services")) {
    for (const auto& s : p.services) print(s.name + "\n");
    return 0;
  }
  if (a.flag("quiet")) return 0;
  std::string format = a.value("format", "yaml");
  if (format == "json")
    print(project::to_json(p, true, true) + "\n");
  else if (format == "yaml")
    print(project::to_yaml(p));
  else
    return unknown_format(format);
  return 0;
}

Result<int> cmd_logs(Compose& c, const ParsedArgs& a);

Result<int> cmd_up(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, true, a.positionals));
  project::UpOptions options;
  options.services = a.positionals;
  BERTH_TRY(options.scale, parse_scale(a.values_of("scale"), "--scale"));
  options.no_deps = a.flag("no-deps");
  options.build = a.flag("build");
  options.wait = a.flag("wait");
  if (a.flag("wait-timeout"))
    options.wait_timeout_ms = std::atoll(a.value("wait-timeout").c_str()) * 1000;
  options.remove_orphans = a.flag("remove-orphans");
  options.build_image = builder(*c.globals);
  options.pull_image = puller(*c.globals);
  options.progress = progress_line;
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY_VOID(apply_stored_changes(c, e));
  BERTH_TRY_VOID(project::up(e, *c.model(), options));
  if (a.flag("detach") || options.wait) return 0;
  // Attached: follow every instance's log until they all stop; Ctrl-C (or SIGTERM) stops the
  // project, as docker compose does, and the logs run out as the instances stop.
  BERTH_TRY(auto containers, project::project_containers(e, c.name, {}));
  engine::LogOptions logs;
  logs.follow = true;
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;  // no SA_RESTART: poll returns EINTR
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  const Project* model = c.model();
  return print_logs(c, containers, logs, true, ::isatty(1), [&] {
    progress_line("Gracefully stopping... (press Ctrl-C again to force)");
    ::signal(SIGINT, SIG_DFL);
    if (auto stopped = project::stop(e, *model, {}, std::nullopt, progress_line); !stopped)
      report(stopped.error());
  });
}

Result<int> cmd_down(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, false));
  project::DownOptions options;
  options.volumes = a.flag("volumes");
  options.remove_orphans = a.flag("remove-orphans");
  options.timeout = timeout_of(a);
  options.progress = progress_line;
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY_VOID(project::down(e, c.name, c.model(), options));
  return 0;
}

Result<int> cmd_ps(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, false));
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY(auto containers, project::project_containers(e, c.name, a.positionals));
  if (!a.flag("all")) std::erase_if(containers, [](const auto& r) { return !r.running(); });
  auto service_of = [](const engine::ContainerRecord& r) {
    return r.config.labels.at(project::kLabelService);
  };
  if (a.flag("services")) {
    std::set<std::string> names;
    for (const auto& r : containers) names.insert(service_of(r));
    for (const auto& n : names) print(n + "\n");
    return 0;
  }
  if (a.flag("quiet")) {
    for (const auto& r : containers) print(r.id + "\n");
    return 0;
  }
  std::string format = a.value("format", "table");
  if (format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : containers) {
      auto ports = engine::container_ports(e, r.id);
      out.push_back({{"ID", r.id},
                     {"Name", r.name},
                     {"Image", r.image_ref},
                     {"Project", c.name},
                     {"Service", service_of(r)},
                     {"State", r.state},
                     {"Health", r.health},
                     {"Status", status_text(r)},
                     {"ExitCode", r.exit_code.value_or(0)},
                     {"Publishers", ports ? engine::format_ports(*ports) : std::string()}});
    }
    print(out.dump() + "\n");
    return 0;
  }
  if (format != "table") return unknown_format(format);
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : containers) {
    auto ports = engine::container_ports(e, r.id);
    rows.push_back({r.name, r.image_ref, service_of(r), status_text(r),
                    ports ? engine::format_ports(*ports) : std::string()});
  }
  print(render_table({"NAME", "IMAGE", "SERVICE", "STATUS", "PORTS"}, rows));
  return 0;
}

Result<int> cmd_logs(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, false));
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY(auto containers, project::project_containers(e, c.name, a.positionals));
  BERTH_TRY(auto options, log_options(a));
  return print_logs(c, containers, options, !a.flag("no-log-prefix"),
                    ::isatty(1) && !a.flag("no-color"));
}

Result<int> cmd_scale(Compose& c, const ParsedArgs& a) {
  BERTH_TRY(auto replicas, parse_scale(a.positionals, "scale"));
  if (replicas.empty()) return Error(ErrorKind::invalid_argument, "give SERVICE=N");
  BERTH_TRY_VOID(load(c, true));
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY_VOID(apply_stored_changes(c, e));
  BERTH_TRY_VOID(project::scale(e, *c.model(), replicas, progress_line));
  return 0;
}

Result<int> cmd_start(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, true));
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY_VOID(project::start(e, *c.model(), a.positionals, progress_line));
  return 0;
}

Result<int> cmd_stop(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, true));
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY_VOID(project::stop(e, *c.model(), a.positionals, timeout_of(a), progress_line));
  return 0;
}

Result<int> cmd_restart(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, true));
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY_VOID(project::stop(e, *c.model(), a.positionals, timeout_of(a), progress_line));
  BERTH_TRY_VOID(project::start(e, *c.model(), a.positionals, progress_line));
  return 0;
}

Result<int> cmd_exec(Compose& c, const ParsedArgs& a) {
  if (a.positionals.size() < 2)
    return Error(ErrorKind::invalid_argument, "give a service and a command");
  BERTH_TRY_VOID(load(c, false));
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY(auto containers, project::project_containers(e, c.name, {a.positionals[0]}));
  int index = a.flag("index") ? std::atoi(a.value("index").c_str()) : 1;
  const engine::ContainerRecord* target = nullptr;
  for (const auto& r : containers)
    if (r.running() && r.config.labels.at(project::kLabelNumber) == std::to_string(index))
      target = &r;
  if (!target)
    return Error::make(ErrorKind::not_found, "service {} has no running instance {}",
                       a.positionals[0], index);
  engine::ExecRequest request;
  request.args.assign(a.positionals.begin() + 1, a.positionals.end());
  request.env = a.values_of("env");
  request.user = a.value("user");
  request.workdir = a.value("workdir");
  request.detach = a.flag("detach");
  request.tty = !a.flag("no-TTY") && ::isatty(0) && ::isatty(1);
  request.interactive = request.tty;
  return command_status(engine::exec_in_container(e, target->id, request));
}

Result<int> cmd_top(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, false));
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY(auto containers, project::project_containers(e, c.name, a.positionals));
  for (const auto& r : containers) {
    if (!r.running()) continue;
    BERTH_TRY(auto rows, engine::container_processes(e, r.id));
    std::vector<std::vector<std::string>> table;
    for (const auto& p : rows) table.push_back({p.user, std::to_string(p.pid), p.time, p.command});
    print(r.name + "\n" + render_table({"UID", "PID", "TIME", "CMD"}, table) + "\n");
  }
  return 0;
}

Result<int> cmd_ls(Compose& c, const ParsedArgs& a) {
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY(auto projects, project::list_projects(e));
  if (!a.flag("all")) std::erase_if(projects, [](const auto& p) { return p.running == 0; });
  if (a.flag("quiet")) {
    for (const auto& p : projects) print(p.name + "\n");
    return 0;
  }
  auto status = [](const project::StoredProject& p) {
    if (p.total == 0) return std::string("stopped");
    if (p.running == p.total) return fmt::format("running({})", p.running);
    return fmt::format("running({}), exited({})", p.running, p.total - p.running);
  };
  auto files = [](const project::StoredProject& p) {
    std::string out;
    for (const auto& f : p.config_files) out += (out.empty() ? "" : ",") + f;
    return out;
  };
  if (a.value("format") == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : projects)
      out.push_back({{"Name", p.name}, {"Status", status(p)}, {"ConfigFiles", files(p)}});
    print(out.dump() + "\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : projects) rows.push_back({p.name, status(p), files(p)});
  print(render_table({"NAME", "STATUS", "CONFIG FILES"}, rows));
  return 0;
}

Result<int> cmd_show(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, false));
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY(auto view, project::show(e, c.name, c.model()));
  if (!a.positionals.empty())
    std::erase_if(view.services, [&](const auto& s) {
      return std::find(a.positionals.begin(), a.positionals.end(), s.name) == a.positionals.end();
    });
  if (a.value("format") == "json") {
    nlohmann::json services = nlohmann::json::array();
    for (const auto& s : view.services) {
      nlohmann::json instances = nlohmann::json::array();
      for (const auto& i : s.instances)
        instances.push_back({{"Number", i.number},
                             {"Name", i.name},
                             {"ID", i.id},
                             {"State", i.state},
                             {"Health", i.health},
                             {"Addresses", i.addresses},
                             {"Ports", i.ports},
                             {"MemoryLimit", i.memory_limit},
                             {"Reason", i.reason},
                             {"LastLogs", i.last_logs}});
      services.push_back({{"Name", s.name},
                          {"Image", s.image},
                          {"Desired", s.desired},
                          {"Running", s.running},
                          {"Healthy", s.healthy},
                          {"HasHealthCheck", s.has_health},
                          {"Error", s.error},
                          {"Changes", s.changes},
                          {"Instances", instances}});
    }
    print(nlohmann::json({{"Name", view.name},
                          {"WorkingDir", view.working_dir},
                          {"Format", view.format},
                          {"ConfigFiles", view.config_files},
                          {"Services", services}})
              .dump() +
          "\n");
    return 0;
  }
  std::string out = fmt::format("Project {}", view.name);
  if (!view.config_files.empty()) {
    std::string files;
    for (const auto& f : view.config_files) files += (files.empty() ? "" : ", ") + f;
    out += fmt::format(" ({})", files);
  }
  out += "\n";
  for (const auto& s : view.services) {
    std::string health = s.has_health ? fmt::format(", {} healthy", s.healthy) : "";
    out += fmt::format("\n{}  {} from {} running{}  {}\n", s.name, s.running, s.desired, health,
                       s.image);
    if (!s.error.empty()) out += fmt::format("  last up failed: {}\n", s.error);
    if (!s.changes.empty()) {
      std::string list;
      for (const auto& c : s.changes) list += (list.empty() ? "" : ", ") + c;
      out += fmt::format("  changed apart from the files (berth compose change): {}\n", list);
    }
    for (const auto& i : s.instances) {
      std::vector<std::string> parts = {i.name, i.state};
      if (!i.health.empty()) parts.push_back(i.health);
      if (!i.addresses.empty()) parts.push_back(i.addresses);
      if (!i.ports.empty()) parts.push_back(i.ports);
      if (i.memory_limit)
        parts.push_back(fmt::format("memory limit {} MiB", i.memory_limit / (1024 * 1024)));
      std::string line;
      for (const auto& p : parts) line += (line.empty() ? "" : "  ") + p;
      out += "  " + line + "\n";
      if (!i.reason.empty()) out += "    why: " + i.reason + "\n";
      for (const auto& l : i.last_logs) out += "    | " + l + "\n";
    }
    for (int n = static_cast<int>(s.instances.size()); n < s.desired; ++n)
      out += fmt::format("  (instance {} missing)\n", n + 1);
  }
  print(out);
  return 0;
}

Result<int> cmd_run(Compose& c, const ParsedArgs& a) {
  if (a.positionals.empty())
    return Error(ErrorKind::invalid_argument, "give a service (and a command)");
  BERTH_TRY_VOID(load(c, true, {a.positionals[0]}));
  project::RunOptions options;
  options.command.assign(a.positionals.begin() + 1, a.positionals.end());
  options.env = a.values_of("env");
  options.user = a.value("user");
  options.workdir = a.value("workdir");
  options.has_entrypoint = a.flag("entrypoint");
  options.entrypoint = a.value("entrypoint");
  options.no_deps = a.flag("no-deps");
  options.tty = !a.flag("no-TTY") && !a.flag("detach") && ::isatty(0) && ::isatty(1);
  options.interactive = !a.flag("detach") && (options.tty || !::isatty(0));
  options.build_image = builder(*c.globals);
  options.pull_image = puller(*c.globals);
  options.progress = progress_line;
  BERTH_TRY(auto e, open_engine(*c.globals));
  BERTH_TRY_VOID(apply_stored_changes(c, e));
  BERTH_TRY(auto created, project::create_oneoff(e, *c.model(), a.positionals[0], options));
  if (a.flag("detach")) {
    BERTH_TRY_VOID(engine::start_container(e, created.id));
    print(created.name + "\n");
    return 0;
  }
  engine::ForegroundOptions fg;
  fg.stdin_fd = options.interactive ? 0 : -1;
  auto status = engine::run_foreground(e, created.id, fg);
  if (a.flag("rm")) {
    if (auto removed = engine::remove_container(e, created.id, true, true); !removed)
      report(removed.error());
  }
  return command_status(std::move(status));
}

Result<int> cmd_events(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, false));
  ParsedArgs events;
  events.values["filter"] = {"project=" + c.name};
  if (c.model())
    for (const auto& n : a.positionals)
      if (!c.model()->service(n))
        return Error::make(ErrorKind::invalid_argument, "no such service: {}", n);
  if (a.flag("json")) events.values["format"] = {"json"};
  for (const char* key : {"since", "until"})
    if (a.flag(key)) events.values[key] = {a.value(key)};
  if (a.positionals.empty()) return stream_events(*c.globals, events);
  // SERVICE...: the events of those services' instances (and their scale changes).
  std::set<std::string> services(a.positionals.begin(), a.positionals.end());
  return stream_events_where(*c.globals, events, [services](const engine::Event& ev) {
    auto it = ev.attributes.find(project::kLabelService);
    return it != ev.attributes.end() && services.count(it->second) > 0;
  });
}

Result<int> cmd_pull(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, true, a.positionals));
  int status = 0;
  for (const auto& s : c.model()->services) {
    if (!a.positionals.empty() &&
        std::find(a.positionals.begin(), a.positionals.end(), s.name) == a.positionals.end())
      continue;
    if (s.image.empty() || (s.build && !a.flag("include-build"))) continue;
    progress_line(fmt::format("Image {}  Pulling", s.image));
    ParsedArgs options;
    options.values["quiet"] = {""};
    auto pulled = pull_image(*c.globals, options, s.image);
    if (!pulled) {
      report(Error(pulled.error().kind(),
                   fmt::format("service {}: {}", s.name, pulled.error().message())));
      if (!a.flag("ignore-pull-failures")) return 1;
      status = 1;
      continue;
    }
    progress_line(fmt::format("Image {}  Pulled", *pulled));
  }
  return status;
}

// `push`: as docker compose, the services that are built here and name their image (build: and
// image:); the others have nothing of their own to upload.
Result<int> cmd_push(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, true, a.positionals));
  for (const auto& n : a.positionals)
    if (!c.model()->service(n))
      return Error::make(ErrorKind::invalid_argument, "no such service: {}", n);
  bool quiet = a.flag("quiet");
  auto say = [&](const std::string& line) {
    if (!quiet) progress_line(line);
  };
  int status = 0;
  for (const auto& s : c.model()->services) {
    if (!a.positionals.empty() &&
        std::find(a.positionals.begin(), a.positionals.end(), s.name) == a.positionals.end())
      continue;
    if (!s.build || s.image.empty()) {
      say(fmt::format("Service {}  Skipped: {}", s.name,
                      s.build ? "no image: to push to" : "not built here (no build:)"));
      continue;
    }
    say(fmt::format("Image {}  Pushing", s.image));
    ParsedArgs options;
    options.values["quiet"] = {""};
    auto pushed = push_image(*c.globals, options, s.image, s.image);
    if (!pushed) {
      Error e = std::move(pushed).error();
      if (e.kind() == ErrorKind::not_found)
        e = Error(e.kind(), e.message())
                .with_hint(fmt::format("build it first: berth compose build {}", s.name));
      report(Error(e.kind(), fmt::format("service {}: push {}: {}", s.name, s.image, e.message()))
                 .with_hint(e.hint()));
      if (!a.flag("ignore-push-failures")) return 1;
      status = 1;
      continue;
    }
    say(fmt::format("Image {}  Pushed {}", s.image, *pushed));
  }
  return status;
}

// `change SERVICE --image I -e K=V --var K=V`: the service as the files say, with this change and
// the earlier ones, rolled out as `up` rolls out an edit. The files are not written: the change
// is stored (project/changes.h) and holds for later commands until the files change that field.
Result<int> cmd_change(Compose& c, const ParsedArgs& a) {
  if (a.positionals.size() != 1) return Error(ErrorKind::invalid_argument, "give one service");
  const std::string& name = a.positionals[0];
  BERTH_TRY_VOID(load(c, true, a.positionals));
  if (!c.model()->service(name))
    return Error::make(ErrorKind::invalid_argument, "no such service: {}", name);
  std::optional<std::string> image;
  if (a.flag("image")) image = a.value("image");
  BERTH_TRY(auto env, key_values(a.values_of("env"), "--env"));
  BERTH_TRY(auto vars, key_values(a.values_of("var"), "--var"));
  if (!image && env.empty() && vars.empty())
    return Error(ErrorKind::invalid_argument, "give --image, --env or --var");
  BERTH_TRY(auto e, open_engine(*c.globals));
  const Project files = *c.model();
  BERTH_TRY(auto changes, project::stored_changes(e, c.name));
  project::note_change(changes, files, *files.service(name), image, env, vars);
  std::vector<std::string> notes;
  BERTH_TRY_VOID(project::apply_changes(c.loaded->project, changes, loader_with_vars(c), notes));
  for (const auto& n : notes)
    if (!n.starts_with("service " + name + ": keeps")) progress_line(n);
  project::UpOptions options;
  options.services = a.positionals;
  options.no_deps = true;
  options.build_image = builder(*c.globals);
  options.pull_image = puller(*c.globals);
  options.progress = progress_line;
  // The instances it has now, not the files' count: a change is no scale.
  BERTH_TRY(auto existing, project::project_containers(e, c.name, {name}));
  int instances = static_cast<int>(std::count_if(existing.begin(), existing.end(), [](auto& r) {
    return r.config.labels.count(project::kLabelOneoff) &&
           r.config.labels.at(project::kLabelOneoff) == "False";
  }));
  if (instances > 0) options.scale[name] = instances;
  BERTH_TRY_VOID(project::up(e, *c.model(), options));
  BERTH_TRY_VOID(project::store_changes(e, c.name, changes));
  return 0;
}

Result<int> cmd_build(Compose& c, const ParsedArgs& a) {
  BERTH_TRY_VOID(load(c, true, a.positionals));
  auto build = builder(*c.globals);
  int built = 0;
  for (const auto& s : c.model()->services) {
    if (!a.positionals.empty() && std::find(a.positionals.begin(), a.positionals.end(), s.name) == a.positionals.end())
      continue;
    if (!s.build) continue;
    BERTH_TRY(auto image, build({c.name, s.name, *s.build, project::image_name(*c.model(), s)}));
    (void)image;
    ++built;
  }
  if (built == 0) progress_line("No service has build:");
  return 0;
}

struct Verb {
  std::string_view name, usage, summary;
  std::vector<OptionSpec> options;
  size_t max_option_positionals = SIZE_MAX;
  std::function<Result<int>(Compose&, const ParsedArgs&)> run;
};

std::vector<Verb> verbs() {
  std::vector<OptionSpec> timeout = {
      {"t,timeout", true, "seconds to wait for a stop before killing"}};
  return {
      {"config",
       "[OPTIONS]",
       "Print the normalised project",
       {{"format", true, "yaml (default) or json"},
        {"services", false, "only the service names"},
        {"q,quiet", false, "only check the files"}},
       SIZE_MAX,
       cmd_config},
      {"up",
       "[OPTIONS] [SERVICE...]",
       "Create and start the project's containers (again: converge)",
       {{"d,detach", false, "return once started"},
        {"build", false, "build images first"},
        {"scale", true, "SERVICE=N instances"},
        {"wait", false, "until running and healthy"},
        {"wait-timeout", true, "seconds for --wait and service_healthy"},
        {"no-deps", false, "not the dependencies"},
        {"remove-orphans", false, "remove containers of services no longer in the files"}},
       SIZE_MAX,
       cmd_up},
      {"down",
       "[OPTIONS]",
       "Stop and remove the project's containers and networks",
       {{"v,volumes", false, "its volumes too"},
        {"remove-orphans", false, "containers of services not in the files"},
        timeout[0]},
       SIZE_MAX,
       cmd_down},
      {"ps",
       "[OPTIONS] [SERVICE...]",
       "List the project's containers",
       {{"a,all", false, "stopped ones too"},
        {"q,quiet", false, "only ids"},
        {"services", false, "only services"},
        {"format", true, "table or json"}},
       SIZE_MAX,
       cmd_ps},
      {"logs",
       "[OPTIONS] [SERVICE...]",
       "Show the instances' output",
       {{"f,follow", false, "keep following"},
        {"n,tail", true, "last N lines"},
        {"t,timestamps", false, "timestamps"},
        {"since", true, "from this time or duration ago"},
        {"until", true, "up to this time or duration ago"},
        {"no-color", false, "no colours"},
        {"no-log-prefix", false, "no instance prefix"}},
       SIZE_MAX,
       cmd_logs},
      {"scale", "SERVICE=N...", "Set the number of instances", {}, SIZE_MAX, cmd_scale},
      {"start", "[SERVICE...]", "Start existing instances", {}, SIZE_MAX, cmd_start},
      {"stop", "[OPTIONS] [SERVICE...]", "Stop instances", timeout, SIZE_MAX, cmd_stop},
      {"restart", "[OPTIONS] [SERVICE...]", "Restart instances", timeout, SIZE_MAX, cmd_restart},
      {"exec",
       "[OPTIONS] SERVICE COMMAND [ARG...]",
       "Run a command in a running instance",
       {{"d,detach", false, "in the background"},
        {"T,no-TTY", false, "no terminal"},
        {"e,env", true, "NAME=value"},
        {"u,user", true, "user"},
        {"w,workdir", true, "directory"},
        {"index", true, "instance number (1)"}},
       1,
       cmd_exec},
      {"run",
       "[OPTIONS] SERVICE [COMMAND] [ARG...]",
       "Run a one-off command in a new container of a service",
       {{"d,detach", false, "in the background, print the name"},
        {"rm", false, "remove it afterwards"},
        {"T,no-TTY", false, "no terminal"},
        {"e,env", true, "NAME=value"},
        {"u,user", true, "user"},
        {"w,workdir", true, "directory"},
        {"entrypoint", true, "replace the entrypoint"},
        {"no-deps", false, "do not start the dependencies"}},
       1,
       cmd_run},
      {"change",
       "[OPTIONS] SERVICE",
       "Roll out a new image, environment or variables for one service (kept until the files "
       "change that field)",
       {{"image", true, "the image to run"},
        {"e,env", true, "NAME=value (several)"},
        {"var", true, "NAME=value for $NAME in the service's fields (several)"}},
       SIZE_MAX,
       cmd_change},
      {"events",
       "[OPTIONS] [SERVICE...]",
       "Stream the instances' events (start, die, health_status, ...) and scale changes",
       {{"json", false, "one JSON object a line"},
        {"since", true, "from this time or duration ago"},
        {"until", true, "up to this time, then exit"}},
       SIZE_MAX,
       cmd_events},
      {"top", "[SERVICE...]", "The instances' processes", {}, SIZE_MAX, cmd_top},
      {"ls",
       "[OPTIONS]",
       "List projects",
       {{"a,all", false, "stopped ones too"},
        {"q,quiet", false, "only names"},
        {"format", true, "table or json"}},
       SIZE_MAX,
       cmd_ls},
      {"show",
       "[OPTIONS] [SERVICE...]",
       "Desired against actual, and why instances are not running",
       {{"format", true, "text or json"}},
       SIZE_MAX,
       cmd_show},
      {"build",
       "[SERVICE...]",
       "Build the images of services with build:",
       {},
       SIZE_MAX,
       cmd_build},
      {"push",
       "[OPTIONS] [SERVICE...]",
       "Push the images of services with build: and image: to their registries",
       {{"ignore-push-failures", false, "go on with the other images"},
        {"q,quiet", false, "no progress"}},
       SIZE_MAX,
       cmd_push},
      {"pull",
       "[OPTIONS] [SERVICE...]",
       "Pull the services' images",
       {{"ignore-pull-failures", false, "go on with the other images"},
        {"include-build", false, "also images of services with build:"}},
       SIZE_MAX,
       cmd_pull},
  };
}

Result<int> cmd_compose(const Globals& g, const ParsedArgs& top) {
  auto all = verbs();
  if (top.positionals.empty() || top.positionals[0] == "help") {
    std::string text =
        "Usage: berth compose [-f FILE]... [-p NAME] [--env-file FILE] [--profile P] [--var K=V] "
        "COMMAND\n\nCommands:\n";
    for (const auto& v : all) text += fmt::format("  {:<10} {}\n", v.name, v.summary);
    print(text);
    return top.positionals.empty() ? 2 : 0;
  }
  const std::string& verb = top.positionals[0];
  for (const auto& v : all) {
    if (v.name != verb) continue;
    std::string name = fmt::format("compose {}", verb);
    for (size_t i = 1; i < top.positionals.size(); ++i) {
      const auto& arg = top.positionals[i];
      if (arg == "--") break;
      if (arg == "-h" || arg == "--help") {
        print(fmt::format("Usage: berth compose {} {}\n\n{}\n", v.name, v.usage, v.summary));
        if (!v.options.empty()) print("\nOptions:\n" + describe_options(v.options));
        return 0;
      }
    }
    auto parsed = parse_args(top.positionals, 1, v.options, name, v.max_option_positionals);
    if (!parsed) {
      Error e = std::move(parsed).error();
      report(Error(e.kind(), e.message()).with_hint(fmt::format("see 'berth {} --help'", name)));
      return 2;
    }
    Compose c;
    c.globals = &g;
    c.top = top;
    return v.run(c, *parsed);
  }
  report(Error::make(ErrorKind::invalid_argument, "unknown compose command '{}'", verb)
             .with_hint("see 'berth compose help'"));
  return 2;
}

}  // namespace

std::vector<Command> compose_commands() {
  return {{"compose",
           "[OPTIONS] COMMAND [ARGS...]",
           "Projects of services: Compose files and JSON project files",
           {{"f,file", true, "a project file (several merge; default compose.yaml or berth.json)"},
            {"p,project-name", true, "the project's name"},
            {"project-directory", true, "the directory relative paths start from"},
            {"env-file", true, "variables for interpolation (default .env)"},
            {"profile", true, "enable services with this profile"},
            {"var", true, "NAME=VALUE for $NAME in the files"}},
           1,
           cmd_compose}};
}

}  // namespace berth::cli
