#include "runtime/apparmor.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "base/sys.h"

namespace berth::runtime {

bool apparmor_enabled() {
  if (!sys::exists("/sys/kernel/security/apparmor")) return false;
  auto enabled = sys::read_file("/sys/module/apparmor/parameters/enabled");
  return enabled && enabled->starts_with("Y");
}

Result<std::string> apparmor_profile_to_apply(const std::string& profile) {
  if (profile.empty()) return std::string();
  if (apparmor_enabled()) return profile;
  // Asking for no confinement is met without AppArmor.
  if (profile == "unconfined") return std::string();
  return Error::make(ErrorKind::unsupported,
                     "process.apparmorProfile '{}': AppArmor is not enabled on this host "
                     "(/sys/module/apparmor/parameters/enabled), and the container would run "
                     "unconfined",
                     profile)
      .with_hint(
          "leave process.apparmorProfile out (or set it to \"unconfined\") to run without "
          "AppArmor, or boot the host with AppArmor enabled");
}

Result<void> set_apparmor_exec_profile(const std::string& profile) {
  // The LSM-specific file first (Linux 5.8+, stacked LSMs), then the shared one.
  int fd = ::open("/proc/thread-self/attr/apparmor/exec", O_WRONLY | O_CLOEXEC);
  if (fd < 0) fd = ::open("/proc/thread-self/attr/exec", O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return Error::from_errno("set apparmor profile '{}': open '/proc/thread-self/attr/exec'",
                             profile);
  UniqueFd guard(fd);
  // A /proc that is not procfs (no proc mount, a directory of the image) would take the write
  // and leave the process unconfined.
  struct statfs st {};
  if (::fstatfs(fd, &st) < 0 || st.f_type != PROC_SUPER_MAGIC)
    return Error::make(ErrorKind::failed_precondition,
                       "set apparmor profile '{}': /proc in the container is not procfs", profile)
        .with_hint("mount proc on /proc in config.json's mounts");
  return sys::write_all(fd, "exec " + profile)
      .context(fmt::format("set apparmor profile '{}'", profile));
}

}  // namespace berth::runtime
