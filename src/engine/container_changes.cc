// engine/container_changes.cc — `docker diff`: a container's writable layer against its image's.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "base/sys.h"
#include "engine/containers.h"
#include "engine/detail/container_records.h"
#include "engine/images.h"

namespace berth::engine {

std::vector<Change> layer_changes(const std::string& upper,
                                  const std::vector<std::string>& lowers) {
  std::vector<Change> out;
  auto in_lower = [&](const std::string& rel) {
    struct ::stat st;
    for (const auto& l : lowers)
      if (::lstat((l + rel).c_str(), &st) == 0) return true;
    return false;
  };
  std::function<void(const std::string&)> walk = [&](const std::string& rel) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(upper + rel, ec)) {
      std::string child = rel + "/" + entry.path().filename().string();
      struct ::stat st;
      if (::lstat(entry.path().c_str(), &st) < 0) continue;
      if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0) {
        out.push_back({child, 2});  // an overlayfs whiteout
        continue;
      }
      out.push_back({child, in_lower(child) ? 0 : 1});
      if (S_ISDIR(st.st_mode)) walk(child);
    }
  };
  walk("");
  std::sort(out.begin(), out.end(),
            [](const Change& a, const Change& b) { return a.path < b.path; });
  return out;
}

Result<std::vector<Change>> container_changes(Engine& engine, const std::string& name_or_id) {
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  BERTH_TRY(auto image, get_image(engine, r.image_id));
  BERTH_TRY(auto content, read_image(engine, image));
  BERTH_TRY(auto lowers, ensure_layers(engine, content));
  return layer_changes(r.layer_dir + "/upper", lowers);
}

}  // namespace berth::engine
