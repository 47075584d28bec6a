// oci/runtime_spec.h — the OCI runtime spec's config.json as plain C++ types (Linux subset that
// runc/crun honour), with a parser whose errors name the field path ("process.rlimits[1].hard").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::oci {

inline constexpr const char* kRuntimeSpecVersion = "1.1.0";

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additional_gids;

  bool operator==(const User&) const = default;
};

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t hard = 0;
  uint64_t soft = 0;

  bool operator==(const Rlimit&) const = default;
};

struct Capabilities {
  std::vector<std::string> bounding, effective, inheritable, permitted, ambient;

  bool operator==(const Capabilities&) const = default;
};

struct ConsoleSize {
  unsigned height = 0;
  unsigned width = 0;

  bool operator==(const ConsoleSize&) const = default;
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> console_size;
  User user;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::optional<int> oom_score_adj;
  std::string apparmor_profile;
  std::string selinux_label;

  bool operator==(const Process&) const = default;
};

struct Root {
  std::string path;
  bool readonly = false;

  bool operator==(const Root&) const = default;
};

struct Mount {
  std::string destination;
  std::string type;
  std::string source;
  std::vector<std::string> options;

  bool operator==(const Mount&) const = default;
};

struct Hook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds

  bool operator==(const Hook&) const = default;
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart,
      poststop;

  bool operator==(const Hooks&) const = default;
};

struct Namespace {
  std::string type;  // pid network mount ipc uts user cgroup time
  std::string path;  // join this namespace instead of creating one

  bool operator==(const Namespace&) const = default;
};

struct IdMapping {
  uint32_t container_id = 0;
  uint32_t host_id = 0;
  uint32_t size = 0;

  bool operator==(const IdMapping&) const = default;
};

struct Device {
  std::string type;  // c b u p
  std::string path;
  int64_t major = 0;
  int64_t minor = 0;
  std::optional<uint32_t> file_mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;

  bool operator==(const Device&) const = default;
};

struct DeviceRule {
  bool allow = false;
  std::string type = "a";  // a c b
  std::optional<int64_t> major;
  std::optional<int64_t> minor;
  std::string access = "rwm";

  bool operator==(const DeviceRule&) const = default;
};

struct Memory {
  std::optional<int64_t> limit, reservation, swap, kernel, kernel_tcp;
  std::optional<uint64_t> swappiness;
  std::optional<bool> disable_oom_killer;

  bool operator==(const Memory&) const = default;
};

struct Cpu {
  std::optional<uint64_t> shares;
  std::optional<int64_t> quota;
  std::optional<uint64_t> period;
  std::optional<int64_t> realtime_runtime;
  std::optional<uint64_t> realtime_period;
  std::string cpus;
  std::string mems;
  std::optional<int64_t> idle;

  bool operator==(const Cpu&) const = default;
};

struct WeightDevice {
  int64_t major = 0, minor = 0;
  std::optional<uint16_t> weight, leaf_weight;

  bool operator==(const WeightDevice&) const = default;
};

struct ThrottleDevice {
  int64_t major = 0, minor = 0;
  uint64_t rate = 0;

  bool operator==(const ThrottleDevice&) const = default;
};

struct BlockIo {
  std::optional<uint16_t> weight, leaf_weight;
  std::vector<WeightDevice> weight_device;
  std::vector<ThrottleDevice> throttle_read_bps, throttle_write_bps, throttle_read_iops,
      throttle_write_iops;

  bool operator==(const BlockIo&) const = default;
};

struct HugepageLimit {
  std::string page_size;  // "2MB"
  uint64_t limit = 0;

  bool operator==(const HugepageLimit&) const = default;
};

struct InterfacePriority {
  std::string name;  // a network interface, "eth0"
  uint32_t priority = 0;

  bool operator==(const InterfacePriority&) const = default;
};

// cgroup v1 net_cls (classID) and net_prio (priorities); cgroup v2 has neither.
struct Network {
  std::optional<uint32_t> class_id;
  std::vector<InterfacePriority> priorities;

  bool operator==(const Network&) const = default;
};

struct Resources {
  std::vector<DeviceRule> devices;
  std::optional<Memory> memory;
  std::optional<Cpu> cpu;
  std::optional<int64_t> pids_limit;
  std::optional<BlockIo> block_io;
  std::vector<HugepageLimit> hugepage_limits;
  std::optional<Network> network;
  std::map<std::string, std::string> unified;  // cgroup v2 files written as given

  bool operator==(const Resources&) const = default;
};

struct SeccompArg {
  unsigned index = 0;
  uint64_t value = 0;
  uint64_t value_two = 0;
  std::string op;  // SCMP_CMP_EQ ...

  bool operator==(const SeccompArg&) const = default;
};

struct SeccompSyscall {
  std::vector<std::string> names;
  std::string action;
  std::optional<unsigned> errno_ret;
  std::vector<SeccompArg> args;

  bool operator==(const SeccompSyscall&) const = default;
};

struct Seccomp {
  std::string default_action;
  std::optional<unsigned> default_errno_ret;
  std::vector<std::string> architectures;
  std::vector<std::string> flags;
  std::string listener_path;
  std::vector<SeccompSyscall> syscalls;

  bool operator==(const Seccomp&) const = default;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::vector<Device> devices;
  std::optional<std::string> cgroups_path;
  std::optional<Resources> resources;
  std::string rootfs_propagation;
  std::vector<std::string> masked_paths, readonly_paths;
  std::optional<Seccomp> seccomp;
  std::map<std::string, std::string> sysctl;
  std::string mount_label;

  const Namespace* find_namespace(std::string_view type) const;

  bool operator==(const Linux&) const = default;
};

struct Spec {
  std::string oci_version;
  std::optional<Process> process;
  Root root;
  std::string hostname;
  std::string domainname;
  std::vector<Mount> mounts;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
  Linux linux;

  bool operator==(const Spec&) const = default;
};

// Parses and validates a config.json; `source` names the file in error messages.
Result<Spec> parse_spec(std::string_view json, std::string_view source);
Result<Spec> load_spec(const std::string& path);
// Parses a process.json as given to `exec --process`.
Result<Process> parse_process(std::string_view json, std::string_view source);

// The config.json that `berth-runtime spec` writes (runc-compatible defaults).
std::string default_spec_json(bool rootless);

// The canonical config.json for a spec, as runc, crun and berth-runtime read it: the spec's
// camelCase names, keys sorted, unset optionals, empty strings, empty lists and false flags left
// out (the fields the spec requires are always written). parse_spec(to_json(s)) == s for every
// spec that parses; an empty oci_version is written as kRuntimeSpecVersion.
std::string to_json(const Spec& spec);
// The process.json that `exec --process` reads, in the same form.
std::string to_json(const Process& process);

}  // namespace berth::oci
