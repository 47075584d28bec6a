// build/executor.cc — runs a parsed Dockerfile: stages as a graph, each instruction against the
// stage's image config and layers, filesystem steps through snapshots and the cache.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

#include "base/clock.h"
#include "base/sys.h"
#include "build/build.h"
#include "build/cache.h"
#include "build/context_filter.h"
#include "build/detail/files.h"
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

namespace berth::build {
namespace {

using detail::CommittedLayer;
using detail::Snapshot;

constexpr std::string_view kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr std::string_view kHistoryComment = "buildkit.dockerfile.v0";

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

std::string builds_dir(const engine::Engine& e) { return e.layout.root + "/build"; }
std::string runtime_root(const engine::Engine& e) { return e.layout.run_root + "/build-runtime"; }

bool pid_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

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
Result<int64_t> parse_go_duration(std::string_view text, std::string_view flag) {
  int64_t total = 0;
  size_t i = 0;
  if (text.empty()) return Error::make(ErrorKind::invalid_argument, "--{}: empty duration", flag);
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (start == i) return Error::make(ErrorKind::invalid_argument, "--{}: '{}' is not a duration (e.g. 30s, 1m30s)", flag, text);
    double number = std::stod(std::string(text.substr(start, i - start)));
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale = unit == "ns" ? 1 : unit == "us" || unit == "µs" ? 1e3 : unit == "ms" ? 1e6 : unit == "s" ? 1e9
                 : unit == "m" ? 60e9 : unit == "h" ? 3600e9 : -1;
    if (scale < 0) return Error::make(ErrorKind::invalid_argument, "--{}: '{}' is not a duration (e.g. 30s, 1m30s)", flag, text);
    total += static_cast<int64_t>(number * scale);
  }
  return total;
}

struct StageResult {
  oci::ImageConfig image;
  std::vector<oci::Descriptor> layers;
  std::vector<std::string> chain_ids;  // hex, bottom first, one per layer
  std::string key;                     // the cache key of the stage's state
};

class Builder {
 public:
  Builder(engine::Engine& engine, const BuildOptions& options, Dockerfile dockerfile, std::string work_dir,
          std::string build_id, IgnoreRules ignore)
      : engine_(engine), options_(options), df_(std::move(dockerfile)), work_(std::move(work_dir)),
        build_id_(std::move(build_id)), ignore_(std::move(ignore)) {}

  Result<BuildResult> run();

 private:
  struct StageRun;
  Result<void> prepare_global_args();
  Result<int> target_stage() const;
  Result<std::set<int>> dependencies(int index) const;
  Result<void> build_stages(const std::set<int>& needed);
  Result<void> build_stage(int index);
  Result<void> execute(StageRun& s, const Instruction& in);
  Result<void> from_base(StageRun& s);
  Result<void> run_step(StageRun& s, const Instruction& in);
  Result<void> copy_step(StageRun& s, const Instruction& in, bool add);
  Result<void> workdir_step(StageRun& s, const Instruction& in);
  Result<void> filesystem_step(StageRun& s, const Instruction& in, const std::string& key, const std::string& name,
                               const std::function<Result<void>(Snapshot&)>& work);
  Result<std::string> write_image(const StageResult& result, std::string& manifest_digest);
  Result<StageResult> flatten(const StageResult& result);
  std::vector<std::string> lower_dirs(const StageResult& r) const;
  int stage_index(std::string_view name) const;
  void emit(StepEvent event);
  void history(StageRun& s, const std::string& created_by, bool empty_layer);
  // Where COPY --from / RUN --mount from= read: the context, or a read-only snapshot of a stage
  // or an image, mounted while the step runs.
  struct StageRef {
    detail::SourceTree tree;
    std::string key;  // what the tree's content is determined by (a stage's key, an image id)
    std::unique_ptr<Snapshot> snapshot;
  };
  Result<StageRef> source_tree(StageRun& s, const std::string& from, const Instruction& in);

  engine::Engine& engine_;
  const BuildOptions& options_;
  Dockerfile df_;
  std::string work_, build_id_;
  std::map<std::string, std::string> global_args_;  // meta ARGs with their values
  std::set<std::string> used_build_args_;
  std::mutex engine_mutex_, progress_mutex_, state_mutex_;
  std::condition_variable stage_done_;
  std::map<int, StageResult> results_;
  std::map<int, std::string> failures_;
  std::atomic<int> vertex_{0}, steps_{0}, cached_{0}, snapshot_seq_{0};
  std::vector<std::string> warnings_;
  std::string context_root_;
  IgnoreRules ignore_;
};

struct Builder::StageRun {
  const Stage& stage;
  StageResult result;
  std::map<std::string, std::string> args;  // ARGs declared in this stage, with values
  std::vector<std::string> shell = {"/bin/sh", "-c"};
  bool cmd_set = false;
  int step = 0, total = 0;
  VariableLookup lookup() const {
    return [this](std::string_view name) -> std::optional<std::string> {
      if (auto v = env_value(result.image.config.env, name)) return v;
      if (auto it = args.find(std::string(name)); it != args.end()) return it->second;
      return std::nullopt;
    };
  }
  std::string label() const { return stage.name.empty() ? fmt::format("stage-{}", stage.index) : stage.name; }
};

void Builder::emit(StepEvent event) {
  if (!options_.progress) return;
  std::lock_guard lock(progress_mutex_);
  options_.progress(event);
}

void Builder::history(StageRun& s, const std::string& created_by, bool empty_layer) {
  oci::History h;
  h.created = clock::rfc3339_now();
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

Result<void> Builder::prepare_global_args() {
  std::string arch = host_arch();
  for (auto [k, v] : std::initializer_list<std::pair<std::string, std::string>>{
           {"TARGETPLATFORM", "linux/" + arch}, {"TARGETOS", "linux"}, {"TARGETARCH", arch}, {"TARGETVARIANT", ""},
           {"BUILDPLATFORM", "linux/" + arch}, {"BUILDOS", "linux"}, {"BUILDARCH", arch}, {"BUILDVARIANT", ""}})
    global_args_[k] = v;
  for (const auto& in : df_.meta_args) {
    for (const auto& [name, def] : in.pairs) {
      auto lookup = [this](std::string_view n) -> std::optional<std::string> {
        if (auto it = global_args_.find(std::string(n)); it != global_args_.end()) return it->second;
        return std::nullopt;
      };
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
  auto lookup = [this](std::string_view n) -> std::optional<std::string> {
    if (auto it = global_args_.find(std::string(n)); it != global_args_.end()) return it->second;
    return std::nullopt;
  };
  auto reference = [&](const std::string& text, const Instruction& in) -> Result<void> {
    auto name = expand_word(text, lookup, {df_.escape, nullptr});
    std::string n = name ? *name : text;
    int i = stage_index(n);
    if (i < 0 && !n.empty() && std::all_of(n.begin(), n.end(), ::isdigit)) {
      i = std::stoi(n);
      if (i >= static_cast<int>(df_.stages.size()))
        return at(in, Error::make(ErrorKind::invalid_argument, "stage {} does not exist", n));
    }
    if (i == index) return at(in, Error::make(ErrorKind::invalid_argument, "stage '{}' refers to itself", n));
    if (i > index)
      return at(in, Error::make(ErrorKind::invalid_argument,
                                "stage '{}' is defined after this one: a stage can only use earlier stages", n));
    if (i >= 0) deps.insert(i);
    return {};
  };
  BERTH_TRY_VOID(reference(st.base, st.from));
  for (const auto& in : st.instructions) {
    for (const auto& f : in.flags) {
      if (f.name == "from" && (in.keyword == "COPY" || in.keyword == "ADD")) BERTH_TRY_VOID(reference(f.value, in));
      if (f.name == "mount" && in.keyword == "RUN")
        for (const auto& part : sys::split(f.value, ','))
          if (part.starts_with("from=")) BERTH_TRY_VOID(reference(part.substr(5), in));
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
  auto lookup = [this](std::string_view n) -> std::optional<std::string> {
    if (auto it = global_args_.find(std::string(n)); it != global_args_.end()) return it->second;
    return std::nullopt;
  };
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
  std::vector<Dockerfile> trigger_files;
  for (const auto& t : triggers) {
    auto parsed = parse_dockerfile("FROM scratch\n" + t + "\n", "ONBUILD trigger");
    if (!parsed) return at(st.from, parsed.error());
    trigger_files.push_back(std::move(*parsed));
  }
  for (auto& tf : trigger_files)
    for (const auto& in : tf.stages.at(0).instructions) BERTH_TRY_VOID(execute(s, in));
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
        auto words = expand_words(a, lookup, expand);
        if (!words) return at(in, words.error());
        volumes.insert(volumes.end(), words->begin(), words->end());
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
          BERTH_TRY(h.interval, parse_go_duration(f.value, f.name));
        } else if (f.name == "timeout") {
          BERTH_TRY(h.timeout, parse_go_duration(f.value, f.name));
        } else if (f.name == "start-period") {
          BERTH_TRY(h.start_period, parse_go_duration(f.value, f.name));
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
    std::string trigger = in.args.empty() ? "" : in.args[0];
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

Result<Builder::StageRef> Builder::source_tree(StageRun& s, const std::string& from, const Instruction& in) {
  StageRef ref;
  if (from.empty()) {
    ref.tree = {context_root_, &ignore_, "build context"};
    return ref;
  }
  int i = stage_index(from);
  if (i < 0 && !from.empty() && std::all_of(from.begin(), from.end(), ::isdigit)) i = std::stoi(from);
  std::vector<std::string> lower;
  if (i >= 0) {
    std::lock_guard l(state_mutex_);
    auto it = results_.find(i);
    if (it == results_.end())
      return at(in, Error::make(ErrorKind::invalid_argument, "stage '{}' is not built before this one", from));
    lower = lower_dirs(it->second);
    ref.key = it->second.key;
  } else {
    std::lock_guard l(engine_mutex_);
    auto record = engine::find_image(engine_, from);
    if (!record && record.error().kind() == ErrorKind::not_found && options_.pull) {
      auto pulled = options_.pull(from);
      if (!pulled) return at(in, pulled.error());
      record = engine::find_image(engine_, *pulled);
    }
    if (!record) return at(in, record.error());
    BERTH_TRY(auto content, engine::read_image(engine_, *record));
    BERTH_TRY(lower, engine::ensure_layers(engine_, content));
    ref.key = record->id;
  }
  (void)s;
  std::string dir = fmt::format("{}/s{}", work_, ++snapshot_seq_);
  BERTH_TRY(auto snap, Snapshot::mount(dir, lower, true));
  ref.snapshot = std::make_unique<Snapshot>(std::move(snap));
  ref.tree = {ref.snapshot->merged(), nullptr, fmt::format("stage or image '{}'", from)};
  return ref;
}

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
    std::string step_dir = fmt::format("{}/r{}", work_, ++snapshot_seq_);
    std::string etc = step_dir + "/etc";
    BERTH_TRY_VOID(sys::mkdir_all(etc, 0755));
    BERTH_TRY_VOID(sys::write_file(etc + "/hostname", "buildkitsandbox\n"));
    BERTH_TRY_VOID(sys::write_file(etc + "/hosts", "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
    std::string resolv;
    if (network != "none")
      if (auto host = sys::read_file("/etc/resolv.conf")) resolv = *host;
    BERTH_TRY_VOID(sys::write_file(etc + "/resolv.conf", resolv));

    engine::SpecInputs inputs;
    inputs.id = fmt::format("build-{}-{}", build_id_, snapshot_seq_.load());
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
      BERTH_TRY_VOID(sys::write_file(file, content));
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

Result<void> Builder::copy_step(StageRun& s, const Instruction& in, bool add) {
  auto& config = s.result.image.config;
  auto lookup = s.lookup();
  ExpandOptions expand{df_.escape, nullptr};
  std::string from, chown, chmod, checksum;
  for (const auto& f : in.flags) {
    auto v = expand_word(f.value, lookup, expand);
    if (!v) return at(in, v.error());
    if (f.name == "from") from = *v;
    else if (f.name == "chown") chown = *v;
    else if (f.name == "chmod") chmod = *v;
    else if (f.name == "checksum") checksum = *v;
    else if (f.name == "link") {
    } else {
      return at(in, Error::make(ErrorKind::unsupported, "{} --{} is not supported by berth yet", in.keyword, f.name));
    }
  }
  std::vector<std::string> words;
  for (const auto& a : in.args) {
    auto w = expand_word(a, lookup, expand);
    if (!w) return at(in, w.error());
    words.push_back(*w);
  }
  if (words.size() < 2)
    return at(in, Error::make(ErrorKind::invalid_argument, "{} requires at least two arguments", in.keyword));
  std::string dest = words.back();
  words.pop_back();
  std::string workdir = config.working_dir.empty() ? "/" : config.working_dir;
  if (dest.empty() || dest[0] != '/') dest = (workdir.ends_with('/') ? workdir : workdir + "/") + (dest == "." ? "" : dest);
  if (dest.ends_with("/.")) dest.pop_back();
  bool dest_is_dir = dest.ends_with('/');
  std::optional<mode_t> mode;
  if (!chmod.empty()) {
    char* end = nullptr;
    long m = std::strtol(chmod.c_str(), &end, 8);
    if (*end || m < 0 || m > 07777)
      return at(in, Error::make(ErrorKind::invalid_argument, "invalid chmod parameter '{}': want octal digits such as 755", chmod));
    mode = static_cast<mode_t>(m);
  }

  // Sources: heredocs, URLs (ADD), or paths in the context / a stage / an image.
  std::vector<std::pair<std::string, std::string>> inline_files;  // name → content
  std::vector<std::string> urls, patterns;
  for (const auto& w : words) {
    bool heredoc = false;
    for (const auto& h : in.heredocs) {
      if (w == "<<" + h.name || w == "<<-" + h.name) {
        std::string content = h.content;
        if (h.expand) {
          auto e = expand_heredoc(content, lookup, expand);
          if (!e) return at(in, e.error());
          content = *e;
        }
        inline_files.emplace_back(h.name, content);
        heredoc = true;
      }
    }
    if (heredoc) continue;
    if (add && (w.starts_with("http://") || w.starts_with("https://"))) urls.push_back(w);
    else if (w.starts_with("git@") || w.ends_with(".git")) return at(in, Error::make(ErrorKind::unsupported, "ADD of a git repository ('{}') is not supported", w));
    else patterns.push_back(w);
  }
  if (!checksum.empty() && urls.empty())
    return at(in, Error(ErrorKind::invalid_argument, "ADD --checksum only works with an HTTP(S) URL source"));
  BERTH_TRY(auto ref, source_tree(s, from, in));
  std::vector<std::string> sources;
  bool glob = false;
  for (const auto& p : patterns) {
    glob |= has_glob(p);
    auto matched = detail::resolve_sources(ref.tree, p);
    if (!matched) return at(in, matched.error());
    sources.insert(sources.end(), matched->begin(), matched->end());
  }
  size_t count = sources.size() + urls.size() + inline_files.size();
  if ((words.size() > 1 || (glob && count > 1)) && !dest_is_dir)
    return at(in, Error::make(ErrorKind::invalid_argument,
                              "when using {} with more than one source file, the destination must be a directory and end with a /",
                              in.keyword));

  CacheKey key(s.result.key);
  key.add(in.keyword).add(dest).add(chown).add(chmod).add(from);
  if (from.empty()) {
    auto hash = detail::hash_sources(ref.tree, sources);
    if (!hash) return at(in, hash.error());
    key.add(*hash);
  } else {
    key.add(ref.key).add(nlohmann::json(sources).dump());
  }
  for (const auto& [n, c] : inline_files) key.add(n).add(c);
  // A URL is downloaded each time and the step keyed by what arrived (as docker does).
  std::vector<std::pair<std::string, std::string>> downloads;  // file → name in dest
  for (const auto& url : urls) {
    if (!options_.fetch)
      return at(in, Error::make(ErrorKind::unsupported, "ADD '{}': downloading is not available here", url));
    std::string file = fmt::format("{}/download-{}", work_, ++snapshot_seq_);
    if (auto r = options_.fetch(url, file); !r) return at(in, std::move(r).error().context(fmt::format("download '{}'", url)));
    BERTH_TRY(auto content, sys::read_file(file));
    image::Sha256 h;
    h.update(content);
    std::string digest = h.finish().str();
    if (!checksum.empty() && checksum != digest)
      return at(in, Error::make(ErrorKind::corrupt, "ADD '{}': checksum mismatch: want {}, got {}", url, checksum, digest));
    key.add(url).add(digest);
    std::string base = url.substr(url.find("://") + 3);
    base = base.substr(0, base.find_first_of("?#"));
    base = base.find('/') == std::string::npos ? "index.html" : base.substr(base.find_last_of('/') + 1);
    downloads.emplace_back(file, base.empty() ? "index.html" : base);
  }
  std::string created_by = in.original + " # buildkit";
  std::string name = fmt::format("[{} {}/{}] {}", s.label(), s.step, s.total, in.original.substr(0, 120));
  size_t layers_before = s.result.layers.size();
  BERTH_TRY_VOID(filesystem_step(s, in, key.finish(), name, [&](Snapshot& snap) -> Result<void> {
    const std::string& root = snap.merged();
    detail::CopyOptions copy;
    copy.mode = mode;
    copy.keep_owner = !from.empty();
    if (!chown.empty()) {
      BERTH_TRY(auto ids, engine::resolve_user({root}, chown));
      copy.uid = ids.uid;
      copy.gid = ids.gid;
    }
    for (const auto& [n, content] : inline_files) {
      std::string target = dest_is_dir ? dest + n : dest;
      BERTH_TRY_VOID(detail::write_file_in_root(root, target, content, copy));
    }
    for (const auto& [file, base] : downloads) {
      detail::CopyOptions d = copy;
      if (!d.mode) d.mode = 0600;
      BERTH_TRY(auto content, sys::read_file(file));
      BERTH_TRY_VOID(detail::write_file_in_root(root, dest_is_dir ? dest + base : dest, content, d));
    }
    std::vector<std::string> plain;
    for (const auto& rel : sources) {
      std::string path = rel.empty() ? ref.tree.root : ref.tree.root + "/" + rel;
      struct stat st;
      if (add && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && detail::is_archive(path)) {
        BERTH_TRY_VOID(detail::extract_archive(path, root, dest, copy));
      } else {
        plain.push_back(rel);
      }
    }
    if (!plain.empty()) BERTH_TRY_VOID(detail::copy_sources(ref.tree, plain, root, dest, dest_is_dir, copy));
    return {};
  }));
  history(s, created_by, s.result.layers.size() == layers_before);
  return {};
}

Result<StageResult> Builder::flatten(const StageResult& r) {
  StageResult flat = r;
  std::string dir = fmt::format("{}/s{}", work_, ++snapshot_seq_);
  BERTH_TRY(auto snap, Snapshot::mount(dir, lower_dirs(r), true));
  image::PackOptions pack;
  pack.compression = image::LayerCompression::none;
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
  h.created = clock::rfc3339_now();
  h.created_by = fmt::format("berth build --flat: the {} layers above in one", steps);
  h.comment = "berth.flat";
  flat.image.history.push_back(h);
  return flat;
}

Result<std::string> Builder::write_image(const StageResult& r, std::string& manifest_digest) {
  oci::ImageConfig config = r.image;
  config.created = clock::rfc3339_now();
  if (config.architecture.empty()) config.architecture = host_arch();
  if (config.os.empty()) config.os = "linux";
  for (const auto& [k, v] : options_.labels) config.config.labels[k] = v;
  image::IngestOptions config_opts;
  config_opts.media_type = std::string(oci::media_type::kImageConfig);
  BERTH_TRY(auto config_desc, engine_.store.ingest(oci::to_json(config), config_opts));
  oci::Manifest manifest;
  manifest.media_type = std::string(oci::media_type::kImageManifest);
  manifest.config = config_desc;
  manifest.layers = r.layers;
  image::IngestOptions manifest_opts;
  manifest_opts.media_type = manifest.media_type;
  BERTH_TRY(auto manifest_desc, engine_.store.ingest(oci::to_json(manifest), manifest_opts));
  std::lock_guard l(engine_mutex_);
  BERTH_TRY_VOID(engine::register_image(engine_, manifest_desc, options_.tags));
  manifest_digest = manifest_desc.digest;
  return config_desc.digest;
}

Result<BuildResult> Builder::run() {
  BERTH_TRY_VOID(sys::mkdir_all(work_, 0700));
  BERTH_TRY_VOID(sys::write_file(work_ + "/owner", std::to_string(::getpid())));
  context_root_ = options_.context_dir;
  if (context_root_.empty()) {
    context_root_ = work_ + "/empty-context";
    BERTH_TRY_VOID(sys::mkdir_all(context_root_, 0755));
  }
  BERTH_TRY_VOID(prepare_global_args());
  BERTH_TRY(int target, target_stage());
  std::set<int> needed;
  std::vector<int> todo = {target};
  while (!todo.empty()) {
    int i = todo.back();
    todo.pop_back();
    if (!needed.insert(i).second) continue;
    BERTH_TRY(auto deps, dependencies(i));
    todo.insert(todo.end(), deps.begin(), deps.end());
  }
  BERTH_TRY_VOID(build_stages(needed));
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

}  // namespace

Result<void> clean_stale_builds(engine::Engine& engine) {
  for (const auto& id : sys::list_dir(builds_dir(engine))) {
    std::string dir = builds_dir(engine) + "/" + id;
    auto owner = sys::read_file(dir + "/owner");
    if (owner && pid_alive(static_cast<pid_t>(std::atoi(owner->c_str())))) continue;
    detail::remove_runtime_containers(engine.programs.runtime, runtime_root(engine), "build-" + id + "-");
    unmount_below(dir);
    BERTH_TRY_VOID(sys::remove_all(dir));
  }
  return {};
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
  BERTH_TRY_VOID(clean_stale_builds(engine));
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
