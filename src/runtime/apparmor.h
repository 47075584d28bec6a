// runtime/apparmor.h — process.apparmorProfile. A profile the host cannot enforce is refused
// before the container exists (it would otherwise run unconfined without saying so); where the
// host has AppArmor, the container process takes the profile at its execve.
#pragma once

#include <string>

#include "base/error.h"

namespace berth::runtime {

// As crun decides it: /sys/kernel/security/apparmor exists and
// /sys/module/apparmor/parameters/enabled says Y.
bool apparmor_enabled();

// In the runtime: the profile the container process must take ("" for none). A profile other
// than "unconfined" on a host without AppArmor is an error (crun refuses it too).
Result<std::string> apparmor_profile_to_apply(const std::string& profile);

// In the container process, with the container's /proc mounted: `profile` applies from the
// next execve on.
Result<void> set_apparmor_exec_profile(const std::string& profile);

}  // namespace berth::runtime
