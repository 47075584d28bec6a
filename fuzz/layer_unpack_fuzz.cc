// layer_unpack: a layer tar (plain, gzip or zstd) unpacked into a directory (image/layers.h),
// inside a Jail. Whatever the entries say, nothing may appear or change outside the layer
// directory, a failed unpack leaves nothing behind, and diff_id_of agrees with unpack_layer.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "base/sys.h"
#include "fuzz_util.h"
#include "image/layers.h"

namespace {

std::unique_ptr<berth::fuzz::Jail> jail;
const std::string kVictim = "precious\n";

std::vector<std::string> sorted_names(const std::string& dir) {
  std::vector<std::string> names = berth::sys::list_dir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += n + " ";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  jail = std::make_unique<berth::fuzz::Jail>("layer_unpack");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  int raw = ::memfd_create("layer", MFD_CLOEXEC);
  if (raw < 0) fuzz::violated("memfd_create");
  UniqueFd fd(raw);
  if (!sys::write_all(fd.get(), fuzz::as_text(data, size))) fuzz::violated("write memfd");

  jail->enter();
  const std::string& scratch = jail->dir();
  const std::string outside = scratch + "/outside";
  if (!sys::exists(outside)) {
    if (!sys::mkdir_all(outside)) fuzz::violated("create the victim's directory");
    fuzz::put_file(outside + "/victim", kVictim);
  }
  const std::vector<std::string> root_before = sorted_names("/");
  const std::string dir = scratch + "/layer";

  ::lseek(fd.get(), 0, SEEK_SET);
  auto unpacked = image::unpack_layer(fd.get(), dir);

  std::vector<std::string> expected = {"outside"};
  if (unpacked) expected.insert(expected.begin(), "layer");
  auto found = sorted_names(scratch);
  if (found != expected) fuzz::violated("unexpected files beside the layer", joined(found));
  if (sorted_names(outside) != std::vector<std::string>{"victim"})
    fuzz::violated("files appeared in a sibling directory", joined(sorted_names(outside)));
  auto victim = sys::read_file(outside + "/victim");
  if (!victim || *victim != kVictim) fuzz::violated("a file outside the layer changed");
  if (sorted_names("/") != root_before) fuzz::violated("files appeared at the jail's root");
  if (!sys::remove_all(dir)) fuzz::violated("cannot remove the layer directory", dir);

  ::lseek(fd.get(), 0, SEEK_SET);
  auto read = image::diff_id_of(fd.get());
  if (unpacked) {
    if (!read) fuzz::violated("diff_id_of fails on a layer that unpacked", read.error().message());
    if (read->diff_id.str() != unpacked->diff_id.str() || read->tar_size != unpacked->tar_size)
      fuzz::violated("diff_id_of and unpack_layer disagree");
  }
  jail->leave();
  return 0;
}
