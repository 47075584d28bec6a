// runtime/capabilities.cc — capability names via libcap; the sets applied with raw prctl(2) and
// capset(2), since the child needs nothing of libcap's state.
#include "runtime/capabilities.h"

#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <string>

#include "base/log.h"

namespace berth::runtime {
namespace {

constexpr int kMaxCapability = 63;

bool has(uint64_t set, int cap) { return (set >> cap) & 1U; }

// PR_CAP_AMBIENT_RAISE fails with EPERM for a capability not in both of these sets.
uint64_t raisable_ambient(const CapabilitySets& sets) {
  return sets.ambient & sets.permitted & sets.inheritable;
}

// The highest capability the running kernel knows. PR_CAPBSET_READ fails with EINVAL above it;
// asking the kernel needs no /proc, so this works in the container child too.
int kernel_last_cap() {
  int low = 0, high = kMaxCapability;  // cap 0 (CAP_CHOWN) always exists
  while (low < high) {
    int mid = (low + high + 1) / 2;
    if (::prctl(PR_CAPBSET_READ, mid, 0, 0, 0) >= 0)
      low = mid;
    else
      high = mid - 1;
  }
  return low;
}

std::string names_of(uint64_t set) {
  std::string out;
  for (int cap = 0; cap <= kMaxCapability; ++cap) {
    if (!has(set, cap)) continue;
    if (!out.empty()) out += ", ";
    out += capability_name(cap);
  }
  return out;
}

Result<void> parse_set(const std::vector<std::string>& names, std::string_view set_name,
                       int last_cap, uint64_t& bits) {
  for (const std::string& name : names) {
    int cap = capability_from_name(name);
    if (cap < 0)
      return Error::make(ErrorKind::invalid_argument,
                         "process.capabilities.{}: unknown capability '{}'", set_name, name);
    if (cap > last_cap) {
      log::warn(fmt::format(
          "process.capabilities.{}: the running kernel has no capability '{}'; ignoring it",
          set_name, name));
      continue;
    }
    bits |= uint64_t{1} << cap;
  }
  return {};
}

}  // namespace

int capability_from_name(std::string_view name) {
  std::string lower;
  lower.reserve(name.size() + 4);
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!lower.starts_with("cap_")) lower.insert(0, "cap_");
  // libcap also takes numbers ("cap_12" no, but "12" yes); the spec only knows names.
  if (lower.size() == 4 || std::isdigit(static_cast<unsigned char>(lower[4]))) return -1;
  cap_value_t value = 0;
  if (cap_from_name(lower.c_str(), &value) != 0) return -1;
  if (value < 0 || value > kMaxCapability) return -1;
  return value;
}

std::string capability_name(int cap) {
  char* raw = cap_to_name(cap);
  std::string name = raw != nullptr ? raw : "";
  if (raw != nullptr) cap_free(raw);
  // libcap spells capabilities it has no name for as bare numbers.
  if (!name.starts_with("cap_")) return fmt::format("capability {}", cap);
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

Result<CapabilitySets> parse_capabilities(const oci::Capabilities& caps) {
  int last_cap = kernel_last_cap();
  CapabilitySets sets;
  BERTH_TRY_VOID(parse_set(caps.bounding, "bounding", last_cap, sets.bounding));
  BERTH_TRY_VOID(parse_set(caps.effective, "effective", last_cap, sets.effective));
  BERTH_TRY_VOID(parse_set(caps.inheritable, "inheritable", last_cap, sets.inheritable));
  BERTH_TRY_VOID(parse_set(caps.permitted, "permitted", last_cap, sets.permitted));
  BERTH_TRY_VOID(parse_set(caps.ambient, "ambient", last_cap, sets.ambient));
  return sets;
}

Result<void> drop_bounding_set(const CapabilitySets& sets) {
  int last_cap = kernel_last_cap();
  for (int cap = 0; cap <= last_cap; ++cap) {
    if (has(sets.bounding, cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
      return Error::from_errno("drop {} from the bounding set", capability_name(cap));
  }
  return {};
}

Result<void> apply_capabilities(const CapabilitySets& sets) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> data{};
  for (size_t i = 0; i < data.size(); ++i) {
    data[i].effective = static_cast<uint32_t>(sets.effective >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(sets.permitted >> (32 * i));
    data[i].inheritable = static_cast<uint32_t>(sets.inheritable >> (32 * i));
  }
  if (::syscall(SYS_capset, &header, data.data()) < 0) {
    int saved = errno;
    // capset fails as a whole: say which of the requested capabilities the process lacks.
    std::string detail;
    __user_cap_header_struct get_header{_LINUX_CAPABILITY_VERSION_3, 0};
    std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> current{};
    if (::syscall(SYS_capget, &get_header, current.data()) == 0) {
      uint64_t permitted = current[0].permitted | (uint64_t{current[1].permitted} << 32);
      uint64_t missing = (sets.permitted | sets.effective) & ~permitted;
      if (missing != 0) detail = fmt::format(" ({} not in the permitted set)", names_of(missing));
    }
    return Error::with_errno(saved, fmt::format("capset{}", detail));
  }

  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
    return Error::from_errno("clear the ambient set");
  const uint64_t ambient = raisable_ambient(sets);
  for (int cap = 0; cap <= kMaxCapability; ++cap) {
    if (!has(ambient, cap)) continue;
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
      return Error::from_errno("raise ambient capability {}", capability_name(cap));
  }
  return {};
}

void warn_unraisable_ambient(const CapabilitySets& sets, uint32_t uid) {
  const uint64_t left_out = sets.ambient & ~raisable_ambient(sets);
  if (left_out == 0 || uid == 0) return;
  log::warn(fmt::format(
      "process.capabilities.ambient: leaving out {}: an ambient capability must also be "
      "permitted and inheritable, so the program (uid {}) runs without it",
      names_of(left_out), uid));
}

}  // namespace berth::runtime
