// runtime/capabilities.h — process.capabilities by name → bit sets, and applying them in the
// container child: bounding set first (needs CAP_SETPCAP), then after the uid switch
// permitted/effective/inheritable with capset(2) and the ambient set with prctl(2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"
#include "oci/runtime_spec.h"

namespace berth::runtime {

struct CapabilitySets {
  uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
};

// Unknown names fail ("process.capabilities.bounding: unknown capability 'CAP_FOO'"); names the
// running kernel does not have (above cap_last_cap) are dropped with a warning, as runc does.
Result<CapabilitySets> parse_capabilities(const oci::Capabilities& caps);

// Capability number for "CAP_SYS_ADMIN"/"sys_admin" (case-insensitive), or -1.
int capability_from_name(std::string_view name);
// "CAP_SYS_ADMIN" for 21; "capability 99" for numbers libcap has no name for.
std::string capability_name(int cap);

// Drops from the bounding set every capability not in sets.bounding.
Result<void> drop_bounding_set(const CapabilitySets& sets);
// Sets permitted, effective, inheritable, then raises the ambient ones. The kernel raises an
// ambient capability only if it is both permitted and inheritable; the others are left out, as
// crun and runc do (the templates of all three list ambient capabilities without an inheritable
// set). Call after setuid with PR_SET_KEEPCAPS, or as root.
Result<void> apply_capabilities(const CapabilitySets& sets);

// Warns (once, from the runtime, before the container exists) when ambient capabilities will be
// left out for a process whose program would otherwise have them: one running as a uid other
// than 0. Root gets its bounding set on exec anyway, so there it changes nothing.
void warn_unraisable_ambient(const CapabilitySets& sets, uint32_t uid);

}  // namespace berth::runtime
