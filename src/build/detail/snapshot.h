// build/detail/snapshot.h — an overlay snapshot of a stage's layers that one build step writes
// into, and what becomes of its upper directory afterwards (a layer blob and a layer directory).
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"
#include "oci/image_spec.h"

namespace berth::build::detail {

// `dir`/merged is an overlay of `lower` (layer directories, top first) with `dir`/upper on top.
// The destructor unmounts it and removes `dir` (unless the upper was taken by commit()).
class Snapshot {
 public:
  static Result<Snapshot> mount(const std::string& dir, const std::vector<std::string>& lower,
                                bool read_only = false);
  Snapshot(Snapshot&& other) noexcept;
  Snapshot& operator=(Snapshot&&) = delete;
  ~Snapshot();

  const std::string& merged() const { return merged_; }
  std::string upper() const { return dir_ + "/upper"; }
  Result<void> unmount();

 private:
  Snapshot() = default;
  std::string dir_, merged_;
  bool mounted_ = false;
};

struct CommittedLayer {
  bool empty = true;             // the step changed nothing: no layer
  oci::Descriptor descriptor;
  std::string diff_id;           // "sha256:…"
  std::string chain_id;          // hex, the layer directory's name
  int64_t size = 0;
  int64_t created_ns = 0;        // when the step first ran (kept by the cache)
};

// Unmounts the snapshot; an empty upper is no layer. Otherwise packs the upper into a blob and
// renames it to the layer directory of its chain id (parent_chain: "" at the bottom).
Result<CommittedLayer> commit(engine::Engine& engine, Snapshot& snapshot, const std::string& parent_chain);

// Mount-option strings are limited to a page: overlays of many layers name them relative to the
// layers directory, so mounts are made from there (one at a time: the working directory is
// process-wide).
Result<void> mount_overlay(const std::string& layers_dir, const std::vector<std::string>& lower,
                           const std::string& upper, const std::string& work, const std::string& target,
                           bool read_only);

}  // namespace berth::build::detail
