#include "build/detail/snapshot.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <mutex>

#include <fmt/format.h>

#include "base/sys.h"
#include "image/digest.h"
#include "image/import.h"
#include "image/layers.h"

namespace berth::build::detail {
namespace {

std::mutex cwd_mutex;

std::string relative_to(const std::string& base, const std::string& path) {
  if (path.size() > base.size() + 1 && path.compare(0, base.size(), base) == 0 && path[base.size()] == '/')
    return path.substr(base.size() + 1);
  return path;
}

}  // namespace

Result<void> mount_overlay(const std::string& layers_dir, const std::vector<std::string>& lower,
                           const std::string& upper, const std::string& work, const std::string& target,
                           bool read_only) {
  std::vector<std::string> names;
  for (const auto& l : lower) names.push_back(relative_to(layers_dir, l));
  std::string options = fmt::format("lowerdir={}", fmt::join(names, ":"));
  if (!read_only) options += fmt::format(",upperdir={},workdir={}", upper, work);
  // Renaming a lower directory must not leave a redirect that a layer tar cannot express.
  std::string safe = options + ",redirect_dir=off,index=off,metacopy=off";
  std::lock_guard lock(cwd_mutex);
  int cwd = ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (::chdir(layers_dir.c_str()) < 0) {
    int e = errno;
    if (cwd >= 0) ::close(cwd);
    return Error::with_errno(e, fmt::format("enter '{}'", layers_dir));
  }
  unsigned long flags = read_only ? MS_RDONLY : 0;
  int rc = ::mount("overlay", target.c_str(), "overlay", flags, safe.c_str());
  if (rc < 0 && errno == EINVAL) rc = ::mount("overlay", target.c_str(), "overlay", flags, options.c_str());
  int e = errno;
  if (cwd >= 0) {
    (void)::fchdir(cwd);
    ::close(cwd);
  }
  if (rc < 0) return Error::with_errno(e, fmt::format("mount overlay on '{}'", target));
  return {};
}

Result<Snapshot> Snapshot::mount(const std::string& dir, const std::vector<std::string>& lower, bool read_only) {
  Snapshot s;
  s.dir_ = dir;
  s.merged_ = dir + "/merged";
  for (const char* sub : {"upper", "work", "merged"}) BERTH_TRY_VOID(sys::mkdir_all(dir + "/" + sub, 0755));
  std::vector<std::string> lowers = lower;
  if (lowers.empty()) {
    BERTH_TRY_VOID(sys::mkdir_all(dir + "/empty", 0755));
    lowers.push_back(dir + "/empty");
  }
  if (read_only && lowers.size() == 1) {
    // overlayfs wants two lower directories when it has no upper one (EINVAL): a read-only
    // view of one layer (an image of one layer, scratch) is that layer, bound read-only.
    if (::mount(lowers.front().c_str(), s.merged_.c_str(), nullptr, MS_BIND, nullptr) < 0)
      return Error::from_errno("bind '{}' on '{}'", lowers.front(), s.merged_);
    s.mounted_ = true;
    if (::mount(nullptr, s.merged_.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) < 0)
      return Error::from_errno("make '{}' read-only", s.merged_);
    return s;
  }
  std::string layers_dir = lowers.front().substr(0, lowers.front().find_last_of('/'));
  BERTH_TRY_VOID(mount_overlay(layers_dir, lowers, s.upper(), dir + "/work", s.merged_, read_only));
  s.mounted_ = true;
  return s;
}

Snapshot::Snapshot(Snapshot&& o) noexcept : dir_(std::move(o.dir_)), merged_(std::move(o.merged_)), mounted_(o.mounted_) {
  o.mounted_ = false;
  o.dir_.clear();
}

Result<void> Snapshot::unmount() {
  if (!mounted_) return {};
  if (::umount2(merged_.c_str(), 0) < 0 && errno != EINVAL) {
    if (::umount2(merged_.c_str(), MNT_DETACH) < 0 && errno != EINVAL)
      return Error::from_errno("unmount '{}'", merged_);
  }
  mounted_ = false;
  return {};
}

Snapshot::~Snapshot() {
  if (dir_.empty()) return;
  (void)unmount();
  (void)sys::remove_all(dir_);
}

Result<CommittedLayer> commit(engine::Engine& engine, Snapshot& snapshot, const std::string& parent_chain) {
  BERTH_TRY_VOID(snapshot.unmount());
  CommittedLayer out;
  std::string upper = snapshot.upper();
  if (sys::list_dir(upper).empty()) return out;
  image::PackOptions pack;
  // Uncompressed, as buildah and BuildKit keep layers locally: a build is not slowed by gzip.
  pack.compression = image::LayerCompression::none;
  pack.overlay_upper = true;
  BERTH_TRY(auto packed, image::pack_layer(engine.store, upper, pack));
  out.empty = false;
  out.descriptor = packed.layer;
  out.diff_id = packed.diff_id.str();
  out.size = packed.layer.size;
  image::Digest chain = packed.diff_id;
  if (!parent_chain.empty()) {
    BERTH_TRY(auto parent, image::Digest::parse("sha256:" + parent_chain));
    chain = image::chain_id(parent, packed.diff_id);
  }
  out.chain_id = std::string(chain.encoded());
  std::string layer_dir = engine.layout.layer(out.chain_id);
  BERTH_TRY_VOID(sys::mkdir_all(engine.layout.layers(), 0700));
  if (::rename(upper.c_str(), layer_dir.c_str()) < 0) {
    // The same layer exists already (an earlier build, or the same content twice): keep it.
    if (errno != EEXIST && errno != ENOTEMPTY) return Error::from_errno("rename '{}' to '{}'", upper, layer_dir);
  } else {
    ::chmod(layer_dir.c_str(), 0755);
  }
  return out;
}

}  // namespace berth::build::detail
