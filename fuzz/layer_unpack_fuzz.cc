// layer_unpack: a layer tar (plain, gzip or zstd) unpacked into a directory (image/layers.h),
// inside a Jail. Whatever the entries say, nothing may appear or change outside the layer
// directory, a failed unpack leaves nothing behind, and diff_id_of agrees with unpack_layer.
// Inputs whose tar stream is over kMaxTar once decompressed are skipped (below).
#include <archive.h>
#include <archive_entry.h>
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

// gzip and zstd expand an input up to a thousand times and more: a 10 KiB input made a 6 MB tar,
// hashed twice (unpack_layer, then the diff_id_of cross-check), and such inputs took 80% of
// the target's time in SHA-256 and inflate, running the same entry loop as a small one. An
// entry's data still spans many of the copy loop's reads under this bound.
constexpr la_int64_t kMaxTar = 1 << 20;

// Whether the decompressed stream (libarchive's raw format, behind the decoders berth enables)
// is longer than kMaxTar; false when it cannot be read, which the unpack itself must handle.
bool expands_past_bound(const uint8_t* data, size_t size) {
  archive* a = archive_read_new();
  berth::image::support_compressions(a);
  archive_read_support_format_raw(a);
  la_int64_t total = 0;
  archive_entry* entry = nullptr;
  if (archive_read_open_memory(a, data, size) == ARCHIVE_OK &&
      archive_read_next_header(a, &entry) == ARCHIVE_OK) {
    static char buffer[64 * 1024];
    la_ssize_t n = 0;
    while (total <= kMaxTar && (n = archive_read_data(a, buffer, sizeof buffer)) > 0) total += n;
  }
  archive_read_free(a);
  return total > kMaxTar;
}

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
  if (expands_past_bound(data, size)) return 0;
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
