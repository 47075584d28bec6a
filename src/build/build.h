// build/build.h — `berth build`: a Dockerfile and a context become an image in the local store.
//
// Stages form a graph: the ones the target needs are built, independent ones in parallel. Each
// RUN runs through berth-runtime on an overlay snapshot of its parent; COPY, ADD and WORKDIR
// write into such a snapshot too, and the snapshot's upper directory becomes the step's layer
// (a tar diff with OCI whiteouts) and, renamed, its unpacked layer directory. Every
// filesystem-changing step is cached by the hash of what its result depends on (build/cache.h).
//
// A build that fails or is killed leaves nothing behind: its work directory holds its owner's
// pid, and the next build (or `builder prune`) unmounts and removes what a dead build left.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"

namespace berth::build {

// What the user sees of a build: one call per event, from any thread (calls are serialised).
struct StepEvent {
  enum class Kind { started, output, cached, done, failed, note } kind = Kind::note;
  int vertex = 0;            // BuildKit's "#N": the step's number in this build
  std::string name;          // "[build 2/4] RUN make" (or a note's text)
  std::string text;          // output: one line; failed: the error
  int64_t elapsed_ns = 0;    // done/failed/output: since the step started
};
using ProgressFn = std::function<void(const StepEvent&)>;

struct BuildOptions {
  std::string context_dir;        // the context, a directory ("" = an empty context)
  std::string dockerfile_text;    // the Dockerfile's content
  std::string dockerfile_name = "Dockerfile";  // for error messages
  std::vector<std::string> tags;  // normalised references to name the image
  std::map<std::string, std::string> build_args;
  std::map<std::string, std::string> labels;  // --label, added to the final image
  std::string target;             // a stage name; "" = the last stage
  std::string network = "default";  // RUN's network: default (the host's), none, host
  std::map<std::string, std::string> secrets;  // --secret id=ID,src=PATH: id → host file
  bool no_cache = false;
  bool flat = false;              // one layer holding the final root filesystem
  int parallelism = 2;            // stages built at once
  // Resource limits for each RUN (0 = none).
  int64_t memory = 0;
  int64_t pids_limit = 0;
  // Makes a base image that is not in the local store available (a pull); returns its name as
  // find_image takes it. Empty: a missing base image is an error.
  std::function<Result<std::string>(const std::string& reference)> pull;
  // Downloads an ADD URL into a file; empty: ADD of a URL is unsupported.
  std::function<Result<void>(const std::string& url, const std::string& path)> fetch;
  ProgressFn progress;
};

struct BuildResult {
  std::string image_id;     // the config digest, as `images` prints IMAGE ID
  std::string manifest_digest;
  int steps = 0, cached = 0;
  std::vector<std::string> warnings;
};

Result<BuildResult> build_image(engine::Engine& engine, const BuildOptions& options);

// Interrupts the builds of this process (Ctrl-C): their RUN steps are killed, later ones refused,
// and each build_image returns an error after removing what it made. Call from a thread, not
// from a signal handler.
void cancel_builds();

// Removes what dead builds left behind (mounts, runtime containers, work directories) and
// returns the work directories it found; with `repair` false it only finds them (for
// `berth system check --dry-run`, which reports them).
Result<std::vector<std::string>> clean_stale_builds(engine::Engine& engine, bool repair = true);

struct CacheUsage {
  int64_t entries = 0, bytes = 0;
};
Result<CacheUsage> cache_usage(engine::Engine& engine);
// `builder prune`: drops every cache entry (or those unused for `older_than_ns`), then runs the
// image GC so their layers go. Returns what was freed.
Result<CacheUsage> prune_cache(engine::Engine& engine, int64_t older_than_ns = 0);

}  // namespace berth::build
