// runtime/seccomp.h — the spec's linux.seccomp compiled with libseccomp into a BPF program in the
// runtime (so errors surface before the container exists), and loaded in the container child
// with one seccomp(2) call right before exec.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "oci/runtime_spec.h"

namespace berth::runtime {

struct SeccompProgram {
  std::vector<uint64_t> instructions;  // struct sock_filter, 8 bytes each
  unsigned flags = 0;                  // SECCOMP_FILTER_FLAG_*
  bool empty() const { return instructions.empty(); }
};

// Errors name the field: "linux.seccomp.syscalls[2].action: unknown action 'SCMP_ACT_FOO'".
// Unknown syscall names are skipped (as runc does: profiles list syscalls of newer kernels).
// The program is folded (detail/bpf_fold.h); `fold` false keeps it as libseccomp exported it, for
// the tests that compare the two.
Result<SeccompProgram> compile_seccomp(const oci::Seccomp& seccomp, bool fold = true);

// compile_seccomp through a cache of compiled programs in `cache_dir` (one file per profile,
// keyed by a hash of the profile, libseccomp's version and the kernel release): compiling
// Docker's default profile costs milliseconds, which every container start would pay.
Result<SeccompProgram> compile_seccomp_cached(const oci::Seccomp& seccomp, const std::string& cache_dir);

// Installs the filter in the calling thread (needs no_new_privs or CAP_SYS_ADMIN).
Result<void> load_seccomp(const SeccompProgram& program);

}  // namespace berth::runtime
