#include "runtime/capabilities.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>

#include "base/unique_fd.h"

namespace berth::runtime {
namespace {

TEST(CapabilityFromName, AcceptsBothSpellingsInAnyCase) {
  EXPECT_EQ(capability_from_name("CAP_SYS_ADMIN"), CAP_SYS_ADMIN);
  EXPECT_EQ(capability_from_name("sys_admin"), CAP_SYS_ADMIN);
  EXPECT_EQ(capability_from_name("Cap_Chown"), CAP_CHOWN);
  EXPECT_EQ(capability_from_name("NET_BIND_SERVICE"), CAP_NET_BIND_SERVICE);
  EXPECT_EQ(capability_from_name("cap_audit_read"), CAP_AUDIT_READ);
}

TEST(CapabilityFromName, RejectsUnknownNamesAndNumbers) {
  EXPECT_EQ(capability_from_name("CAP_FOO"), -1);
  EXPECT_EQ(capability_from_name(""), -1);
  EXPECT_EQ(capability_from_name("CAP_"), -1);
  EXPECT_EQ(capability_from_name("12"), -1);
  EXPECT_EQ(capability_from_name("CAP_12"), -1);
}

TEST(CapabilityName, SpellsTheSpecName) {
  EXPECT_EQ(capability_name(CAP_SYS_ADMIN), "CAP_SYS_ADMIN");
  EXPECT_EQ(capability_name(CAP_CHOWN), "CAP_CHOWN");
  EXPECT_EQ(capability_name(62), "capability 62");
}

TEST(ParseCapabilities, MapsEachSetToBits) {
  oci::Capabilities caps;
  caps.bounding = {"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  caps.effective = {"CAP_KILL"};
  caps.permitted = {"CAP_KILL", "CAP_CHOWN"};
  caps.inheritable = {"cap_kill"};
  caps.ambient = {"KILL"};
  auto sets = parse_capabilities(caps);
  ASSERT_TRUE(sets) << sets.error().message();
  uint64_t kill = uint64_t{1} << CAP_KILL, chown = uint64_t{1} << CAP_CHOWN;
  EXPECT_EQ(sets->bounding, kill | chown | (uint64_t{1} << CAP_NET_BIND_SERVICE));
  EXPECT_EQ(sets->effective, kill);
  EXPECT_EQ(sets->permitted, kill | chown);
  EXPECT_EQ(sets->inheritable, kill);
  EXPECT_EQ(sets->ambient, kill);
}

TEST(ParseCapabilities, RejectsUnknownNamesNamingTheSet) {
  oci::Capabilities caps;
  caps.effective = {"CAP_CHOWN"};
  caps.bounding = {"CAP_CHOWN", "CAP_FOO"};
  auto sets = parse_capabilities(caps);
  ASSERT_FALSE(sets);
  EXPECT_EQ(sets.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(sets.error().message(), "process.capabilities.bounding: unknown capability 'CAP_FOO'");

  caps.bounding.clear();
  caps.ambient = {"CAP_BAR"};
  auto ambient = parse_capabilities(caps);
  ASSERT_FALSE(ambient);
  EXPECT_EQ(ambient.error().message(),
            "process.capabilities.ambient: unknown capability 'CAP_BAR'");
}

TEST(ParseCapabilities, EmptyListsGiveEmptySets) {
  auto sets = parse_capabilities(oci::Capabilities{});
  ASSERT_TRUE(sets);
  EXPECT_EQ(sets->bounding | sets->effective | sets->permitted | sets->inheritable | sets->ambient,
            0U);
}

// Runs body in a forked child (capability changes must not reach the test process) and returns
// what it wrote to the pipe.
std::string run_in_child(const std::function<std::string()>& body) {
  int fds[2];
  if (::pipe(fds) < 0) return "pipe failed";
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t pid = ::fork();
  if (pid == 0) {
    read_end.reset();
    std::string out = body();
    ssize_t n = ::write(write_end.get(), out.data(), out.size());
    ::_exit(n == static_cast<ssize_t>(out.size()) ? 0 : 1);
  }
  write_end.reset();
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(read_end.get(), buf, sizeof buf)) > 0;) out.append(buf, n);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

std::map<std::string, std::string> cap_lines_of_proc_status() {
  std::map<std::string, std::string> lines;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (!line.starts_with("Cap")) continue;
    auto colon = line.find(':');
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    lines[line.substr(0, colon)] = value;
  }
  return lines;
}

TEST(ApplyCapabilities, ReducesEverySetToWhatWasAsked) {
  if (::geteuid() != 0 || ::prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0) != 1)
    GTEST_SKIP() << "needs root with CAP_SETPCAP (CI runs as root)";
  std::string out = run_in_child([] {
    CapabilitySets sets;
    sets.bounding = sets.effective = sets.permitted = sets.inheritable = sets.ambient =
        uint64_t{1} << CAP_CHOWN;
    if (auto r = drop_bounding_set(sets); !r) return "drop: " + r.error().message();
    if (auto r = apply_capabilities(sets); !r) return "apply: " + r.error().message();
    std::string report;
    for (const auto& [key, value] : cap_lines_of_proc_status()) report += key + "=" + value + "\n";
    return report;
  });
  EXPECT_EQ(out,
            "CapAmb=0000000000000001\n"
            "CapBnd=0000000000000001\n"
            "CapEff=0000000000000001\n"
            "CapInh=0000000000000001\n"
            "CapPrm=0000000000000001\n");
}

TEST(ApplyCapabilities, NamesTheCapabilitiesTheProcessLacks) {
  std::string out = run_in_child([] {
    // Drop everything first, so that this works as root and as a user alike.
    if (auto r = apply_capabilities(CapabilitySets{}); !r)
      return "drop all: " + r.error().message();
    CapabilitySets more;
    more.permitted = more.effective = (uint64_t{1} << CAP_CHOWN) | (uint64_t{1} << CAP_KILL);
    auto r = apply_capabilities(more);
    return r ? std::string("applied") : r.error().message();
  });
  EXPECT_EQ(out, "capset (CAP_CHOWN, CAP_KILL not in the permitted set): operation not permitted");
}

TEST(ApplyCapabilities, LeavesOutAmbientCapabilitiesNotPermittedAndInheritable) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (CI runs as root)";
  std::string out = run_in_child([] {
    CapabilitySets sets;
    sets.effective = sets.permitted = sets.inheritable = uint64_t{1} << CAP_CHOWN;
    // CAP_NET_RAW is neither permitted nor inheritable: the kernel would refuse to raise it.
    sets.ambient = (uint64_t{1} << CAP_CHOWN) | (uint64_t{1} << CAP_NET_RAW);
    if (auto r = apply_capabilities(sets); !r) return r.error().message();
    return cap_lines_of_proc_status()["CapAmb"];
  });
  EXPECT_EQ(out, "0000000000000001");
}

}  // namespace
}  // namespace berth::runtime
