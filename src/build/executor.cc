// build/executor.cc — runs a parsed Dockerfile: stages as a graph, each instruction against the
// stage's image config and layers, filesystem steps through snapshots and the cache.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/crash_point.h"
#include "base/clock.h"
#include "base/sys.h"
#include "build/build.h"
#include "build/cache.h"
#include "build/context_filter.h"
#include "build/detail/files.h"
#include "build/detail/builder.h"
#include "build/detail/run_step.h"
#include "build/detail/snapshot.h"
#include "build/dockerfile.h"
#include "build/shell_words.h"
#include "engine/images.h"
#include "engine/spec.h"
#include "image/digest.h"
#include "image/import.h"
#include "image/layers.h"
#include "state/lock.h"
namespace berth::build::detail {



const std::set<std::string>& proxy_args() {
  static const std::set<std::string> names = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                              "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                              "ALL_PROXY",  "all_proxy"};
  return names;
}

std::string host_arch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#else
  return "unknown";
#endif
}

std::string runtime_root(const engine::Engine& e) { return e.layout.run_root + "/build-runtime"; }


Error at(const Instruction& in, Error e) {
  return std::move(e).context(fmt::format("{}: {}", to_string(in.where), in.original.substr(0, 80)));
}

std::optional<std::string> env_value(const std::vector<std::string>& env, std::string_view name) {
  for (const auto& e : env)
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
      return e.substr(name.size() + 1);
  return std::nullopt;
}

void set_env(std::vector<std::string>& env, const std::string& name, const std::string& value) {
  std::string prefix = name + "=";
  for (auto& e : env)
    if (e.starts_with(prefix)) {
      e = prefix + value;
      return;
    }
  env.push_back(prefix + value);
}

// Go's %q of a []string, as BuildKit's history writes CMD and ENTRYPOINT: ["a" "b"].
std::string go_quoted_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? " " : "") + nlohmann::json(items[i]).dump();
  return out + "]";
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? std::string(sep) : "") + items[i];
  return out;
}

// Go durations as docker's HEALTHCHECK flags take them: "30s", "1m30s", "500ms", "1h".
Result<int64_t> parse_health_duration(std::string_view text, std::string_view flag) {
  auto d = build::parse_go_duration(text);
  if (!d) return std::move(d).error().context(fmt::format("HEALTHCHECK --{}", flag));
  return d;
}

void Builder::emit(StepEvent event) {
  if (!options_.progress) return;
  std::lock_guard lock(progress_mutex_);
  options_.progress(event);
}

void Builder::history(StageRun& s, const std::string& created_by, bool empty_layer) {
  oci::History h;
  h.created = s.result.created_ns ? clock::rfc3339(s.result.created_ns) : clock::rfc3339_now();
  h.created_by = created_by;
  h.comment = std::string(kHistoryComment);
  h.empty_layer = empty_layer;
  s.result.image.history.push_back(std::move(h));
}

std::vector<std::string> Builder::lower_dirs(const StageResult& r) const {
  std::vector<std::string> dirs;
  for (auto it = r.chain_ids.rbegin(); it != r.chain_ids.rend(); ++it) dirs.push_back(engine_.layout.layer(*it));
  return dirs;
}

int Builder::stage_index(std::string_view name) const {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (const auto& st : df_.stages)
    if (!st.name.empty() && st.name == lower) return st.index;
  return -1;
}

VariableLookup Builder::global_lookup() const {
  return [this](std::string_view n) -> std::optional<std::string> {
    if (auto it = global_args_.find(std::string(n)); it != global_args_.end()) return it->second;
    return std::nullopt;
  };
}

Result<void> Builder::prepare_global_args() {
  std::string arch = host_arch();
  for (auto [k, v] : std::initializer_list<std::pair<std::string, std::string>>{
           {"TARGETPLATFORM", "linux/" + arch}, {"TARGETOS", "linux"}, {"TARGETARCH", arch}, {"TARGETVARIANT", ""},
           {"BUILDPLATFORM", "linux/" + arch}, {"BUILDOS", "linux"}, {"BUILDARCH", arch}, {"BUILDVARIANT", ""}})
    global_args_[k] = v;
  for (const auto& in : df_.meta_args) {
    for (const auto& [name, def] : in.pairs) {
      auto lookup = global_lookup();
      std::string value;
      if (auto it = options_.build_args.find(name); it != options_.build_args.end()) {
        value = it->second;
        used_build_args_.insert(name);
      } else if (def) {
        auto v = expand_word(*def, lookup, {df_.escape, nullptr});
        if (!v) return at(in, v.error());
        value = *v;
      }
      global_args_[name] = value;
    }
  }
  return {};
}

Result<int> Builder::target_stage() const {
  if (options_.target.empty()) return static_cast<int>(df_.stages.size()) - 1;
  int i = stage_index(options_.target);
  if (i < 0) {
    std::vector<std::string> names;
    for (const auto& st : df_.stages)
      if (!st.name.empty()) names.push_back(st.name);
    return Error::make(ErrorKind::invalid_argument, "target stage '{}' could not be found{}", options_.target,
                       names.empty() ? std::string(" (no stage has a name)") : fmt::format(" (stages: {})", join(names, ", ")));
  }
  return i;
}

// Stages `index` needs: its FROM, COPY --from and RUN --mount from= references.
Result<std::set<int>> Builder::dependencies(int index) const {
  std::set<int> deps;
  const Stage& st = df_.stages[static_cast<size_t>(index)];
  auto lookup = global_lookup();
  // FROM may name only an earlier stage; COPY --from and RUN --mount from= any stage, as in
  // BuildKit (a cycle is found when the graph is walked: find_cycle).
  auto reference = [&](const std::string& text, const Instruction& in, bool earlier_only) -> Result<void> {
    auto name = expand_word(text, lookup, {df_.escape, nullptr});
    std::string n = name ? *name : text;
    int i = stage_index(n);
    if (i < 0 && !n.empty() && std::all_of(n.begin(), n.end(), ::isdigit)) {
      i = std::stoi(n);
      if (i >= static_cast<int>(df_.stages.size()))
        return at(in, Error::make(ErrorKind::invalid_argument, "stage {} does not exist", n));
    }
    if (i == index) return at(in, Error::make(ErrorKind::invalid_argument, "circular dependency detected on stage: {}", n));
    if (i > index && earlier_only)
      return at(in, Error::make(ErrorKind::invalid_argument,
                                "stage '{}' is defined after this one: a stage can only use earlier stages", n));
    if (i >= 0) deps.insert(i);
    return {};
  };
  BERTH_TRY_VOID(reference(st.base, st.from, true));
  for (const auto& in : st.instructions) {
    for (const auto& f : in.flags) {
      if (f.name == "from" && (in.keyword == "COPY" || in.keyword == "ADD")) BERTH_TRY_VOID(reference(f.value, in, false));
      if (f.name == "mount" && in.keyword == "RUN")
        for (const auto& part : sys::split(f.value, ','))
          if (part.starts_with("from=")) BERTH_TRY_VOID(reference(part.substr(5), in, false));
    }
  }
  return deps;
}

Result<void> Builder::build_stages(const std::set<int>& needed) {
  std::map<int, std::set<int>> deps;
  for (int i : needed) {
    BERTH_TRY(deps[i], dependencies(i));
  }
  std::set<int> started;
  std::vector<std::thread> threads;
  std::unique_lock lock(state_mutex_);
  int running = 0;
  for (;;) {
    if (!failures_.empty()) break;
    if (results_.size() == needed.size()) break;
    bool launched = false;
    for (int i : needed) {
      if (started.count(i) || running >= std::max(1, options_.parallelism)) continue;
      bool ready = std::all_of(deps[i].begin(), deps[i].end(), [&](int d) { return results_.count(d) > 0; });
      if (!ready) continue;
      started.insert(i);
      ++running;
      launched = true;
      threads.emplace_back([this, i, &running] {
        auto r = build_stage(i);
        std::lock_guard l(state_mutex_);
        if (!r) failures_[i] = r.error().message();
        --running;
        stage_done_.notify_all();
      });
    }
    if (!launched) stage_done_.wait(lock);
  }
  while (running > 0) stage_done_.wait(lock);
  lock.unlock();
  for (auto& t : threads) t.join();
  if (!failures_.empty()) return Error(ErrorKind::invalid_argument, failures_.begin()->second);
  return {};
}

Result<void> Builder::from_base(StageRun& s) {
  const Stage& st = s.stage;
  auto lookup = global_lookup();
  BERTH_TRY(auto base, expand_word(st.base, lookup, {df_.escape, nullptr}));
  if (base.empty())
    return at(st.from, Error::make(ErrorKind::invalid_argument, "FROM '{}' names no image after substitution", st.base));
  if (st.platform) {
    auto p = expand_word(*st.platform, lookup, {df_.escape, nullptr});
    std::string want = "linux/" + host_arch();
    if (p && !p->empty() && *p != want && *p != "linux")
      return at(st.from, Error::make(ErrorKind::unsupported, "platform '{}' cannot be built here (this host builds {})", *p, want));
  }
  if (int i = stage_index(base); i >= 0) {
    std::lock_guard l(state_mutex_);
    s.result = results_.at(i);
    s.result.key = CacheKey(s.result.key).add("from-stage").finish();
    return {};
  }
  if (base == "scratch") {
    s.result.image.architecture = host_arch();
    s.result.image.os = "linux";
    s.result.image.config.env = {std::string(kDefaultPath)};
    s.result.key = CacheKey("scratch").finish();
    return {};
  }
  std::lock_guard l(engine_mutex_);
  auto record = engine::find_image(engine_, base);
  if (!record && record.error().kind() == ErrorKind::not_found && options_.pull) {
    emit({StepEvent::Kind::note, 0, fmt::format("pulling {}", base), "", 0});
    auto pulled = options_.pull(base);
    if (!pulled) return at(st.from, pulled.error());
    record = engine::find_image(engine_, *pulled);
  }
  if (!record) return at(st.from, record.error());
  BERTH_TRY(auto content, engine::read_image(engine_, *record));
  BERTH_TRY_VOID(engine::ensure_layers(engine_, content).context(fmt::format("unpack the layers of '{}'", base)));
  s.result.image = content.config;
  s.result.layers = content.manifest.layers;
  for (const auto& c : content.chain_ids) s.result.chain_ids.emplace_back(c.encoded());
  s.result.key = CacheKey(record->id).finish();
  s.result.created_ns = clock::parse_rfc3339(s.result.image.created).value_or(0);
  if (s.result.image.config.env.empty()) s.result.image.config.env = {std::string(kDefaultPath)};
  return {};
}

Result<void> Builder::build_stage(int index) {
  const Stage& st = df_.stages[static_cast<size_t>(index)];
  StageRun s{st, {}, {}};
  s.total = static_cast<int>(st.instructions.size()) + 1;
  int vertex = ++vertex_;
  std::string from_name = fmt::format("[{} 1/{}] FROM {}", s.label(), s.total, st.base);
  emit({StepEvent::Kind::started, vertex, from_name, "", 0});
  uint64_t t0 = clock::monotonic_ms();
  if (auto r = from_base(s); !r) {
    emit({StepEvent::Kind::failed, vertex, from_name, r.error().message(), 0});
    return r;
  }
  emit({StepEvent::Kind::done, vertex, from_name, "", static_cast<int64_t>(clock::monotonic_ms() - t0) * 1'000'000});
  s.step = 1;
  // The base image's ONBUILD triggers run first, then leave the config (as docker does).
  std::vector<std::string> triggers = std::move(s.result.image.config.on_build);
  s.result.image.config.on_build.clear();
  for (const auto& t : triggers) {
    auto trigger = parse_onbuild_trigger(t);
    if (!trigger) return at(st.from, trigger.error());
    BERTH_TRY_VOID(execute(s, *trigger));
  }
  for (const auto& in : st.instructions) {
    ++s.step;
    BERTH_TRY_VOID(execute(s, in));
  }
  std::lock_guard l(state_mutex_);
  results_[index] = std::move(s.result);
  return {};
}

// A step whose result is a layer: the cache first, else the work in a fresh snapshot.
Result<void> Builder::filesystem_step(StageRun& s, const Instruction& in, const std::string& key,
                                      const std::string& name, const std::function<Result<void>(Snapshot&)>& work) {
  int vertex = ++vertex_;
  ++steps_;
  emit({StepEvent::Kind::started, vertex, name, "", 0});
  uint64_t t0 = clock::monotonic_ms();
  std::optional<CommittedLayer> layer;
  if (!options_.no_cache) {
    std::lock_guard l(engine_mutex_);
    BERTH_TRY(layer, cache_lookup(engine_, key));
  }
  if (layer) {
    ++cached_;
    emit({StepEvent::Kind::cached, vertex, name, "", 0});
  } else {
    auto produced = [&]() -> Result<CommittedLayer> {
      std::string dir = fmt::format("{}/s{}", work_, ++snapshot_seq_);
      BERTH_TRY(auto snapshot, Snapshot::mount(dir, lower_dirs(s.result)));
      BERTH_TRY_VOID(work(snapshot));
      std::string parent = s.result.chain_ids.empty() ? "" : s.result.chain_ids.back();
      BERTH_TRY(auto committed, detail::commit(engine_, snapshot, parent));
      committed.created_ns = clock::now_ns();
      std::lock_guard l(engine_mutex_);
      BERTH_TRY_VOID(cache_store(engine_, key, committed, in.original.substr(0, 200)));
      return committed;
    }();
    if (!produced) {
      emit({StepEvent::Kind::failed, vertex, name, produced.error().message(),
            static_cast<int64_t>(clock::monotonic_ms() - t0) * 1'000'000});
      return at(in, produced.error());
    }
    layer = *produced;
    emit({StepEvent::Kind::done, vertex, name, "", static_cast<int64_t>(clock::monotonic_ms() - t0) * 1'000'000});
  }
  s.result.created_ns = layer->created_ns;
  if (!layer->empty) {
    s.result.layers.push_back(layer->descriptor);
    s.result.image.diff_ids.push_back(layer->diff_id);
    s.result.chain_ids.push_back(layer->chain_id);
  }
  s.result.key = key;
  return {};
}

Result<void> Builder::execute(StageRun& s, const Instruction& in) {
  auto& config = s.result.image.config;
  auto lookup = s.lookup();
  ExpandOptions expand{df_.escape, nullptr};
  auto word = [&](const std::string& text) -> Result<std::string> {
    auto r = expand_word(text, lookup, expand);
    if (!r) return at(in, r.error());
    return r;
  };
  auto chain = [&](const std::string& created_by) {
    s.result.key = CacheKey(s.result.key).add(created_by).finish();
    history(s, created_by, true);
  };
  const std::string& k = in.keyword;
  if (k == "RUN") return run_step(s, in);
  if (k == "COPY") return copy_step(s, in, false);
  if (k == "ADD") return copy_step(s, in, true);
  if (k == "WORKDIR") return workdir_step(s, in);
  if (k == "ENV" || k == "LABEL") {
    std::vector<std::pair<std::string, std::string>> values;
    for (const auto& [key, value] : in.pairs) {
      BERTH_TRY(auto name, word(key));
      BERTH_TRY(auto v, word(value.value_or("")));
      if (name.empty()) return at(in, Error::make(ErrorKind::invalid_argument, "{} names can not be blank", k));
      values.emplace_back(name, v);
    }
    std::vector<std::string> shown;
    for (const auto& [name, v] : values) {
      if (k == "ENV") set_env(config.env, name, v);
      else config.labels[name] = v;
      shown.push_back(name + "=" + v);
    }
    chain(k + " " + join(shown, " "));
    return {};
  }
  if (k == "ARG") {
    std::vector<std::string> shown;
    for (const auto& [name, def] : in.pairs) {
      std::string value;
      bool has = false;
      if (auto it = options_.build_args.find(name); it != options_.build_args.end()) {
        value = it->second;
        has = true;
        std::lock_guard l(state_mutex_);
        used_build_args_.insert(name);
      } else if (def) {
        BERTH_TRY(value, word(*def));
        has = true;
      } else if (auto g = global_args_.find(name); g != global_args_.end()) {
        value = g->second;
        has = true;
      }
      if (has) s.args[name] = value;
      else s.args.erase(name);
      shown.push_back(has ? name + "=" + value : name);
    }
    // An ARG's value is part of what the steps after it see.
    s.result.key = CacheKey(s.result.key).add("ARG " + join(shown, " ")).finish();
    history(s, "ARG " + join(shown, " "), true);
    return {};
  }
  if (k == "EXPOSE") {
    std::vector<std::string> ports;
    for (const auto& a : in.args) {
      auto words = expand_words(a, lookup, expand);
      if (!words) return at(in, words.error());
      for (auto& p : *words) {
        std::string proto = "tcp";
        std::string number = p;
        if (auto slash = p.find('/'); slash != std::string::npos) {
          proto = p.substr(slash + 1);
          number = p.substr(0, slash);
        }
        std::transform(proto.begin(), proto.end(), proto.begin(), ::tolower);
        int lo = 0, hi = 0;
        auto dash = number.find('-');
        try {
          size_t used = 0;
          lo = std::stoi(number.substr(0, dash), &used);
          if (used != number.substr(0, dash).size()) throw std::invalid_argument("x");
          hi = dash == std::string::npos ? lo : std::stoi(number.substr(dash + 1));
        } catch (...) {
          return at(in, Error::make(ErrorKind::invalid_argument, "invalid containerPort: {}", p));
        }
        if (lo < 1 || hi > 65535 || hi < lo || (proto != "tcp" && proto != "udp" && proto != "sctp"))
          return at(in, Error::make(ErrorKind::invalid_argument, "invalid port '{}': want PORT[/tcp|udp|sctp]", p));
        for (int port = lo; port <= hi; ++port) {
          config.exposed_ports.insert(fmt::format("{}/{}", port, proto));
          ports.push_back(fmt::format("{}/{}:{{}}", port, proto));
        }
      }
    }
    chain("EXPOSE map[" + join(ports, " ") + "]");
    return {};
  }
  if (k == "VOLUME") {
    std::vector<std::string> volumes;
    for (const auto& a : in.args) {
      if (in.json) {
        BERTH_TRY(auto v, word(a));
        volumes.push_back(v);
      } else {
        // Each word expands to one volume (BuildKit's Expand, not ProcessWords as in EXPOSE).
        BERTH_TRY(auto v, word(a));
        volumes.push_back(v);
      }
    }
    for (const auto& v : volumes) {
      if (v.empty()) return at(in, Error(ErrorKind::invalid_argument, "VOLUME specified can not be an empty string"));
      config.volumes.insert(v);
    }
    chain("VOLUME [" + join(volumes, " ") + "]");
    return {};
  }
  if (k == "USER") {
    BERTH_TRY(config.user, word(in.args.at(0)));
    chain("USER " + config.user);
    return {};
  }
  if (k == "STOPSIGNAL") {
    BERTH_TRY(config.stop_signal, word(in.args.at(0)));
    chain("STOPSIGNAL " + config.stop_signal);
    return {};
  }
  if (k == "CMD" || k == "ENTRYPOINT") {
    std::vector<std::string> args = in.json ? in.args : s.shell;
    if (!in.json) args.push_back(in.args.empty() ? "" : in.args[0]);
    if (k == "CMD") {
      config.cmd = args;
      s.cmd_set = true;
    } else {
      config.entrypoint = args;
      // An ENTRYPOINT resets a CMD inherited from the base image.
      if (!s.cmd_set) config.cmd.reset();
    }
    chain(k + " " + go_quoted_list(args));
    return {};
  }
  if (k == "SHELL") {
    if (!in.json || in.args.empty())
      return at(in, Error(ErrorKind::invalid_argument, "SHELL requires the arguments to be in JSON form"));
    s.shell = in.args;
    config.shell = in.args;
    chain("SHELL " + go_quoted_list(in.args));
    return {};
  }
  if (k == "HEALTHCHECK") {
    oci::HealthConfig h;
    if (in.nested.empty()) {
      h.test = {"NONE"};
    } else {
      const Instruction& cmd = in.nested[0];
      if (cmd.json) {
        h.test = {"CMD"};
        h.test.insert(h.test.end(), cmd.args.begin(), cmd.args.end());
      } else {
        h.test = {"CMD-SHELL", cmd.args.empty() ? "" : cmd.args[0]};
      }
      for (const auto& f : in.flags) {
        if (f.name == "interval") {
          BERTH_TRY(h.interval, parse_health_duration(f.value, f.name));
        } else if (f.name == "timeout") {
          BERTH_TRY(h.timeout, parse_health_duration(f.value, f.name));
        } else if (f.name == "start-period") {
          BERTH_TRY(h.start_period, parse_health_duration(f.value, f.name));
        } else if (f.name == "retries") {
          try {
            h.retries = std::stoi(f.value);
          } catch (...) {
            return at(in, Error::make(ErrorKind::invalid_argument, "--retries '{}' is not a number", f.value));
          }
          if (h.retries < 0) return at(in, Error(ErrorKind::invalid_argument, "--retries cannot be negative"));
        }
      }
    }
    config.healthcheck = h;
    chain("HEALTHCHECK " + go_quoted_list(h.test));
    return {};
  }
  if (k == "ONBUILD") {
    std::string trigger = onbuild_expression(in);
    config.on_build.push_back(trigger);
    chain("ONBUILD " + trigger);
    return {};
  }
  if (k == "MAINTAINER") {
    s.result.image.author = in.args.empty() ? "" : in.args[0];
    chain("MAINTAINER " + s.result.image.author);
    return {};
  }
  return at(in, Error::make(ErrorKind::unsupported, "instruction {} is not supported", k));
}

Result<void> Builder::workdir_step(StageRun& s, const Instruction& in) {
  auto& config = s.result.image.config;
  auto dir = expand_word(in.args.at(0), s.lookup(), {df_.escape, nullptr});
  if (!dir) return at(in, dir.error());
  std::string path = *dir;
  if (path.empty()) return at(in, Error(ErrorKind::invalid_argument, "WORKDIR can not be empty"));
  if (path[0] != '/') path = (config.working_dir.empty() ? "/" : config.working_dir + "/") + path;
  // Clean: "/a/./b/../c/" → "/a/c".
  std::vector<std::string> parts;
  for (auto& c : sys::split(path, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
    } else {
      parts.push_back(c);
    }
  }
  path = "/" + join(parts, "/");
  config.working_dir = path;
  std::string created_by = "WORKDIR " + path;
  std::string key = CacheKey(s.result.key).add(created_by).finish();
  std::string name = fmt::format("[{} {}/{}] {}", s.label(), s.step, s.total, created_by);
  size_t before = s.result.layers.size();
  BERTH_TRY_VOID(filesystem_step(s, in, key, name, [&](Snapshot& snap) -> Result<void> {
    BERTH_TRY_VOID(detail::make_directories(snap.merged(), path, {}));
    return {};
  }));
  history(s, created_by, s.result.layers.size() == before);
  return {};
}


// One --mount of RUN, as BuildKit reads it.
Result<StageResult> Builder::flatten(const StageResult& r) {
  StageResult flat = r;
  std::string dir = fmt::format("{}/s{}", work_, ++snapshot_seq_);
  BERTH_TRY(auto snap, Snapshot::mount(dir, lower_dirs(r), true));
  // A flat image is made to be shipped: its one layer is compressed, as a registry stores it.
  image::PackOptions pack;
  pack.compression = image::LayerCompression::gzip;
  BERTH_TRY(auto packed, image::pack_layer(engine_.store, snap.merged(), pack));
  flat.layers = {packed.layer};
  flat.image.diff_ids = {packed.diff_id.str()};
  flat.chain_ids = {std::string(packed.diff_id.encoded())};
  size_t steps = 0;
  for (auto& h : flat.image.history) {
    if (!h.empty_layer) ++steps;
    h.empty_layer = true;
  }
  oci::History h;
  h.created = r.created_ns ? clock::rfc3339(r.created_ns) : clock::rfc3339_now();
  h.created_by = fmt::format("berth build --flat: the {} layers above in one", steps);
  h.comment = "berth.flat";
  flat.image.history.push_back(h);
  return flat;
}

Result<std::string> Builder::write_image(const StageResult& r, std::string& manifest_digest) {
  oci::ImageConfig config = r.image;
  config.created = r.created_ns ? clock::rfc3339(r.created_ns) : clock::rfc3339_now();
  if (config.architecture.empty()) config.architecture = host_arch();
  if (config.os.empty()) config.os = "linux";
  for (const auto& [k, v] : options_.labels) config.config.labels[k] = v;
  BERTH_TRY(auto written, engine::write_image_manifest(engine_, config, r.layers));
  std::lock_guard l(engine_mutex_);
  crash_point("build:before-register");
  BERTH_TRY_VOID(engine::register_image(engine_, written.manifest, options_.tags));
  manifest_digest = written.manifest.digest;
  return written.config.digest;
}

Result<BuildResult> Builder::run() {
  BERTH_TRY_VOID(sys::mkdir_all(work_, 0700));
  BERTH_TRY_VOID(sys::atomic_write(work_ + "/owner", std::to_string(::getpid()), 0644, sys::Durability::process_crash));
  context_root_ = options_.context_dir;
  if (context_root_.empty()) {
    context_root_ = work_ + "/empty-context";
    BERTH_TRY_VOID(sys::mkdir_all(context_root_, 0755));
  }
  std::string hashes_file = engine_.layout.root + "/build/context-hashes";
  hashes_.load(hashes_file);
  BERTH_TRY_VOID(prepare_global_args());
  BERTH_TRY(int target, target_stage());
  // The stages the target needs, depth first; a stage met again while its own dependencies are
  // being walked closes a cycle.
  std::set<int> needed, walking;
  std::function<Result<void>(int)> walk = [&](int i) -> Result<void> {
    if (needed.count(i)) return {};
    if (!walking.insert(i).second) {
      const Stage& st = df_.stages[static_cast<size_t>(i)];
      return Error::make(ErrorKind::invalid_argument, "circular dependency detected on stage: {}",
                         st.name.empty() ? std::to_string(i) : st.name);
    }
    BERTH_TRY(auto deps, dependencies(i));
    for (int d : deps) BERTH_TRY_VOID(walk(d));
    walking.erase(i);
    needed.insert(i);
    return {};
  };
  BERTH_TRY_VOID(walk(target));
  auto built = build_stages(needed);
  (void)hashes_.save(hashes_file);
  BERTH_TRY_VOID(std::move(built));
  StageResult final_stage = results_.at(target);
  if (options_.flat) {
    BERTH_TRY(final_stage, flatten(final_stage));
  }
  BuildResult out;
  BERTH_TRY(out.image_id, write_image(final_stage, out.manifest_digest));
  out.steps = steps_;
  out.cached = cached_;
  std::vector<std::string> unused;
  for (const auto& [name, value] : options_.build_args)
    if (!used_build_args_.count(name) && !global_args_.count(name)) unused.push_back(name);
  if (!unused.empty())
    out.warnings.push_back(fmt::format("one or more build args were not consumed: [{}]", join(unused, " ")));
  return out;
}

// Unmounts every mount under `dir`, deepest first.
void unmount_below(const std::string& dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::vector<std::string> points;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    fields >> id >> parent >> dev >> root >> point;
    if (point == dir || point.starts_with(dir + "/")) points.push_back(point);
  }
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& p : points)
    if (::umount2(p.c_str(), 0) < 0) ::umount2(p.c_str(), MNT_DETACH);
}

}  // namespace berth::build::detail

namespace berth::build {
namespace {

std::string builds_dir(const engine::Engine& e) { return e.layout.root + "/build"; }
bool pid_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

using detail::Builder;
using detail::unmount_below;
using detail::runtime_root;

void cancel_builds() { detail::cancel_runs(); }

Result<std::vector<std::string>> clean_stale_builds(engine::Engine& engine, bool repair) {
  std::vector<std::string> found;
  for (const auto& id : sys::list_dir(builds_dir(engine))) {
    std::string dir = builds_dir(engine) + "/" + id;
    // A context the CLI unpacked from stdin: context-PID-HEX (not context-hashes, the cache of
    // context file digests, which must outlive every build).
    if (id.starts_with("context-") && id.size() > 8 && std::isdigit(static_cast<unsigned char>(id[8]))) {
      if (pid_alive(static_cast<pid_t>(std::atoi(id.c_str() + 8)))) continue;
      found.push_back(dir);
      if (repair) BERTH_TRY_VOID(sys::remove_all(dir));
      continue;
    }
    // Builds' work directories are 12 hex digits; anything else (the hash cache) is not one.
    if (id.size() != 12 || id.find_first_not_of("0123456789abcdef") != std::string::npos) continue;
    auto owner = sys::read_file(dir + "/owner");
    if (owner && pid_alive(static_cast<pid_t>(std::atoi(owner->c_str())))) continue;
    found.push_back(dir);
    if (!repair) continue;
    detail::remove_runtime_containers(engine.programs.runtime, runtime_root(engine), "build-" + id + "-");
    unmount_below(dir);
    BERTH_TRY_VOID(sys::remove_all(dir));
  }
  return found;
}

Result<BuildResult> build_image(engine::Engine& engine, const BuildOptions& options) {
  BERTH_TRY(auto dockerfile, parse_dockerfile(options.dockerfile_text, options.dockerfile_name));
  IgnoreRules ignore;
  if (!options.context_dir.empty()) {
    std::string path = options.context_dir + "/.dockerignore";
    if (sys::exists(path)) {
      BERTH_TRY(auto text, sys::read_file(path));
      BERTH_TRY(ignore, IgnoreRules::parse(text, ".dockerignore"));
    }
    struct stat st;
    if (::stat(options.context_dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
      return Error::make(ErrorKind::invalid_argument, "build context '{}' is not a readable directory", options.context_dir);
    if (::access(options.context_dir.c_str(), R_OK | X_OK) < 0)
      return Error::from_errno("read the build context '{}'", options.context_dir);
  }
  BERTH_TRY(auto stale, clean_stale_builds(engine));
  // Blobs and layer directories this build uses must not be collected under it.
  BERTH_TRY(auto gc, state::ObjectLock::acquire(engine.layout.locks(), "gc", "images", state::ObjectLock::Mode::shared));
  std::string build_id = sys::random_hex(6);
  std::string work = builds_dir(engine) + "/" + build_id;
  Builder builder(engine, options, std::move(dockerfile), work, build_id, std::move(ignore));
  auto result = builder.run();
  detail::remove_runtime_containers(engine.programs.runtime, runtime_root(engine), "build-" + build_id + "-");
  unmount_below(work);
  (void)sys::remove_all(work);
  return result;
}

}  // namespace berth::build