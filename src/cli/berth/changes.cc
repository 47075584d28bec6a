// berth commit and berth update: a container's changes as an image; its limits and restart
// policy changed while it runs (engine/container_commit.h, engine/container_update.h).
#include <cstdlib>

#include "cli/berth/command.h"
#include "engine/container_commit.h"
#include "engine/container_update.h"
#include "monitor/restart_policy.h"

namespace berth::cli {

Result<void> parse_resource_flags(const ParsedArgs& a, std::optional<int64_t>& memory, std::optional<double>& cpus,
                                  std::optional<int64_t>& pids_limit) {
  if (a.flag("memory")) {
    BERTH_TRY(memory, engine::parse_size(a.value("memory")).context("--memory"));
  }
  if (a.flag("cpus")) {
    char* end = nullptr;
    std::string text = a.value("cpus");
    double value = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end || value <= 0)
      return Error::make(ErrorKind::invalid_argument, "--cpus '{}': give a positive number such as 0.5", text);
    cpus = value;
  }
  if (a.flag("pids-limit")) {
    std::string text = a.value("pids-limit");
    char* end = nullptr;
    long long limit = std::strtoll(text.c_str(), &end, 10);
    if (end == text.c_str() || *end)
      return Error::make(ErrorKind::invalid_argument, "--pids-limit '{}': give a whole number", text);
    pids_limit = limit;
  }
  return {};
}

namespace {

Result<int> cmd_commit(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.empty() || a.positionals.size() > 2)
    return Error(ErrorKind::invalid_argument, "give a container and, optionally, REPOSITORY[:TAG]");
  engine::CommitOptions o;
  o.container = a.positionals[0];
  if (a.positionals.size() == 2) o.names.push_back(a.positionals[1]);
  o.author = a.value("author");
  o.comment = a.value("message");
  o.changes = a.values_of("change");
  if (a.flag("pause")) {
    std::string pause = a.value("pause");
    if (pause != "true" && pause != "false")
      return Error::make(ErrorKind::invalid_argument, "--pause '{}': give true or false", pause);
    o.pause = pause == "true";
  }
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto image, engine::commit_container(e, o));
  print(image.config_digest + "\n");
  return 0;
}

Result<int> cmd_update(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.empty()) return Error(ErrorKind::invalid_argument, "give one or more containers");
  engine::ContainerUpdate u;
  BERTH_TRY_VOID(parse_resource_flags(a, u.memory, u.cpus, u.pids_limit));
  if (a.flag("restart")) {
    BERTH_TRY_VOID(monitor::RestartPolicy::parse(a.value("restart")).context("--restart"));
    u.restart = a.value("restart");
  }
  auto whole = [&](const char* flag, std::optional<int64_t>& into) -> Result<void> {
    if (!a.flag(flag)) return {};
    std::string text = a.value(flag);
    char* end = nullptr;
    long long n = std::strtoll(text.c_str(), &end, 10);
    if (end == text.c_str() || *end) return Error::make(ErrorKind::invalid_argument, "--{} '{}': give a whole number", flag, text);
    into = n;
    return {};
  };
  BERTH_TRY_VOID(whole("cpu-shares", u.cpu_shares));
  BERTH_TRY_VOID(whole("blkio-weight", u.blkio_weight));
  if (a.flag("cpuset-cpus")) u.cpuset_cpus = a.value("cpuset-cpus");
  if (a.flag("cpuset-mems")) u.cpuset_mems = a.value("cpuset-mems");
  if (a.flag("memory-swap")) {
    if (a.value("memory-swap") == "-1") {
      u.memory_swap = -1;
    } else {
      BERTH_TRY(u.memory_swap, engine::parse_size(a.value("memory-swap")).context("--memory-swap"));
    }
  }
  if (!u.memory && !u.cpus && !u.pids_limit && !u.restart && !u.cpu_shares && !u.blkio_weight && !u.cpuset_cpus &&
      !u.cpuset_mems && !u.memory_swap)
    return Error(ErrorKind::invalid_argument,
                 "give something to change: --memory, --memory-swap, --cpus, --cpu-shares, --cpuset-cpus, "
                 "--cpuset-mems, --blkio-weight, --pids-limit, --restart");
  BERTH_TRY(auto e, open_engine(g));
  int status = 0;
  for (const auto& name : a.positionals) {
    if (auto updated = engine::update_container(e, name, u); !updated) {
      report(updated.error());
      status = 1;
    } else {
      print(name + "\n");
    }
  }
  return status;
}

}  // namespace

std::vector<Command> change_commands() {
  std::vector<Command> c;
  c.push_back({"commit", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create an image from a container's changes",
               {{"a,author", true, "author of the image"},
                {"m,message", true, "commit message"},
                {"c,change", true, "apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, WORKDIR, USER, "
                                   "STOPSIGNAL); repeat for several"},
                {"p,pause", true, "pause a running container while committing (true, the default, or false)"}},
               SIZE_MAX, cmd_commit});
  c.push_back({"update", "[OPTIONS] CONTAINER...", "Change containers' limits and restart policy, running or not",
               {{"m,memory", true, "memory limit (64m, 1g)"},
                {"memory-swap", true, "memory plus swap (128m; -1: no swap limit)"},
                {"cpus", true, "number of CPUs (0.5)"},
                {"cpu-shares", true, "relative CPU weight, 2 to 262144 (1024 is the default)"},
                {"cpuset-cpus", true, "CPUs it may run on (0-1,3)"},
                {"cpuset-mems", true, "memory nodes it may use (0)"},
                {"blkio-weight", true, "relative block I/O weight, 10 to 1000"},
                {"pids-limit", true, "maximum number of processes (0 or -1: none)"},
                {"restart", true, "no, on-failure[:N], always, unless-stopped"}},
               SIZE_MAX, cmd_update});
  return c;
}

}  // namespace berth::cli
