#include "engine/spec.h"
#include "engine/container_update.h"

#include <cmath>

#include "base/sys.h"
#include "engine/security.h"

namespace berth::engine {
namespace {

constexpr const char* kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr const char* kInitPath = "/sbin/docker-init";

// Lines of an /etc/passwd-like file split at ':'.
std::vector<std::vector<std::string>> colon_file(const std::vector<std::string>& roots, const char* file) {
  for (const auto& root : roots) {
    auto text = sys::read_file(root + "/" + file);
    if (!text) continue;
    std::vector<std::vector<std::string>> rows;
    for (const auto& line : sys::split(*text, '\n'))
      if (!line.empty() && line[0] != '#') rows.push_back(sys::split(line, ':'));
    return rows;
  }
  return {};
}

std::optional<uint32_t> number(std::string_view text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  uint64_t value = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(ch - '0');
  }
  if (value > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(value);
}

void set_env(std::vector<std::string>& env, const std::string& entry) {
  std::string name = entry.substr(0, entry.find('='));
  for (auto& e : env)
    if (e.substr(0, e.find('=')) == name) {
      e = entry;
      return;
    }
  env.push_back(entry);
}

}  // namespace

Result<UserIds> resolve_user(const std::vector<std::string>& roots, std::string_view user) {
  UserIds ids;
  if (user.empty()) {
    ids.additional_gids = {0};  // root's group, as below for a user in no other group
    return ids;
  }
  std::string name(user.substr(0, user.find(':')));
  std::string group = user.find(':') == std::string_view::npos ? "" : std::string(user.substr(user.find(':') + 1));
  auto passwd = colon_file(roots, "etc/passwd");
  std::string user_name;
  bool found = false;
  if (auto uid = number(name)) {
    ids.uid = *uid;
    for (const auto& row : passwd)
      if (row.size() >= 4 && number(row[2]) == uid) {
        ids.gid = number(row[3]).value_or(0);
        user_name = row[0];
        break;
      }
    found = true;
  } else {
    for (const auto& row : passwd)
      if (row.size() >= 4 && row[0] == name) {
        ids.uid = number(row[2]).value_or(0);
        ids.gid = number(row[3]).value_or(0);
        user_name = name;
        found = true;
        break;
      }
  }
  if (!found)
    return Error::make(ErrorKind::invalid_argument, "user '{}': no such user in the image's /etc/passwd", name)
        .with_hint("use a numeric uid[:gid], or a user the image defines");
  auto groups = colon_file(roots, "etc/group");
  if (!group.empty()) {
    if (auto gid = number(group)) {
      ids.gid = *gid;
    } else {
      bool known = false;
      for (const auto& row : groups)
        if (row.size() >= 3 && row[0] == group) {
          ids.gid = number(row[2]).value_or(0);
          known = true;
        }
      if (!known)
        return Error::make(ErrorKind::invalid_argument, "group '{}': no such group in the image's /etc/group", group);
    }
  }
  if (!user_name.empty())
    for (const auto& row : groups)
      if (row.size() >= 4)
        for (const auto& member : sys::split(row[3], ','))
          if (member == user_name)
            if (auto gid = number(row[2]); gid && *gid != ids.gid) ids.additional_gids.push_back(*gid);
  // As runc under docker and podman: a user in no other group has its own as the supplementary
  // one (`id` shows groups=GID).
  if (ids.additional_gids.empty()) ids.additional_gids.push_back(ids.gid);
  return ids;
}

Result<std::vector<std::string>> process_args(const ContainerConfig& config, const oci::ContainerConfig& image) {
  std::vector<std::string> args;
  if (config.entrypoint) {
    args = *config.entrypoint;
    if (args.size() == 1 && args[0].empty()) args.clear();
  } else if (image.entrypoint) {
    args = *image.entrypoint;
  }
  if (!config.command.empty()) args.insert(args.end(), config.command.begin(), config.command.end());
  else if (!config.entrypoint && image.cmd) args.insert(args.end(), image.cmd->begin(), image.cmd->end());
  if (args.empty())
    return Error(ErrorKind::invalid_argument, "No command specified: the image has no ENTRYPOINT or CMD")
        .with_hint("give a command after the image name, e.g. `berth run IMAGE sh`");
  return args;
}

Result<oci::Spec> build_spec(const ContainerConfig& config, const oci::ImageConfig& image, const SpecInputs& in) {
  oci::Spec spec;
  spec.oci_version = oci::kRuntimeSpecVersion;
  spec.root.path = in.rootfs;
  spec.root.readonly = config.read_only;
  spec.hostname = in.hostname;

  oci::Process process;
  BERTH_TRY(process.args, process_args(config, image.config));
  if (config.init) process.args.insert(process.args.begin(), {kInitPath, "--"});
  process.terminal = config.tty;
  process.user.uid = in.user.uid;
  process.user.gid = in.user.gid;
  process.user.additional_gids = in.user.additional_gids;
  process.env = image.config.env;
  bool has_path = false;
  for (const auto& e : process.env) has_path |= e.starts_with("PATH=");
  if (!has_path) process.env.insert(process.env.begin(), kDefaultPath);
  set_env(process.env, "HOSTNAME=" + in.hostname);
  if (config.tty) set_env(process.env, "TERM=xterm");
  for (const auto& e : config.env) set_env(process.env, e);
  process.cwd = !config.workdir.empty() ? config.workdir
                : !image.config.working_dir.empty() ? image.config.working_dir : "/";
  if (process.cwd[0] != '/')
    return Error::make(ErrorKind::invalid_argument, "working directory '{}' is not absolute", process.cwd);
  BERTH_TRY(auto caps, effective_capabilities(config.cap_add, config.cap_drop));
  process.capabilities = oci::Capabilities{caps, caps, {}, caps, {}};
  process.no_new_privileges = config.no_new_privileges;
  spec.process = process;

  spec.mounts = default_mounts();
  for (const auto& t : config.tmpfs) {
    auto colon = t.find(':');
    std::string destination = t.substr(0, colon);
    if (destination.empty() || destination[0] != '/')
      return Error::make(ErrorKind::invalid_argument, "tmpfs '{}': the destination must be an absolute path", t);
    std::vector<std::string> options = {"nosuid", "nodev", "noexec"};
    if (colon != std::string::npos)
      for (const auto& o : sys::split(t.substr(colon + 1), ',')) options.push_back(o);
    spec.mounts.push_back({destination, "tmpfs", "tmpfs", options});
  }
  if (!in.etc_dir.empty())
    for (const char* file : {"hostname", "hosts", "resolv.conf"})
      spec.mounts.push_back({std::string("/etc/") + file, "bind", in.etc_dir + "/" + file, {"rbind", "rprivate"}});
  for (const auto& m : in.mounts) {
    std::vector<std::string> options = {"rbind", "rprivate"};
    if (m.read_only) options.push_back("ro");
    spec.mounts.push_back({m.destination, "bind", m.source, options});
  }
  if (config.init) {
    if (in.init_binary.empty())
      return Error(ErrorKind::failed_precondition, "--init needs tini-static, which is not installed")
          .with_hint("apt-get install tini");
    spec.mounts.push_back({kInitPath, "bind", in.init_binary, {"bind", "ro"}});
  }

  oci::Linux& linux = spec.linux;
  for (const char* ns : {"pid", "ipc", "uts", "mount", "cgroup"}) linux.namespaces.push_back({ns, ""});
  if (config.network != "host") linux.namespaces.push_back({"network", in.netns_path});
  linux.cgroups_path = in.cgroups_path;
  linux.masked_paths = default_masked_paths();
  linux.readonly_paths = default_readonly_paths();
  oci::Resources resources;
  if (config.memory) {
    resources.memory = oci::Memory{};
    resources.memory->limit = *config.memory;
  }
  if (config.cpus) {
    if (*config.cpus <= 0)
      return Error::make(ErrorKind::invalid_argument, "--cpus {}: give a positive number such as 0.5", *config.cpus);
    resources.cpu = oci::Cpu{};
    resources.cpu->period = 100000;
    resources.cpu->quota = static_cast<int64_t>(std::llround(*config.cpus * 100000));
  }
  resources.pids_limit = effective_pids_limit(config.pids_limit);
  add_tuning(config, resources);
  // Every device is denied but the standard nodes the runtime adds after this rule (null, zero,
  // full, random, urandom, tty, console, ptmx, pts/*). Without it a container keeps CAP_MKNOD
  // and could mknod the host's disk (b 254:0) and read or write it.
  resources.devices.push_back(oci::DeviceRule{false, "a", std::nullopt, std::nullopt, "rwm"});
  linux.resources = resources;
  if (config.seccomp == "unconfined") {
  } else if (!config.seccomp.empty()) {
    BERTH_TRY(linux.seccomp, load_seccomp_profile(config.seccomp, caps));
  } else {
    linux.seccomp = default_seccomp_profile(caps);
  }
  return spec;
}

}  // namespace berth::engine
