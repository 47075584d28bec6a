// build/copy_instruction.cc — COPY and ADD, and where --from and RUN --mount from= read.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/sys.h"
#include "build/cache.h"
#include "build/detail/builder.h"
#include "build/detail/files.h"
#include "build/detail/run_step.h"
#include "engine/images.h"
#include "engine/spec.h"
#include "image/digest.h"

namespace berth::build::detail {

Result<Builder::StageRef> Builder::source_tree(StageRun& s, const std::string& from, const Instruction& in) {
  StageRef ref;
  if (from.empty()) {
    ref.tree = {context_root_, &ignore_, "build context", &hashes_};
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
      // Say what the name was looked for as, not only why the pull failed.
      if (!pulled)
        return at(in, Error::make(pulled.error().kind(), "--from={}: no stage of this Dockerfile and no image here has that name ({})",
                                  from, pulled.error().message()));
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
    auto marker = parse_heredoc_marker(w);
    for (const auto& h : in.heredocs) {
      if (marker && marker->name == h.name) {
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

}  // namespace berth::build::detail
