#include "oci/runtime_spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "base/sys.h"
#include "oci/detail/json_fields.h"

namespace berth::oci {
namespace {

using namespace detail;

const std::set<std::string>& rlimit_names() {
  static const std::set<std::string> names = {
      "RLIMIT_AS",     "RLIMIT_CORE",    "RLIMIT_CPU",        "RLIMIT_DATA",   "RLIMIT_FSIZE",
      "RLIMIT_LOCKS",  "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE",   "RLIMIT_NICE",   "RLIMIT_NOFILE",
      "RLIMIT_NPROC",  "RLIMIT_RSS",     "RLIMIT_RTPRIO",     "RLIMIT_RTTIME", "RLIMIT_SIGPENDING",
      "RLIMIT_STACK"};
  return names;
}

// A sysctl is written from inside the container: one that is not namespaced, or whose namespace
// the container shares with the host, would change the host. The rules are crun's (runc's are
// alike): which namespace each key needs, and a namespace listed in linux.namespaces (new or
// joined) is the container's own.
void check_sysctls(const Spec& s) {
  static const std::set<std::string> ipc_keys = {
      "kernel/msgmax", "kernel/msgmnb", "kernel/msgmni",  "kernel/sem",
      "kernel/shmall", "kernel/shmmax", "kernel/shmmni", "kernel/shm_rmid_forced"};
  for (const auto& [key, value] : s.linux.sysctl) {
    std::string name = key;
    std::replace(name.begin(), name.end(), '.', '/');
    std::string at = "linux.sysctl." + key, needs;
    if (name.starts_with("fs/mqueue/") || ipc_keys.count(name)) {
      needs = "ipc";
    } else if (name == "kernel/domainname") {
      if (!s.domainname.empty() && value != s.domainname)
        fail(at, fmt::format("'{}' conflicts with domainname '{}'", value, s.domainname));
      needs = "uts";
    } else if (name == "kernel/hostname") {
      fail(at, "set the hostname with the hostname field");
    } else if (name.starts_with("net/")) {
      needs = "network";
    } else {
      fail(at, "not namespaced: writing it would change the host");
    }
    if (!s.linux.find_namespace(needs))
      fail(at, fmt::format("needs a {} namespace in linux.namespaces, or it would change the host's",
                           needs));
  }
}

Process parse_process_json(const json& j, const std::string& path) {
  object(j, path);
  Process p;
  opt(j, "terminal", path, [&](auto& v, auto& at) { p.terminal = as_bool(v, at); });
  opt(j, "consoleSize", path, [&](auto& v, auto& at) {
    object(v, at);
    ConsoleSize size;
    opt(v, "height", at, [&](auto& x, auto& a) { size.height = as_u32(x, a); });
    opt(v, "width", at, [&](auto& x, auto& a) { size.width = as_u32(x, a); });
    p.console_size = size;
  });
  opt(j, "user", path, [&](auto& v, auto& at) {
    object(v, at);
    opt(v, "uid", at, [&](auto& x, auto& a) { p.user.uid = as_u32(x, a); });
    opt(v, "gid", at, [&](auto& x, auto& a) { p.user.gid = as_u32(x, a); });
    opt(v, "umask", at, [&](auto& x, auto& a) { p.user.umask = as_u32(x, a); });
    opt(v, "additionalGids", at, [&](auto& x, auto& a) {
      p.user.additional_gids = list<uint32_t>(x, a, as_u32);
    });
    opt(v, "username", at, [&](auto& x, auto& a) {
      fail(a, "user names are Windows-only in the OCI spec; give uid and gid");
    });
  });
  opt(j, "args", path, [&](auto& v, auto& at) { p.args = strings(v, at); });
  opt(j, "commandLine", path, [&](auto&, auto& at) { fail(at, "commandLine is Windows-only; use args"); });
  opt(j, "env", path, [&](auto& v, auto& at) {
    p.env = strings(v, at);
    for (size_t i = 0; i < p.env.size(); ++i)
      if (p.env[i].find('=') == std::string::npos)
        fail(index(at, i), fmt::format("'{}' is not of the form NAME=value", p.env[i]));
  });
  opt(j, "cwd", path, [&](auto& v, auto& at) {
    p.cwd = as_string(v, at);
    if (p.cwd.empty() || p.cwd[0] != '/') fail(at, fmt::format("'{}' is not an absolute path", p.cwd));
  });
  opt(j, "capabilities", path, [&](auto& v, auto& at) {
    object(v, at);
    Capabilities caps;
    opt(v, "bounding", at, [&](auto& x, auto& a) { caps.bounding = strings(x, a); });
    opt(v, "effective", at, [&](auto& x, auto& a) { caps.effective = strings(x, a); });
    opt(v, "inheritable", at, [&](auto& x, auto& a) { caps.inheritable = strings(x, a); });
    opt(v, "permitted", at, [&](auto& x, auto& a) { caps.permitted = strings(x, a); });
    opt(v, "ambient", at, [&](auto& x, auto& a) { caps.ambient = strings(x, a); });
    p.capabilities = caps;
  });
  opt(j, "rlimits", path, [&](auto& v, auto& at) {
    p.rlimits = list<Rlimit>(v, at, [](const json& x, const std::string& a) {
      object(x, a);
      Rlimit r;
      auto type = x.find("type");
      if (type == x.end()) fail(a, "type: required field missing");
      r.type = as_string(*type, child(a, "type"));
      if (!rlimit_names().count(r.type)) fail(child(a, "type"), fmt::format("unknown rlimit '{}'", r.type));
      opt(x, "hard", a, [&](auto& y, auto& b) { r.hard = as_uint(y, b); });
      opt(x, "soft", a, [&](auto& y, auto& b) { r.soft = as_uint(y, b); });
      if (r.soft > r.hard)
        fail(a, fmt::format("{}: soft limit {} is above hard limit {}", r.type, r.soft, r.hard));
      return r;
    });
  });
  opt(j, "noNewPrivileges", path, [&](auto& v, auto& at) { p.no_new_privileges = as_bool(v, at); });
  opt(j, "oomScoreAdj", path, [&](auto& v, auto& at) {
    int64_t adj = as_int(v, at);
    if (adj < -1000 || adj > 1000) fail(at, fmt::format("{} is outside -1000..1000", adj));
    p.oom_score_adj = static_cast<int>(adj);
  });
  opt(j, "apparmorProfile", path, [&](auto& v, auto& at) { p.apparmor_profile = as_string(v, at); });
  opt(j, "selinuxLabel", path, [&](auto& v, auto& at) { p.selinux_label = as_string(v, at); });
  if (p.args.empty()) fail(child(path, "args"), "required: at least the program to run");
  return p;
}

Hook parse_hook(const json& j, const std::string& path) {
  object(j, path);
  Hook h;
  auto it = j.find("path");
  if (it == j.end()) fail(path, "path: required field missing");
  h.path = as_string(*it, child(path, "path"));
  if (h.path.empty() || h.path[0] != '/') fail(child(path, "path"), fmt::format("'{}' is not an absolute path", h.path));
  opt(j, "args", path, [&](auto& v, auto& at) { h.args = strings(v, at); });
  opt(j, "env", path, [&](auto& v, auto& at) { h.env = strings(v, at); });
  opt(j, "timeout", path, [&](auto& v, auto& at) {
    int64_t t = as_int(v, at);
    if (t <= 0) fail(at, fmt::format("timeout must be a positive number of seconds, got {}", t));
    h.timeout = static_cast<int>(t);
  });
  return h;
}

IdMapping parse_mapping(const json& j, const std::string& path) {
  object(j, path);
  IdMapping m;
  opt(j, "containerID", path, [&](auto& v, auto& at) { m.container_id = as_u32(v, at); });
  opt(j, "hostID", path, [&](auto& v, auto& at) { m.host_id = as_u32(v, at); });
  opt(j, "size", path, [&](auto& v, auto& at) { m.size = as_u32(v, at); });
  if (m.size == 0) fail(child(path, "size"), "must be at least 1");
  return m;
}

Resources parse_resources(const json& j, const std::string& path) {
  object(j, path);
  Resources r;
  opt(j, "devices", path, [&](auto& v, auto& at) {
    r.devices = list<DeviceRule>(v, at, [](const json& x, const std::string& a) {
      object(x, a);
      DeviceRule d;
      opt(x, "allow", a, [&](auto& y, auto& b) { d.allow = as_bool(y, b); });
      opt(x, "type", a, [&](auto& y, auto& b) {
        d.type = as_string(y, b);
        if (d.type != "a" && d.type != "b" && d.type != "c")
          fail(b, fmt::format("device type '{}' is not one of a, b, c", d.type));
      });
      opt(x, "major", a, [&](auto& y, auto& b) { d.major = as_int(y, b); });
      opt(x, "minor", a, [&](auto& y, auto& b) { d.minor = as_int(y, b); });
      opt(x, "access", a, [&](auto& y, auto& b) {
        d.access = as_string(y, b);
        if (d.access.find_first_not_of("rwm") != std::string::npos)
          fail(b, fmt::format("access '{}' may only contain r, w and m", d.access));
      });
      return d;
    });
  });
  opt(j, "memory", path, [&](auto& v, auto& at) {
    object(v, at);
    Memory m;
    opt(v, "limit", at, [&](auto& x, auto& a) { m.limit = as_int(x, a); });
    opt(v, "reservation", at, [&](auto& x, auto& a) { m.reservation = as_int(x, a); });
    opt(v, "swap", at, [&](auto& x, auto& a) { m.swap = as_int(x, a); });
    opt(v, "kernel", at, [&](auto& x, auto& a) { m.kernel = as_int(x, a); });
    opt(v, "kernelTCP", at, [&](auto& x, auto& a) { m.kernel_tcp = as_int(x, a); });
    opt(v, "swappiness", at, [&](auto& x, auto& a) {
      m.swappiness = as_uint(x, a);
      if (*m.swappiness > 100) fail(a, fmt::format("{} is above 100", *m.swappiness));
    });
    opt(v, "disableOOMKiller", at, [&](auto& x, auto& a) { m.disable_oom_killer = as_bool(x, a); });
    if (m.limit && m.swap && *m.swap != -1 && *m.limit > 0 && *m.swap < *m.limit)
      fail(child(at, "swap"), fmt::format("memory+swap {} is below the memory limit {}", *m.swap, *m.limit));
    r.memory = m;
  });
  opt(j, "cpu", path, [&](auto& v, auto& at) {
    object(v, at);
    Cpu c;
    opt(v, "shares", at, [&](auto& x, auto& a) { c.shares = as_uint(x, a); });
    opt(v, "quota", at, [&](auto& x, auto& a) { c.quota = as_int(x, a); });
    opt(v, "period", at, [&](auto& x, auto& a) { c.period = as_uint(x, a); });
    opt(v, "realtimeRuntime", at, [&](auto& x, auto& a) { c.realtime_runtime = as_int(x, a); });
    opt(v, "realtimePeriod", at, [&](auto& x, auto& a) { c.realtime_period = as_uint(x, a); });
    opt(v, "cpus", at, [&](auto& x, auto& a) { c.cpus = as_string(x, a); });
    opt(v, "mems", at, [&](auto& x, auto& a) { c.mems = as_string(x, a); });
    opt(v, "idle", at, [&](auto& x, auto& a) { c.idle = as_int(x, a); });
    r.cpu = c;
  });
  opt(j, "pids", path, [&](auto& v, auto& at) {
    object(v, at);
    opt(v, "limit", at, [&](auto& x, auto& a) { r.pids_limit = as_int(x, a); });
  });
  opt(j, "blockIO", path, [&](auto& v, auto& at) {
    object(v, at);
    BlockIo b;
    opt(v, "weight", at, [&](auto& x, auto& a) { b.weight = as_u16(x, a); });
    opt(v, "leafWeight", at, [&](auto& x, auto& a) { b.leaf_weight = as_u16(x, a); });
    opt(v, "weightDevice", at, [&](auto& x, auto& a) {
      b.weight_device = list<WeightDevice>(x, a, [](const json& y, const std::string& p) {
        object(y, p);
        WeightDevice w;
        opt(y, "major", p, [&](auto& z, auto& q) { w.major = as_int(z, q); });
        opt(y, "minor", p, [&](auto& z, auto& q) { w.minor = as_int(z, q); });
        opt(y, "weight", p, [&](auto& z, auto& q) { w.weight = as_u16(z, q); });
        opt(y, "leafWeight", p, [&](auto& z, auto& q) { w.leaf_weight = as_u16(z, q); });
        return w;
      });
    });
    auto throttle = [](const json& y, const std::string& p) {
      object(y, p);
      ThrottleDevice t;
      opt(y, "major", p, [&](auto& z, auto& q) { t.major = as_int(z, q); });
      opt(y, "minor", p, [&](auto& z, auto& q) { t.minor = as_int(z, q); });
      opt(y, "rate", p, [&](auto& z, auto& q) { t.rate = as_uint(z, q); });
      return t;
    };
    opt(v, "throttleReadBpsDevice", at, [&](auto& x, auto& a) { b.throttle_read_bps = list<ThrottleDevice>(x, a, throttle); });
    opt(v, "throttleWriteBpsDevice", at, [&](auto& x, auto& a) { b.throttle_write_bps = list<ThrottleDevice>(x, a, throttle); });
    opt(v, "throttleReadIOPSDevice", at, [&](auto& x, auto& a) { b.throttle_read_iops = list<ThrottleDevice>(x, a, throttle); });
    opt(v, "throttleWriteIOPSDevice", at, [&](auto& x, auto& a) { b.throttle_write_iops = list<ThrottleDevice>(x, a, throttle); });
    r.block_io = b;
  });
  opt(j, "hugepageLimits", path, [&](auto& v, auto& at) {
    r.hugepage_limits = list<HugepageLimit>(v, at, [](const json& x, const std::string& a) {
      object(x, a);
      HugepageLimit h;
      opt(x, "pageSize", a, [&](auto& y, auto& b) { h.page_size = as_string(y, b); });
      opt(x, "limit", a, [&](auto& y, auto& b) { h.limit = as_uint(y, b); });
      if (h.page_size.empty()) fail(child(a, "pageSize"), "required field missing");
      return h;
    });
  });
  opt(j, "network", path, [&](auto& v, auto& at) {
    object(v, at);
    Network n;
    opt(v, "classID", at, [&](auto& x, auto& a) { n.class_id = as_u32(x, a); });
    opt(v, "priorities", at, [&](auto& x, auto& a) {
      n.priorities = list<InterfacePriority>(x, a, [](const json& y, const std::string& p) {
        object(y, p);
        InterfacePriority i;
        opt(y, "name", p, [&](auto& z, auto& q) { i.name = as_string(z, q); });
        opt(y, "priority", p, [&](auto& z, auto& q) { i.priority = as_u32(z, q); });
        if (i.name.empty()) fail(child(p, "name"), "required field missing");
        return i;
      });
    });
    r.network = n;
  });
  opt(j, "unified", path, [&](auto& v, auto& at) { r.unified = string_map(v, at); });
  return r;
}

Seccomp parse_seccomp(const json& j, const std::string& path) {
  object(j, path);
  Seccomp s;
  auto it = j.find("defaultAction");
  if (it == j.end()) fail(path, "defaultAction: required field missing");
  s.default_action = as_string(*it, child(path, "defaultAction"));
  opt(j, "defaultErrnoRet", path, [&](auto& v, auto& at) { s.default_errno_ret = as_u32(v, at); });
  opt(j, "architectures", path, [&](auto& v, auto& at) { s.architectures = strings(v, at); });
  opt(j, "flags", path, [&](auto& v, auto& at) { s.flags = strings(v, at); });
  opt(j, "listenerPath", path, [&](auto& v, auto& at) { s.listener_path = as_string(v, at); });
  opt(j, "syscalls", path, [&](auto& v, auto& at) {
    s.syscalls = list<SeccompSyscall>(v, at, [](const json& x, const std::string& a) {
      object(x, a);
      SeccompSyscall sc;
      opt(x, "names", a, [&](auto& y, auto& b) { sc.names = strings(y, b); });
      if (sc.names.empty()) fail(child(a, "names"), "required: at least one syscall name");
      auto act = x.find("action");
      if (act == x.end()) fail(a, "action: required field missing");
      sc.action = as_string(*act, child(a, "action"));
      opt(x, "errnoRet", a, [&](auto& y, auto& b) { sc.errno_ret = as_u32(y, b); });
      opt(x, "args", a, [&](auto& y, auto& b) {
        sc.args = list<SeccompArg>(y, b, [](const json& z, const std::string& p) {
          object(z, p);
          SeccompArg arg;
          opt(z, "index", p, [&](auto& w, auto& q) {
            arg.index = as_u32(w, q);
            if (arg.index > 5) fail(q, fmt::format("argument index {} is above 5", arg.index));
          });
          opt(z, "value", p, [&](auto& w, auto& q) { arg.value = as_uint(w, q); });
          opt(z, "valueTwo", p, [&](auto& w, auto& q) { arg.value_two = as_uint(w, q); });
          auto op = z.find("op");
          if (op == z.end()) fail(p, "op: required field missing");
          arg.op = as_string(*op, child(p, "op"));
          return arg;
        });
      });
      return sc;
    });
  });
  return s;
}

const std::set<std::string>& namespace_types() {
  static const std::set<std::string> types = {"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"};
  return types;
}

Linux parse_linux(const json& j, const std::string& path) {
  object(j, path);
  Linux l;
  opt(j, "namespaces", path, [&](auto& v, auto& at) {
    std::set<std::string> seen;
    l.namespaces = list<Namespace>(v, at, [&](const json& x, const std::string& a) {
      object(x, a);
      Namespace ns;
      auto type = x.find("type");
      if (type == x.end()) fail(a, "type: required field missing");
      ns.type = as_string(*type, child(a, "type"));
      if (!namespace_types().count(ns.type))
        fail(child(a, "type"), fmt::format("unknown namespace type '{}' (known: cgroup, ipc, mount, network, pid, time, user, uts)", ns.type));
      if (!seen.insert(ns.type).second) fail(child(a, "type"), fmt::format("namespace '{}' is listed twice", ns.type));
      opt(x, "path", a, [&](auto& y, auto& b) { ns.path = as_string(y, b); });
      return ns;
    });
  });
  opt(j, "uidMappings", path, [&](auto& v, auto& at) { l.uid_mappings = list<IdMapping>(v, at, parse_mapping); });
  opt(j, "gidMappings", path, [&](auto& v, auto& at) { l.gid_mappings = list<IdMapping>(v, at, parse_mapping); });
  opt(j, "devices", path, [&](auto& v, auto& at) {
    l.devices = list<Device>(v, at, [](const json& x, const std::string& a) {
      object(x, a);
      Device d;
      opt(x, "type", a, [&](auto& y, auto& b) { d.type = as_string(y, b); });
      opt(x, "path", a, [&](auto& y, auto& b) { d.path = as_string(y, b); });
      if (d.path.empty() || d.path[0] != '/') fail(child(a, "path"), fmt::format("'{}' is not an absolute path", d.path));
      if (d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p")
        fail(child(a, "type"), fmt::format("device type '{}' is not one of c, b, u, p", d.type));
      opt(x, "major", a, [&](auto& y, auto& b) { d.major = as_int(y, b); });
      opt(x, "minor", a, [&](auto& y, auto& b) { d.minor = as_int(y, b); });
      opt(x, "fileMode", a, [&](auto& y, auto& b) { d.file_mode = as_u32(y, b); });
      opt(x, "uid", a, [&](auto& y, auto& b) { d.uid = as_u32(y, b); });
      opt(x, "gid", a, [&](auto& y, auto& b) { d.gid = as_u32(y, b); });
      return d;
    });
  });
  opt(j, "cgroupsPath", path, [&](auto& v, auto& at) { l.cgroups_path = as_string(v, at); });
  opt(j, "resources", path, [&](auto& v, auto& at) { l.resources = parse_resources(v, at); });
  opt(j, "rootfsPropagation", path, [&](auto& v, auto& at) {
    l.rootfs_propagation = as_string(v, at);
    static const std::set<std::string> ok = {"", "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"};
    if (!ok.count(l.rootfs_propagation))
      fail(at, fmt::format("unknown propagation '{}'", l.rootfs_propagation));
  });
  opt(j, "maskedPaths", path, [&](auto& v, auto& at) { l.masked_paths = strings(v, at); });
  opt(j, "readonlyPaths", path, [&](auto& v, auto& at) { l.readonly_paths = strings(v, at); });
  opt(j, "seccomp", path, [&](auto& v, auto& at) { l.seccomp = parse_seccomp(v, at); });
  opt(j, "sysctl", path, [&](auto& v, auto& at) { l.sysctl = string_map(v, at); });
  opt(j, "mountLabel", path, [&](auto& v, auto& at) { l.mount_label = as_string(v, at); });
  bool user_ns = false;
  for (auto& ns : l.namespaces) user_ns |= ns.type == "user" && ns.path.empty();
  if (user_ns && (l.uid_mappings.empty() || l.gid_mappings.empty()))
    fail(path, "a new user namespace needs linux.uidMappings and linux.gidMappings");
  if (!user_ns && (!l.uid_mappings.empty() || !l.gid_mappings.empty())) {
    bool joins_user = false;
    for (auto& ns : l.namespaces) joins_user |= ns.type == "user";
    if (!joins_user) fail(child(path, "uidMappings"), "id mappings need a user namespace in linux.namespaces");
  }
  return l;
}

Spec parse_spec_json(const json& j) {
  object(j, "");
  Spec s;
  auto version = j.find("ociVersion");
  if (version == j.end()) fail("ociVersion", "required field missing");
  s.oci_version = as_string(*version, "ociVersion");
  opt(j, "process", "", [&](auto& v, auto& at) { s.process = parse_process_json(v, at); });
  auto root = j.find("root");
  if (root == j.end()) fail("root", "required field missing");
  object(*root, "root");
  opt(*root, "path", "root", [&](auto& v, auto& at) { s.root.path = as_string(v, at); });
  if (s.root.path.empty()) fail("root.path", "required field missing");
  opt(*root, "readonly", "root", [&](auto& v, auto& at) { s.root.readonly = as_bool(v, at); });
  opt(j, "hostname", "", [&](auto& v, auto& at) { s.hostname = as_string(v, at); });
  opt(j, "domainname", "", [&](auto& v, auto& at) { s.domainname = as_string(v, at); });
  opt(j, "mounts", "", [&](auto& v, auto& at) {
    s.mounts = list<Mount>(v, at, [](const json& x, const std::string& a) {
      object(x, a);
      Mount m;
      auto dest = x.find("destination");
      if (dest == x.end()) fail(a, "destination: required field missing");
      m.destination = as_string(*dest, child(a, "destination"));
      if (m.destination.empty() || m.destination[0] != '/')
        fail(child(a, "destination"), fmt::format("'{}' is not an absolute path", m.destination));
      opt(x, "type", a, [&](auto& y, auto& b) { m.type = as_string(y, b); });
      opt(x, "source", a, [&](auto& y, auto& b) { m.source = as_string(y, b); });
      opt(x, "options", a, [&](auto& y, auto& b) { m.options = strings(y, b); });
      return m;
    });
  });
  opt(j, "hooks", "", [&](auto& v, auto& at) {
    object(v, at);
    auto hooks = [&](const char* key, std::vector<Hook>& out) {
      opt(v, key, at, [&](auto& x, auto& a) { out = list<Hook>(x, a, parse_hook); });
    };
    hooks("prestart", s.hooks.prestart);
    hooks("createRuntime", s.hooks.create_runtime);
    hooks("createContainer", s.hooks.create_container);
    hooks("startContainer", s.hooks.start_container);
    hooks("poststart", s.hooks.poststart);
    hooks("poststop", s.hooks.poststop);
  });
  opt(j, "annotations", "", [&](auto& v, auto& at) { s.annotations = string_map(v, at); });
  opt(j, "linux", "", [&](auto& v, auto& at) { s.linux = parse_linux(v, at); });
  // A uts namespace joined by path is the container's too: the names are set there (as crun and
  // runc do). Without one they would be the host's.
  if (!s.linux.find_namespace("uts")) {
    if (!s.hostname.empty())
      fail("hostname", "setting a hostname needs a uts namespace (new, or joined by path)");
    if (!s.domainname.empty())
      fail("domainname", "setting a domainname needs a uts namespace (new, or joined by path)");
  }
  check_sysctls(s);
  return s;
}

// Writers: the inverse of the parsers above. Each put() leaves out what parsing would default
// (empty string, empty list or map, unset optional, false).
void put(json& j, const char* key, const std::string& value) {
  if (!value.empty()) j[key] = value;
}
template <typename T>
void put(json& j, const char* key, const std::optional<T>& value) {
  if (value) j[key] = *value;
}
template <typename T>
void put(json& j, const char* key, const std::vector<T>& values) {
  if (!values.empty()) j[key] = values;
}
void put(json& j, const char* key, const std::map<std::string, std::string>& values) {
  if (!values.empty()) j[key] = values;
}
void put_flag(json& j, const char* key, bool value) {
  if (value) j[key] = true;
}
template <typename T, typename Fn>
void put_list(json& j, const char* key, const std::vector<T>& values, Fn write) {
  if (values.empty()) return;
  json out = json::array();
  for (const T& value : values) out.push_back(write(value));
  j[key] = std::move(out);
}

json write_process(const Process& p) {
  json j = json::object();
  put_flag(j, "terminal", p.terminal);
  if (p.console_size)
    j["consoleSize"] = {{"height", p.console_size->height}, {"width", p.console_size->width}};
  json user = {{"uid", p.user.uid}, {"gid", p.user.gid}};
  put(user, "umask", p.user.umask);
  put(user, "additionalGids", p.user.additional_gids);
  j["user"] = std::move(user);
  j["args"] = p.args;
  put(j, "env", p.env);
  j["cwd"] = p.cwd;
  if (p.capabilities) {
    json caps = json::object();
    put(caps, "bounding", p.capabilities->bounding);
    put(caps, "effective", p.capabilities->effective);
    put(caps, "inheritable", p.capabilities->inheritable);
    put(caps, "permitted", p.capabilities->permitted);
    put(caps, "ambient", p.capabilities->ambient);
    j["capabilities"] = std::move(caps);
  }
  put_list(j, "rlimits", p.rlimits, [](const Rlimit& r) {
    return json{{"type", r.type}, {"hard", r.hard}, {"soft", r.soft}};
  });
  put_flag(j, "noNewPrivileges", p.no_new_privileges);
  put(j, "oomScoreAdj", p.oom_score_adj);
  put(j, "apparmorProfile", p.apparmor_profile);
  put(j, "selinuxLabel", p.selinux_label);
  return j;
}

json write_hook(const Hook& h) {
  json j = {{"path", h.path}};
  put(j, "args", h.args);
  put(j, "env", h.env);
  put(j, "timeout", h.timeout);
  return j;
}

json write_mapping(const IdMapping& m) {
  return {{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}};
}

json write_throttle(const ThrottleDevice& t) {
  return {{"major", t.major}, {"minor", t.minor}, {"rate", t.rate}};
}

json write_resources(const Resources& r) {
  json j = json::object();
  put_list(j, "devices", r.devices, [](const DeviceRule& d) {
    json x = {{"allow", d.allow}, {"type", d.type}, {"access", d.access}};
    put(x, "major", d.major);
    put(x, "minor", d.minor);
    return x;
  });
  if (r.memory) {
    const Memory& m = *r.memory;
    json x = json::object();
    put(x, "limit", m.limit);
    put(x, "reservation", m.reservation);
    put(x, "swap", m.swap);
    put(x, "kernel", m.kernel);
    put(x, "kernelTCP", m.kernel_tcp);
    put(x, "swappiness", m.swappiness);
    put(x, "disableOOMKiller", m.disable_oom_killer);
    j["memory"] = std::move(x);
  }
  if (r.cpu) {
    const Cpu& c = *r.cpu;
    json x = json::object();
    put(x, "shares", c.shares);
    put(x, "quota", c.quota);
    put(x, "period", c.period);
    put(x, "realtimeRuntime", c.realtime_runtime);
    put(x, "realtimePeriod", c.realtime_period);
    put(x, "cpus", c.cpus);
    put(x, "mems", c.mems);
    put(x, "idle", c.idle);
    j["cpu"] = std::move(x);
  }
  if (r.pids_limit) j["pids"] = {{"limit", *r.pids_limit}};
  if (r.block_io) {
    const BlockIo& b = *r.block_io;
    json x = json::object();
    put(x, "weight", b.weight);
    put(x, "leafWeight", b.leaf_weight);
    put_list(x, "weightDevice", b.weight_device, [](const WeightDevice& w) {
      json y = {{"major", w.major}, {"minor", w.minor}};
      put(y, "weight", w.weight);
      put(y, "leafWeight", w.leaf_weight);
      return y;
    });
    put_list(x, "throttleReadBpsDevice", b.throttle_read_bps, write_throttle);
    put_list(x, "throttleWriteBpsDevice", b.throttle_write_bps, write_throttle);
    put_list(x, "throttleReadIOPSDevice", b.throttle_read_iops, write_throttle);
    put_list(x, "throttleWriteIOPSDevice", b.throttle_write_iops, write_throttle);
    j["blockIO"] = std::move(x);
  }
  put_list(j, "hugepageLimits", r.hugepage_limits, [](const HugepageLimit& h) {
    return json{{"pageSize", h.page_size}, {"limit", h.limit}};
  });
  if (r.network) {
    json x = json::object();
    put(x, "classID", r.network->class_id);
    put_list(x, "priorities", r.network->priorities, [](const InterfacePriority& i) {
      return json{{"name", i.name}, {"priority", i.priority}};
    });
    j["network"] = std::move(x);
  }
  put(j, "unified", r.unified);
  return j;
}

json write_seccomp(const Seccomp& s) {
  json j = {{"defaultAction", s.default_action}};
  put(j, "defaultErrnoRet", s.default_errno_ret);
  put(j, "architectures", s.architectures);
  put(j, "flags", s.flags);
  put(j, "listenerPath", s.listener_path);
  put_list(j, "syscalls", s.syscalls, [](const SeccompSyscall& sc) {
    json x = {{"names", sc.names}, {"action", sc.action}};
    put(x, "errnoRet", sc.errno_ret);
    put_list(x, "args", sc.args, [](const SeccompArg& a) {
      json y = {{"index", a.index}, {"value", a.value}, {"op", a.op}};
      if (a.value_two != 0) y["valueTwo"] = a.value_two;
      return y;
    });
    return x;
  });
  return j;
}

json write_linux(const Linux& l) {
  json j = json::object();
  put_list(j, "namespaces", l.namespaces, [](const Namespace& ns) {
    json x = {{"type", ns.type}};
    put(x, "path", ns.path);
    return x;
  });
  put_list(j, "uidMappings", l.uid_mappings, write_mapping);
  put_list(j, "gidMappings", l.gid_mappings, write_mapping);
  put_list(j, "devices", l.devices, [](const Device& d) {
    json x = {{"type", d.type}, {"path", d.path}, {"major", d.major}, {"minor", d.minor}};
    put(x, "fileMode", d.file_mode);
    put(x, "uid", d.uid);
    put(x, "gid", d.gid);
    return x;
  });
  put(j, "cgroupsPath", l.cgroups_path);
  if (l.resources) j["resources"] = write_resources(*l.resources);
  put(j, "rootfsPropagation", l.rootfs_propagation);
  put(j, "maskedPaths", l.masked_paths);
  put(j, "readonlyPaths", l.readonly_paths);
  if (l.seccomp) j["seccomp"] = write_seccomp(*l.seccomp);
  put(j, "sysctl", l.sysctl);
  put(j, "mountLabel", l.mount_label);
  return j;
}

json write_spec(const Spec& s) {
  json j = {{"ociVersion", s.oci_version.empty() ? kRuntimeSpecVersion : s.oci_version}};
  if (s.process) j["process"] = write_process(*s.process);
  json root = {{"path", s.root.path}};
  put_flag(root, "readonly", s.root.readonly);
  j["root"] = std::move(root);
  put(j, "hostname", s.hostname);
  put(j, "domainname", s.domainname);
  put_list(j, "mounts", s.mounts, [](const Mount& m) {
    json x = {{"destination", m.destination}};
    put(x, "type", m.type);
    put(x, "source", m.source);
    put(x, "options", m.options);
    return x;
  });
  json hooks = json::object();
  put_list(hooks, "prestart", s.hooks.prestart, write_hook);
  put_list(hooks, "createRuntime", s.hooks.create_runtime, write_hook);
  put_list(hooks, "createContainer", s.hooks.create_container, write_hook);
  put_list(hooks, "startContainer", s.hooks.start_container, write_hook);
  put_list(hooks, "poststart", s.hooks.poststart, write_hook);
  put_list(hooks, "poststop", s.hooks.poststop, write_hook);
  if (!hooks.empty()) j["hooks"] = std::move(hooks);
  put(j, "annotations", s.annotations);
  // Always written, even empty: it marks the config as a Linux container's.
  j["linux"] = write_linux(s.linux);
  return j;
}

// Strings that are not UTF-8 cannot be JSON; they are written with U+FFFD, as Go's encoder does.
std::string dump(const json& j) {
  return j.dump(1, '\t', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

const Namespace* Linux::find_namespace(std::string_view type) const {
  for (const auto& ns : namespaces)
    if (ns.type == type) return &ns;
  return nullptr;
}

Result<Spec> parse_spec(std::string_view json_text, std::string_view source) {
  return parse_with<Spec>(json_text, source, parse_spec_json);
}

Result<Spec> load_spec(const std::string& path) {
  BERTH_TRY(auto text, sys::read_file(path));
  return parse_spec(text, path);
}

Result<Process> parse_process(std::string_view json_text, std::string_view source) {
  return parse_with<Process>(json_text, source, [](const json& j) { return parse_process_json(j, ""); });
}

std::string default_spec_json(bool rootless) {
  json caps = json::array({"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"});
  json spec = {
      {"ociVersion", kRuntimeSpecVersion},
      {"process",
       {{"terminal", true},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", {"sh"}},
        {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", "berth"},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
        {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"}, {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
        {{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"}, {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
        {{"destination", "/dev/mqueue"}, {"type", "mqueue"}, {"source", "mqueue"}, {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"}, {"options", {"nosuid", "noexec", "nodev", "ro"}}},
        {{"destination", "/sys/fs/cgroup"}, {"type", "cgroup"}, {"source", "cgroup"}, {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}}}},
      {"linux",
       {{"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
        {"namespaces", {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}, {{"type", "cgroup"}}}},
        {"maskedPaths", {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
        {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}}};
  if (rootless) {
    spec["linux"]["namespaces"].push_back({{"type", "user"}});
    spec["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", ::getuid()}, {"size", 1}}};
    spec["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", ::getgid()}, {"size", 1}}};
    spec["linux"].erase("resources");
    spec["mounts"][6] = {{"destination", "/sys"}, {"type", "none"}, {"source", "/sys"}, {"options", {"rbind", "nosuid", "noexec", "nodev", "ro"}}};
    spec["mounts"].erase(spec["mounts"].end() - 1);
  }
  return spec.dump(1, '\t') + "\n";
}

std::string to_json(const Spec& spec) { return dump(write_spec(spec)); }

std::string to_json(const Process& process) { return dump(write_process(process)); }

}  // namespace berth::oci
