// build/run_instruction.cc — RUN: its mounts, its process in a snapshot, its layer.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/crash_point.h"
#include "base/sys.h"
#include "build/cache.h"
#include "build/detail/builder.h"
#include "build/detail/files.h"
#include "build/detail/run_step.h"
#include "engine/images.h"
#include "engine/spec.h"
#include "image/digest.h"

namespace berth::build::detail {
namespace {

struct RunMount {
  std::string type = "bind", target, source, from, id, sharing, mode, uid, gid, size, env;
  bool read_only = true, required = false;
  bool read_only_given = false;
};

Result<RunMount> parse_run_mount(const std::string& text) {
  RunMount m;
  for (const auto& part : sys::split(text, ',')) {
    auto eq = part.find('=');
    std::string key = part.substr(0, eq), value = eq == std::string::npos ? "" : part.substr(eq + 1);
    bool flag = eq == std::string::npos || value == "true" || value == "1";
    if (key == "type") m.type = value;
    else if (key == "target" || key == "dst" || key == "destination") m.target = value;
    else if (key == "source" || key == "src") m.source = value;
    else if (key == "from") m.from = value;
    else if (key == "id") m.id = value;
    else if (key == "sharing") m.sharing = value;
    else if (key == "mode") m.mode = value;
    else if (key == "uid") m.uid = value;
    else if (key == "gid") m.gid = value;
    else if (key == "size") m.size = value;
    else if (key == "env") m.env = value;
    else if (key == "required") m.required = flag;
    else if (key == "ro" || key == "readonly") m.read_only = flag, m.read_only_given = true;
    else if (key == "rw" || key == "readwrite") m.read_only = !flag, m.read_only_given = true;
    else return Error::make(ErrorKind::invalid_argument, "--mount: unknown key '{}' in '{}'", key, text);
  }
  if (m.type != "bind" && m.type != "cache" && m.type != "tmpfs" && m.type != "secret")
    return Error::make(ErrorKind::invalid_argument, "--mount: type '{}' is not supported (bind, cache, tmpfs, secret)", m.type);
  if (m.type == "secret") {
    if (m.id.empty() && !m.target.empty()) m.id = m.target.substr(m.target.find_last_of('/') + 1);
    if (m.target.empty() && m.env.empty()) m.target = "/run/secrets/" + m.id;
    if (m.id.empty()) return Error::make(ErrorKind::invalid_argument, "--mount type=secret needs an id or a target");
  } else if (m.target.empty()) {
    return Error::make(ErrorKind::invalid_argument, "--mount '{}': target is required", text);
  }
  if (m.type == "cache" && !m.read_only_given) m.read_only = false;
  if (m.type == "cache" && m.id.empty()) m.id = m.target;
  if (!m.sharing.empty() && m.sharing != "shared" && m.sharing != "private" && m.sharing != "locked")
    return Error::make(ErrorKind::invalid_argument, "--mount: sharing '{}' must be shared, private or locked", m.sharing);
  return m;
}

}  // namespace

Result<void> Builder::run_step(StageRun& s, const Instruction& in) {
  auto& config = s.result.image.config;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> scripts;  // heredoc scripts run as files
  if (in.json) {
    args = in.args;
  } else {
    std::string cmd = in.args.empty() ? "" : in.args[0];
    std::string trimmed = cmd;
    trimmed.erase(0, trimmed.find_first_not_of(" \t"));
    trimmed.erase(trimmed.find_last_not_of(" \t") + 1);
    bool whole = in.heredocs.size() == 1 && trimmed.starts_with("<<") &&
                 trimmed.find(in.heredocs[0].name) != std::string::npos && trimmed.find(' ') == std::string::npos;
    args = s.shell;
    if (whole && in.heredocs[0].content.starts_with("#!")) {
      scripts.emplace_back("/dev/pipes/" + in.heredocs[0].name, in.heredocs[0].content);
      args = {"/dev/pipes/" + in.heredocs[0].name};
    } else if (whole) {
      args.push_back(in.heredocs[0].content);
    } else {
      std::string script = cmd;
      for (const auto& h : in.heredocs) script += "\n" + h.content + h.name;
      args.push_back(script);
    }
  }
  if (args.empty()) return at(in, Error(ErrorKind::invalid_argument, "RUN has nothing to run"));
  std::string network = options_.network;
  std::vector<RunMount> mounts;
  for (const auto& f : in.flags) {
    if (f.name == "network") network = f.value;
    else if (f.name == "mount") {
      auto m = parse_run_mount(f.value);
      if (!m) return at(in, m.error());
      mounts.push_back(*m);
    } else if (f.name == "security") {
      if (f.value != "sandbox")
        return at(in, Error::make(ErrorKind::unsupported, "RUN --security={} is not allowed: berth builds run sandboxed", f.value));
    }
  }
  if (network != "default" && network != "none" && network != "host")
    return at(in, Error::make(ErrorKind::invalid_argument, "RUN --network={}: want default, none or host", network));
  // The environment: the image's ENV, then the stage's ARGs and the proxy build args under them.
  std::vector<std::string> env = config.env;
  std::vector<std::string> arg_pairs;
  for (const auto& [name, value] : s.args) {
    arg_pairs.push_back(name + "=" + value);
    if (!env_value(env, name)) env.push_back(name + "=" + value);
  }
  for (const auto& [name, value] : options_.build_args)
    if (proxy_args().count(name) && !env_value(env, name)) {
      env.push_back(name + "=" + value);
      std::lock_guard l(state_mutex_);
      used_build_args_.insert(name);
    }
  std::string created_by = "RUN ";
  if (!arg_pairs.empty()) created_by += fmt::format("|{} {} ", arg_pairs.size(), join(arg_pairs, " "));
  created_by += join(args, " ") + " # buildkit";

  CacheKey key(s.result.key);
  key.add("RUN").add(nlohmann::json(args).dump()).add(nlohmann::json(env).dump()).add(config.user)
      .add(config.working_dir).add(network);
  for (const auto& [path, content] : scripts) key.add(path).add(content);
  std::vector<StageRef> refs;
  for (const auto& m : mounts) {
    key.add(fmt::format("{}|{}|{}|{}|{}|{}|{}", m.type, m.target, m.source, m.from, m.id, m.read_only, m.mode));
    if (m.type == "bind") {
      auto ref = source_tree(s, m.from, in);
      if (!ref) return ref.error();
      if (m.from.empty()) {
        auto sources = detail::resolve_sources(ref->tree, m.source.empty() ? "." : m.source);
        if (!sources) return at(in, sources.error());
        auto hash = detail::hash_sources(ref->tree, *sources);
        if (!hash) return at(in, hash.error());
        key.add(*hash);
      } else {
        key.add(ref->key);
      }
      refs.push_back(std::move(*ref));
    } else {
      refs.emplace_back();
    }
  }
  std::string name = fmt::format("[{} {}/{}] RUN {}", s.label(), s.step, s.total,
                                 in.json ? join(args, " ") : (in.args.empty() ? "" : in.args[0]));
  int vertex_for_output = vertex_ + 1;
  size_t layers_before = s.result.layers.size();
  BERTH_TRY_VOID(filesystem_step(s, in, key.finish(), name, [&](Snapshot& snap) -> Result<void> {
    const std::string& root = snap.merged();
    std::string workdir = config.working_dir.empty() ? "/" : config.working_dir;
    BERTH_TRY_VOID(detail::make_directories(root, workdir, {}));
    auto user = engine::resolve_user({root}, config.user);
    if (!user) return user.error();
    int seq = ++snapshot_seq_;
    std::string step_dir = fmt::format("{}/r{}", work_, seq);
    std::string etc = step_dir + "/etc";
    BERTH_TRY_VOID(sys::mkdir_all(etc, 0755));
    BERTH_TRY_VOID(sys::atomic_write(etc + "/hostname", "buildkitsandbox\n", 0644, sys::Durability::process_crash));
    BERTH_TRY_VOID(sys::atomic_write(etc + "/hosts", "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0644, sys::Durability::process_crash));
    std::string resolv;
    if (network != "none")
      if (auto host = sys::read_file("/etc/resolv.conf")) resolv = *host;
    BERTH_TRY_VOID(sys::atomic_write(etc + "/resolv.conf", resolv, 0644, sys::Durability::process_crash));

    engine::SpecInputs inputs;
    inputs.id = fmt::format("build-{}-{}", build_id_, seq);
    inputs.rootfs = root;
    inputs.user = *user;
    inputs.hostname = "buildkitsandbox";
    inputs.etc_dir = etc;
    inputs.cgroups_path = "/berth-build/" + inputs.id;
    engine::ContainerConfig cc;
    cc.entrypoint = std::vector<std::string>{""};
    cc.command = args;
    cc.workdir = workdir;
    cc.network = network == "none" ? "none" : "host";
    if (options_.memory > 0) cc.memory = options_.memory;
    if (options_.pids_limit > 0) cc.pids_limit = options_.pids_limit;
    std::vector<std::string> destinations;
    for (size_t i = 0; i < mounts.size(); ++i) {
      const RunMount& m = mounts[i];
      std::string target = m.target.empty() || m.target[0] == '/' ? m.target : workdir + "/" + m.target;
      if (m.type == "bind") {
        std::string source = m.source.empty() ? "." : m.source;
        auto sources = detail::resolve_sources(refs[i].tree, source);
        if (!sources) return sources.error();
        BERTH_TRY(auto host, detail::resolve_in_root(refs[i].tree.root, (*sources)[0]));
        inputs.mounts.push_back({host, target, m.read_only});
      } else if (m.type == "cache") {
        image::Sha256 h;
        h.update(m.id);
        std::string dir = engine_.layout.root + "/build-cache-mounts/" + std::string(h.finish().encoded()).substr(0, 32);
        if (!sys::exists(dir)) {
          BERTH_TRY_VOID(sys::mkdir_all(dir, 0755));
          mode_t mode = m.mode.empty() ? 0755 : static_cast<mode_t>(std::strtol(m.mode.c_str(), nullptr, 8));
          ::chmod(dir.c_str(), mode);
          (void)::chown(dir.c_str(), m.uid.empty() ? 0 : std::stoi(m.uid), m.gid.empty() ? 0 : std::stoi(m.gid));
        }
        inputs.mounts.push_back({dir, target, m.read_only});
      } else if (m.type == "tmpfs") {
        cc.tmpfs.push_back(target + (m.size.empty() ? "" : ":size=" + m.size));
      } else if (m.type == "secret") {
        auto it = options_.secrets.find(m.id);
        if (it == options_.secrets.end()) {
          if (m.required)
            return Error::make(ErrorKind::not_found, "secret '{}' is required: pass it with --secret id={},src=FILE", m.id, m.id);
          continue;
        }
        if (!m.target.empty()) inputs.mounts.push_back({it->second, target, true});
        if (!m.env.empty()) {
          BERTH_TRY(auto value, sys::read_file(it->second));
          cc.env.push_back(m.env + "=" + value);
        }
      }
      destinations.push_back(target);
    }
    for (const auto& [path, content] : scripts) {
      std::string file = step_dir + "/script-" + path.substr(path.find_last_of('/') + 1);
      BERTH_TRY_VOID(sys::atomic_write(file, content, 0755, sys::Durability::process_crash));
      ::chmod(file.c_str(), 0755);
      inputs.mounts.push_back({file, path, true});
      destinations.push_back(path);
    }
    for (const char* d : {"/proc", "/dev", "/sys", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/tmp"})
      destinations.emplace_back(d);
    // Mount points the runtime creates must not end up in the layer (BuildKit removes them too).
    std::vector<std::string> stubs;
    for (const auto& d : destinations) {
      std::string walked;
      for (const auto& c : sys::split(d, '/')) {
        if (c.empty()) continue;
        walked += "/" + c;
        struct stat st;
        if (::lstat((root + walked).c_str(), &st) < 0) stubs.push_back(walked);
      }
    }
    oci::ImageConfig spec_image = s.result.image;
    spec_image.config.env = env;
    BERTH_TRY(auto spec, engine::build_spec(cc, spec_image, inputs));
    detail::RunRequest request;
    request.runtime = engine_.programs.runtime;
    request.runtime_root = runtime_root(engine_);
    request.id = inputs.id;
    request.bundle = step_dir + "/bundle";
    request.spec = &spec;
    request.on_line = [&](std::string_view line) {
      emit({StepEvent::Kind::output, vertex_for_output, name, std::string(line), 0});
    };
    BERTH_TRY(auto outcome, detail::run_container(request));
    crash_point("build:after-run");
    std::sort(stubs.begin(), stubs.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const auto& stub : stubs) {
      std::string p = snap.upper() + stub;
      struct stat st;
      if (::lstat(p.c_str(), &st) < 0) continue;
      if (S_ISDIR(st.st_mode)) ::rmdir(p.c_str());
      else if (S_ISREG(st.st_mode) && st.st_size == 0) ::unlink(p.c_str());
    }
    (void)sys::remove_all(step_dir);
    if (outcome.exit_code != 0) {
      std::string tail;
      for (const auto& l : outcome.tail) tail += "\n  > " + l;
      return Error::make(ErrorKind::failed_precondition, "process \"{}\" did not complete successfully: exit code: {}{}",
                         join(args, " "), outcome.exit_code, tail.empty() ? "" : "\n  last output:" + tail);
    }
    return {};
  }));
  history(s, created_by, s.result.layers.size() == layers_before);
  return {};
}

}  // namespace berth::build::detail
