// fuzz/fuzz_util.h — small helpers shared by the libFuzzer targets (docs/fuzzing.md).
#pragma once

#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace berth::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The input cut at each `separator` byte: several arguments from one input.
inline std::vector<std::string_view> pieces(std::string_view text, char separator,
                                            size_t max_pieces = 64) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < max_pieces) {
    size_t at = text.find(separator);
    if (at == std::string_view::npos) break;
    out.push_back(text.substr(0, at));
    text.remove_prefix(at + 1);
  }
  out.push_back(text);
  return out;
}

// A property the parser promises was broken: abort, so libFuzzer keeps the input.
[[noreturn]] inline void violated(const char* what, std::string_view detail = {}) {
  // fwrite, not %.*s: the detail may hold NUL bytes (printf would stop at the first).
  std::fprintf(stderr, "fuzz invariant violated: %s: ", what);
  std::fwrite(detail.data(), 1, detail.size(), stderr);
  std::fputc('\n', stderr);
  std::abort();
}

// For a target's own server or peer thread: every signal goes to libFuzzer's thread instead.
// Its timer signal (SIGALRM) would end a recv here with EINTR when the socket has SO_RCVTIMEO,
// and cut a request short at random.
inline void block_signals_in_this_thread() {
  sigset_t all;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

// A fresh directory for this process's scratch files: $BERTH_FUZZ_TMP or $TMPDIR or /tmp.
std::string scratch_dir(std::string_view name);

}  // namespace berth::fuzz

namespace berth::fuzz {

// A jail for targets that write files from hostile input (layers, archives): when run as root,
// a private mount namespace with a tmpfs as the jail's root, /usr and /proc bound read-only (for
// the symbolizer), so that an escape bug can touch nothing on the host. enter() chroots into it
// for one input and leave() comes back, so libFuzzer's own corpus and artifact files are written
// outside (relative artifact paths work inside too: the working directory is kept). As non-root
// the jail is a plain scratch directory and enter/leave do nothing.
class Jail {
 public:
  explicit Jail(std::string_view name);
  // The jail's scratch directory as seen between enter() and leave().
  const std::string& dir() const { return inner_; }
  void enter();
  void leave();

 private:
  bool chrooted_ = false;
  int real_root_ = -1;
  int cwd_ = -1;
  std::string outer_;  // the jail's root on the host
  std::string inner_;
};

}  // namespace berth::fuzz

namespace berth::fuzz {
// Creates or truncates `path` and writes `data`; aborts on failure (the scratch space is ours).
void put_file(const std::string& path, std::string_view data);
}  // namespace berth::fuzz
