// build/detail/files.h — COPY and ADD: finding sources in the context (globs, .dockerignore),
// hashing what they hold for the cache key, and copying them into a snapshot with docker's rules
// (a directory's contents, not the directory; a trailing slash makes a directory; owners 0:0
// from the context unless --chown; modes and times kept; symlinks copied as they are).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <string>
#include <vector>

#include "base/error.h"
#include "build/context_filter.h"

namespace berth::build::detail {

// `root`/`path`, with every symlink on the way resolved inside `root` (as the container would
// see it): never a path outside root. The last component need not exist.
Result<std::string> resolve_in_root(const std::string& root, const std::string& path);

// Content hashes of context files from earlier builds, keyed by what changes whenever a file
// does (device, inode, size, mtime and ctime to the nanosecond): a rebuild re-reads only the
// files that changed. Kept in one file under the build directory; thread-safe.
class FileHashes {
 public:
  void load(const std::string& path);
  Result<void> save(const std::string& path) const;  // the entries of this build, then older ones
  std::optional<std::string> get(const struct stat& st);
  void put(const struct stat& st, const std::string& hash);

 private:
  static std::string key(const struct stat& st);
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::pair<std::string, bool>> entries_;  // hash, used now
};

// A source tree: the build context (filtered by .dockerignore) or another stage's or image's
// root file system.
struct SourceTree {
  std::string root;
  const IgnoreRules* ignore = nullptr;  // the context's; nullptr for stages and images
  std::string label;                    // "context", "stage build", for messages
  FileHashes* hashes = nullptr;         // the context's
};

// A COPY source, as written (may hold globs), to the matching paths relative to the tree's root.
// A source that leaves the tree or matches nothing is an error naming it.
Result<std::vector<std::string>> resolve_sources(const SourceTree& tree, const std::string& source);

// sha256 over names, types, modes, sizes, link targets and contents of the sources (not times):
// what the cache key of a COPY from the context depends on.
Result<std::string> hash_sources(const SourceTree& tree, const std::vector<std::string>& sources);

struct CopyOptions {
  std::optional<uid_t> uid;  // --chown
  std::optional<gid_t> gid;
  std::optional<mode_t> mode;  // --chmod
  bool keep_owner = false;     // from a stage or image: owners as they are
};

// Copies each source to `dest` in the root file system `root`. `dest_is_dir` when the
// destination ended with '/' or several sources were given.
Result<void> copy_sources(const SourceTree& tree, const std::vector<std::string>& sources, const std::string& root,
                          const std::string& dest, bool dest_is_dir, const CopyOptions& options);

// Writes a file (COPY <<EOF) at dest in root.
Result<void> write_file_in_root(const std::string& root, const std::string& dest, std::string_view content,
                                const CopyOptions& options);

// `mkdir -p` in root; returns whether anything was created.
Result<bool> make_directories(const std::string& root, const std::string& path, const CopyOptions& options);

// ADD of a local archive: whether `path` is a tar (plain or compressed) it would extract.
bool is_archive(const std::string& path);
Result<void> extract_archive(const std::string& archive_path, const std::string& root, const std::string& dest,
                             const CopyOptions& options);

}  // namespace berth::build::detail
