// seccomp_profile: `--security-opt seccomp=FILE` (engine/security.h load_seccomp_profile), the
// Docker/podman profile reader, from a file as berth reads it, resolved for docker's default
// capabilities.
#include "base/sys.h"
#include "engine/security.h"
#include "fuzz_util.h"

namespace {
std::string path;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  path = berth::fuzz::scratch_dir("seccomp_profile") + "/profile.json";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  fuzz::put_file(path, fuzz::as_text(data, size));
  static const std::vector<std::string> capabilities = engine::default_capabilities();
  (void)engine::load_seccomp_profile(path, capabilities);
  return 0;
}
