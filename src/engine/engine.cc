#include "engine/engine.h"

#include <limits.h>
#include <unistd.h>

#include "base/sys.h"

namespace berth::engine {

Result<Engine> Engine::open(Layout layout, Programs programs) {
  BERTH_TRY_VOID(sys::mkdir_all(layout.root, 0711).context("create berth's root"));
  BERTH_TRY_VOID(sys::mkdir_all(layout.run_root, 0700).context("create berth's run root"));
  BERTH_TRY(auto db, state::Database::open(layout.database()));
  BERTH_TRY(auto store, image::ContentStore::open(layout.content()));
  return Engine{std::move(layout), std::move(programs), std::move(db), std::move(store)};
}

Programs programs_beside_self() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string path = n > 0 ? std::string(self, static_cast<size_t>(n)) : "berth";
  std::string dir = path.substr(0, path.rfind('/') + 1);
  return {path, dir + "berth-runtime", dir + "berth-monitor", dir + "berth-dns"};
}

}  // namespace berth::engine
