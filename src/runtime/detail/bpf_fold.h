// runtime/detail/bpf_fold.h — makes a classic BPF program shorter without changing what it
// returns: libseccomp tests an allow-list one syscall number at a time, and the kernel's cost of
// installing a filter (checking, converting and JIT-compiling it) grows with its length.
#pragma once

#include <cstdint>
#include <vector>

namespace berth::runtime::detail {

// Each run of three or more `JEQ #k` over consecutive k (k, k+1, ...) that all jump to one
// instruction and otherwise fall through, with no jump into the run but to its first
// instruction, becomes two: `JGE #first` and `JGT #last`. Instructions are struct sock_filter,
// 8 bytes each. A program that could not be rewritten safely is returned unchanged.
std::vector<uint64_t> fold_equality_runs(const std::vector<uint64_t>& program);

}  // namespace berth::runtime::detail
