// runtime/detail/hooks.h — running the spec's hooks with the state JSON on stdin.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "oci/runtime_spec.h"

namespace berth::runtime {

// Runs each hook in order; the first that fails (non-zero exit, timeout, cannot start) stops
// the list with an error naming the phase, the hook and its status.
Result<void> run_hooks(const std::vector<oci::Hook>& hooks, std::string_view phase,
                       const std::string& state_json);
// As run_hooks, but failures are only logged (poststart, poststop: the spec says warn).
void run_hooks_warn(const std::vector<oci::Hook>& hooks, std::string_view phase,
                    const std::string& state_json);

}  // namespace berth::runtime
