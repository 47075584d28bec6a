// mount_options: OCI mount options (runtime/mounts.h parse_mount_options), comma-separated; and
// secure_join, whose promise is checked: whatever the container path and the symlinks in the
// rootfs (fixed ones, pointing out by "..", absolute paths and loops), the result stays under
// the root.
#include <unistd.h>

#include <string>

#include "base/sys.h"
#include "fuzz_util.h"
#include "runtime/mounts.h"

namespace {
std::string root;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string base = berth::fuzz::scratch_dir("mount_options");
  root = base + "/rootfs";
  bool ok = static_cast<bool>(berth::sys::mkdir_all(root + "/etc/sub"));
  ok = ok && ::symlink("../../..", (root + "/up").c_str()) == 0;
  ok = ok && ::symlink("/etc", (root + "/abs").c_str()) == 0;
  ok = ok && ::symlink("loop", (root + "/loop").c_str()) == 0;
  ok = ok && ::symlink("sub/../../up", (root + "/etc/back").c_str()) == 0;
  ok = ok && ::symlink("/", (root + "/etc/sub/top").c_str()) == 0;
  if (!ok) berth::fuzz::violated("create the rootfs");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  std::string_view text = fuzz::as_text(data, size);
  std::vector<std::string> options;
  for (auto piece : fuzz::pieces(text, ',')) options.emplace_back(piece);
  (void)runtime::parse_mount_options(options);
  if (size < 512) {
    auto joined = runtime::secure_join(root, std::string(text));
    if (joined && *joined != root && joined->rfind(root + "/", 0) != 0)
      fuzz::violated("secure_join left the root", *joined);
  }
  return 0;
}
