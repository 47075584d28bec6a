// build/detail/builder.h — the executor's private parts, shared by executor.cc (stages and
// metadata instructions), run_instruction.cc (RUN) and copy_instruction.cc (COPY, ADD).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "build/build.h"
#include "build/context_filter.h"
#include "build/detail/files.h"
#include "build/detail/snapshot.h"
#include "build/dockerfile.h"
#include "build/shell_words.h"
#include "oci/image_spec.h"

namespace berth::build::detail {

constexpr std::string_view kDefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr std::string_view kHistoryComment = "buildkit.dockerfile.v0";

// The proxy build args docker passes to RUN without an ARG.
const std::set<std::string>& proxy_args();
std::string host_arch();
std::string runtime_root(const engine::Engine& e);
// The error, prefixed with the instruction's place and text.
Error at(const Instruction& in, Error e);
std::optional<std::string> env_value(const std::vector<std::string>& env, std::string_view name);
void set_env(std::vector<std::string>& env, const std::string& name, const std::string& value);
// Go's %q of a []string, as BuildKit's history writes CMD and ENTRYPOINT: ["a" "b"].
std::string go_quoted_list(const std::vector<std::string>& items);
std::string join(const std::vector<std::string>& items, std::string_view sep);
// A HEALTHCHECK flag's Go duration ("30s", "1m30s", "0"), the flag named in errors.
Result<int64_t> parse_health_duration(std::string_view text, std::string_view flag);

struct StageResult {
  oci::ImageConfig image;
  std::vector<oci::Descriptor> layers;
  std::vector<std::string> chain_ids;  // hex, bottom first, one per layer
  std::string key;                     // the cache key of the stage's state
  // The time of the last step that changed files (from the cache when it was cached), which every
  // later history entry and the image carry: a rebuild that changes nothing gives the same id.
  int64_t created_ns = 0;
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
  // Variables before the first FROM: the meta ARGs and the predefined platform args.
  VariableLookup global_lookup() const;
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
  FileHashes hashes_;
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


}  // namespace berth::build::detail
