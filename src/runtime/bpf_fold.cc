// runtime/bpf_fold.cc — range folding of classic BPF programs (detail/bpf_fold.h).
#include "runtime/detail/bpf_fold.h"

#include <linux/filter.h>

#include <cstring>
#include <optional>

namespace berth::runtime::detail {
namespace {

constexpr uint16_t kJeqK = BPF_JMP | BPF_JEQ | BPF_K;
constexpr uint16_t kJgeK = BPF_JMP | BPF_JGE | BPF_K;
constexpr uint16_t kJgtK = BPF_JMP | BPF_JGT | BPF_K;
constexpr size_t kMinRun = 3;  // two instructions replace a run: shorter from three on

bool is_conditional_jump(const sock_filter& f) {
  return BPF_CLASS(f.code) == BPF_JMP && BPF_OP(f.code) != BPF_JA;
}

// One instruction of the new program, its jumps still as old absolute indices.
struct Pending {
  sock_filter f;
  size_t jt = 0, jf = 0, ja = 0;  // old targets (conditional jt/jf; ja for BPF_JA)
};

}  // namespace

std::vector<uint64_t> fold_equality_runs(const std::vector<uint64_t>& program) {
  const size_t n = program.size();
  std::vector<sock_filter> in(n);
  if (n) std::memcpy(in.data(), program.data(), n * sizeof(sock_filter));

  // Where every jump lands, but for falling through to the next instruction (which is how a
  // run's own tests follow each other). A jump past the end means a malformed program: leave it.
  std::vector<char> targeted(n + 1, 0);
  auto mark = [&](size_t from, uint32_t offset) {
    if (from + 1 + offset > n) return false;
    if (offset > 0) targeted[from + 1 + offset] = 1;
    return true;
  };
  for (size_t i = 0; i < n; ++i) {
    const sock_filter& f = in[i];
    if (BPF_CLASS(f.code) != BPF_JMP) continue;
    const bool ok = BPF_OP(f.code) == BPF_JA ? mark(i, f.k) : mark(i, f.jt) && mark(i, f.jf);
    if (!ok) return program;
  }

  std::vector<Pending> out;
  std::vector<size_t> new_index(n + 1, 0);
  for (size_t i = 0; i < n;) {
    const sock_filter& f = in[i];
    size_t end = i + 1;  // one past the run
    if (f.code == kJeqK && f.jf == 0) {
      const size_t target = i + 1 + f.jt;
      while (end < n && in[end].code == kJeqK && in[end].jf == 0 && !targeted[end] &&
             in[end - 1].k != UINT32_MAX && in[end].k == in[end - 1].k + 1 &&
             end + 1 + in[end].jt == target)
        ++end;
      if (end - i >= kMinRun) {
        // A in [first, last] jumps to `target`; anything else goes on after the run.
        new_index[i] = out.size();
        out.push_back({{kJgeK, 0, 0, f.k}, 0, 0, 0});       // A >= first: test last; else after
        out.back().jt = SIZE_MAX;                             // the next new instruction
        out.back().jf = end;
        out.push_back({{kJgtK, 0, 0, in[end - 1].k}, end, target, 0});
        i = end;
        continue;
      }
      end = i + 1;
    }
    new_index[i] = out.size();
    Pending p{f};
    if (BPF_CLASS(f.code) == BPF_JMP) {
      if (BPF_OP(f.code) == BPF_JA) p.ja = i + 1 + f.k;
      else p.jt = i + 1 + f.jt, p.jf = i + 1 + f.jf;
    }
    out.push_back(p);
    i = end;
  }
  new_index[n] = out.size();
  if (out.size() == n) return program;

  std::vector<uint64_t> result(out.size());
  for (size_t j = 0; j < out.size(); ++j) {
    sock_filter f = out[j].f;
    if (BPF_CLASS(f.code) == BPF_JMP) {
      auto offset = [&](size_t old_target) -> std::optional<size_t> {
        size_t to = old_target == SIZE_MAX ? j + 1 : new_index[old_target];
        if (to < j + 1) return std::nullopt;  // folding never turns a jump backwards
        return to - (j + 1);
      };
      if (BPF_OP(f.code) == BPF_JA) {
        auto k = offset(out[j].ja);
        if (!k) return program;
        f.k = static_cast<uint32_t>(*k);
      } else if (is_conditional_jump(f)) {
        auto jt = offset(out[j].jt), jf = offset(out[j].jf);
        if (!jt || !jf || *jt > 255 || *jf > 255) return program;
        f.jt = static_cast<uint8_t>(*jt);
        f.jf = static_cast<uint8_t>(*jf);
      }
    }
    std::memcpy(&result[j], &f, sizeof f);
  }
  return result;
}

}  // namespace berth::runtime::detail
