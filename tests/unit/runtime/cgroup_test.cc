#include "runtime/cgroup/cgroup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "base/sys.h"
#include "base/unique_fd.h"
#include "runtime/cgroup/detail/cgroup_internal.h"

namespace berth::runtime::cgroup {
namespace {

// A temp directory standing in for a cgroup: the test creates the knob files it expects.
class KnobDir {
 public:
  KnobDir() {
    char tmpl[] = "/tmp/berth-cgroup-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
    fd_ = UniqueFd(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  ~KnobDir() { (void)sys::remove_all(path_); }
  void add(std::initializer_list<const char*> files) {
    for (const char* f : files) std::ofstream(path_ + "/" + f).flush();
  }
  std::string read(const std::string& file) const {
    std::ifstream in(path_ + "/" + file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  UniqueFd fd_;
};

TEST(CgroupConversions, SharesMapOntoWeightRange) {
  EXPECT_EQ(cpu_shares_to_weight(2), 1u);
  EXPECT_EQ(cpu_shares_to_weight(1024), 39u);
  EXPECT_EQ(cpu_shares_to_weight(262144), 10000u);
  EXPECT_EQ(cpu_shares_to_weight(1), 1u);             // clamped
  EXPECT_EQ(cpu_shares_to_weight(1u << 30), 10000u);  // clamped
}

TEST(CgroupConversions, BlkioWeightMapsOntoIoWeight) {
  EXPECT_EQ(blkio_weight_to_io_weight(10), 1u);
  EXPECT_EQ(blkio_weight_to_io_weight(500), 4950u);
  EXPECT_EQ(blkio_weight_to_io_weight(1000), 10000u);
  EXPECT_EQ(blkio_weight_to_io_weight(5), 1u);
}

TEST(CgroupResolvePath, DefaultsToBerthSlashId) {
  auto p = resolve_path(std::nullopt, "web-1", false);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, "/berth/web-1");
}

TEST(CgroupResolvePath, RelativeAndAbsolutePathsStartAtTheRoot) {
  EXPECT_EQ(*resolve_path(std::string("a/b"), "x", false), "/a/b");
  EXPECT_EQ(*resolve_path(std::string("/a//b/./c/"), "x", false), "/a/b/c");
}

TEST(CgroupResolvePath, RejectsDotDotNamingTheValue) {
  auto p = resolve_path(std::string("/a/../../etc"), "x", false);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(p.error().message().find("'/a/../../etc'"), std::string::npos) << p.error().message();
}

TEST(CgroupResolvePath, RejectsTheRootCgroup) {
  EXPECT_FALSE(resolve_path(std::string("/"), "x", false));
}

TEST(CgroupResolvePath, SystemdStyleBecomesSliceAndScope) {
  auto p = resolve_path(std::string("machine.slice:berth:abc"), "abc", true);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, "/machine.slice/berth-abc.scope");
  EXPECT_EQ(*resolve_path(std::string(":berth:abc"), "abc", true), "/system.slice/berth-abc.scope");
  auto bad = resolve_path(std::string("nocolons"), "abc", true);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("'nocolons'"), std::string::npos);
}

TEST(CgroupMountinfo, FindsV1HierarchiesWithCoMountedControllers) {
  const char* text =
      "30 22 0:27 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
      "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup "
      "rw,cpu,cpuacct\n"
      "32 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "33 30 0:30 / /sys/fs/cgroup/systemd rw - cgroup cgroup "
      "rw,xattr,release_agent=/x,name=systemd\n"
      "34 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
      "35 30 0:28 / /mnt/with\\040space rw - cgroup cgroup rw,cpu,cpuacct\n"
      "36 30 0:32 / /mnt/with\\040space2 rw - cgroup cgroup rw,pids\n";
  auto h = detail::parse_mountinfo(text);
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(h[0].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(h[0].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
  EXPECT_EQ(h[1].controllers, (std::vector<std::string>{"memory"}));
  EXPECT_EQ(h[2].controllers, (std::vector<std::string>{"name=systemd"}));
  EXPECT_EQ(h[3].mount_point, "/mnt/with space2");
}

TEST(CgroupV1Writer, MemoryLimitsGoToTheirKnobs) {
  KnobDir d;
  d.add({"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
         "memory.swappiness", "memory.oom_control"});
  oci::Resources r;
  r.memory = oci::Memory{.limit = 104857600,
                         .reservation = 52428800,
                         .swap = 209715200,
                         .kernel = 1,
                         .kernel_tcp = 2,
                         .swappiness = 10,
                         .disable_oom_killer = true};
  ASSERT_TRUE(write_v1_controller(d.fd(), "memory", r));
  EXPECT_EQ(d.read("memory.limit_in_bytes"), "104857600");
  EXPECT_EQ(d.read("memory.memsw.limit_in_bytes"), "209715200");
  EXPECT_EQ(d.read("memory.soft_limit_in_bytes"), "52428800");
  EXPECT_EQ(d.read("memory.swappiness"), "10");
  EXPECT_EQ(d.read("memory.oom_control"), "1");
  // No kmem files here: kernel limits are skipped, not created.
  EXPECT_FALSE(sys::exists(d.path() + "/memory.kmem.limit_in_bytes"));
}

TEST(CgroupV1Writer, NetworkGoesToNetClsAndNetPrio) {
  KnobDir d;
  d.add({"net_cls.classid", "net_prio.ifpriomap"});
  oci::Resources r;
  r.network = oci::Network{.class_id = 0x100001, .priorities = {{"eth0", 5}}};
  ASSERT_TRUE(write_v1_controller(d.fd(), "net_cls", r));
  ASSERT_TRUE(write_v1_controller(d.fd(), "net_prio", r));
  EXPECT_EQ(d.read("net_cls.classid"), "1048577");
  EXPECT_EQ(d.read("net_prio.ifpriomap"), "eth0 5");
}

TEST(CgroupV1Writer, OtherControllersWriteNothingForMemory) {
  KnobDir d;
  oci::Resources r;
  r.memory = oci::Memory{.limit = 1};
  EXPECT_TRUE(write_v1_controller(d.fd(), "cpu", r));
  EXPECT_TRUE(write_v1_controller(d.fd(), "name=systemd", r));
}

TEST(CgroupV1Writer, MissingSwapKnobIsUnsupportedNamingTheFile) {
  KnobDir d;
  d.add({"memory.limit_in_bytes"});
  oci::Resources r;
  r.memory = oci::Memory{.limit = 100, .swap = 200};
  auto result = write_v1_controller(d.fd(), "memory", r);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::unsupported);
  EXPECT_NE(result.error().message().find("'memory.memsw.limit_in_bytes'"), std::string::npos)
      << result.error().message();
  // Unlimited swap needs no knob.
  r.memory->swap = -1;
  EXPECT_TRUE(write_v1_controller(d.fd(), "memory", r));
}

TEST(CgroupV1Writer, MissingKnobIsUnsupportedNamingFileAndValue) {
  KnobDir d;
  oci::Resources r;
  r.pids_limit = 42;
  auto result = write_v1_controller(d.fd(), "pids", r);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::unsupported);
  EXPECT_NE(result.error().message().find("write '42' to 'pids.max'"), std::string::npos)
      << result.error().message();
}

TEST(CgroupV1Writer, WriteErrorsNameValueAndFile) {
  KnobDir d;
  ASSERT_EQ(::mkdir((d.path() + "/pids.max").c_str(), 0755), 0);
  oci::Resources r;
  r.pids_limit = 7;
  auto result = write_v1_controller(d.fd(), "pids", r);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message(), "write '7' to 'pids.max': is a directory");
}

TEST(CgroupV1Writer, CpuCpusetAndPids) {
  KnobDir d;
  d.add({"cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpuset.cpus", "cpuset.mems",
         "pids.max"});
  oci::Resources r;
  r.cpu = oci::Cpu{.shares = 512, .quota = 50000, .period = 100000, .cpus = "0", .mems = "0"};
  r.pids_limit = -1;
  ASSERT_TRUE(write_v1_controller(d.fd(), "cpu", r));
  ASSERT_TRUE(write_v1_controller(d.fd(), "cpuset", r));
  ASSERT_TRUE(write_v1_controller(d.fd(), "pids", r));
  EXPECT_EQ(d.read("cpu.shares"), "512");
  EXPECT_EQ(d.read("cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(d.read("cpu.cfs_period_us"), "100000");
  EXPECT_EQ(d.read("cpuset.cpus"), "0");
  EXPECT_EQ(d.read("pids.max"), "max");
}

TEST(CgroupV1Writer, DevicesDenyAllFirstThenEachRule) {
  KnobDir d;
  d.add({"devices.allow", "devices.deny"});
  oci::Resources r;
  r.devices = {{.allow = false, .access = "rwm"},
               {.allow = true, .type = "c", .major = 1, .minor = 3, .access = "rwm"},
               {.allow = true, .type = "c", .access = "m"},
               {.allow = false, .type = "b", .major = 8, .access = "w"}};
  ASSERT_TRUE(write_v1_controller(d.fd(), "devices", r));
  EXPECT_EQ(d.read("devices.deny"), "ab 8:* w");
  EXPECT_EQ(d.read("devices.allow"), "c 1:3 rwmc *:* m");
}

TEST(CgroupV1Writer, BlkioPrefersBfqWhenCfqIsGone) {
  KnobDir d;
  d.add({"blkio.bfq.weight", "blkio.bfq.weight_device", "blkio.throttle.read_bps_device"});
  oci::Resources r;
  r.block_io = oci::BlockIo{.weight = 300};
  r.block_io->weight_device = {{.major = 8, .minor = 0, .weight = 200}};
  r.block_io->throttle_read_bps = {{.major = 8, .minor = 0, .rate = 1048576}};
  ASSERT_TRUE(write_v1_controller(d.fd(), "blkio", r));
  EXPECT_EQ(d.read("blkio.bfq.weight"), "300");
  EXPECT_EQ(d.read("blkio.bfq.weight_device"), "8:0 200");
  EXPECT_EQ(d.read("blkio.throttle.read_bps_device"), "8:0 1048576");
}

TEST(CgroupV1Writer, Hugetlb) {
  KnobDir d;
  d.add({"hugetlb.2MB.limit_in_bytes"});
  oci::Resources r;
  r.hugepage_limits = {{.page_size = "2MB", .limit = 4194304}};
  ASSERT_TRUE(write_v1_controller(d.fd(), "hugetlb", r));
  EXPECT_EQ(d.read("hugetlb.2MB.limit_in_bytes"), "4194304");
}

TEST(CgroupV2Writer, MemorySwapIsTheExcessOverTheLimit) {
  KnobDir d;
  d.add({"memory.max", "memory.swap.max", "memory.low"});
  oci::Resources r;
  r.memory = oci::Memory{.limit = 104857600, .reservation = 1048576, .swap = 209715200};
  ASSERT_TRUE(write_v2_resources(d.fd(), r));
  EXPECT_EQ(d.read("memory.max"), "104857600");
  EXPECT_EQ(d.read("memory.swap.max"), "104857600");
  EXPECT_EQ(d.read("memory.low"), "1048576");
}

TEST(CgroupV2Writer, UnlimitedMemoryIsMax) {
  KnobDir d;
  d.add({"memory.max", "memory.swap.max"});
  oci::Resources r;
  r.memory = oci::Memory{.limit = -1, .swap = -1};
  ASSERT_TRUE(write_v2_resources(d.fd(), r));
  EXPECT_EQ(d.read("memory.max"), "max");
  EXPECT_EQ(d.read("memory.swap.max"), "max");
}

TEST(CgroupV2Writer, SwapBelowLimitIsInvalid) {
  KnobDir d;
  d.add({"memory.max", "memory.swap.max"});
  oci::Resources r;
  r.memory = oci::Memory{.limit = 200, .swap = 100};
  auto result = write_v2_resources(d.fd(), r);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::invalid_argument);
}

TEST(CgroupV2Writer, CpuIoPidsHugetlb) {
  KnobDir d;
  d.add({"cpu.weight", "cpu.max", "cpuset.cpus", "pids.max", "io.weight", "io.max",
         "hugetlb.2MB.max"});
  oci::Resources r;
  r.cpu = oci::Cpu{.shares = 1024, .quota = 50000, .period = 200000, .cpus = "0-1"};
  r.pids_limit = 100;
  r.block_io = oci::BlockIo{.weight = 500};
  r.block_io->throttle_write_iops = {{.major = 8, .minor = 16, .rate = 100}};
  r.hugepage_limits = {{.page_size = "2MB", .limit = 2097152}};
  ASSERT_TRUE(write_v2_resources(d.fd(), r));
  EXPECT_EQ(d.read("cpu.weight"), "39");
  EXPECT_EQ(d.read("cpu.max"), "50000 200000");
  EXPECT_EQ(d.read("cpuset.cpus"), "0-1");
  EXPECT_EQ(d.read("pids.max"), "100");
  EXPECT_EQ(d.read("io.weight"), "4950");
  EXPECT_EQ(d.read("io.max"), "8:16 wiops=100");
  EXPECT_EQ(d.read("hugetlb.2MB.max"), "2097152");
}

TEST(CgroupV2Writer, QuotaMinusOneIsMaxWithDefaultPeriod) {
  KnobDir d;
  d.add({"cpu.max"});
  oci::Resources r;
  r.cpu = oci::Cpu{.quota = -1};
  ASSERT_TRUE(write_v2_resources(d.fd(), r));
  EXPECT_EQ(d.read("cpu.max"), "max 100000");
}

TEST(CgroupV2Writer, UnifiedEntriesAreWrittenAsGiven) {
  KnobDir d;
  d.add({"memory.high", "memory.max"});
  oci::Resources r;
  r.memory = oci::Memory{.limit = 1000};
  r.unified = {{"memory.high", "900"}, {"memory.max", "2000"}};
  ASSERT_TRUE(write_v2_resources(d.fd(), r));
  EXPECT_EQ(d.read("memory.high"), "900");
  EXPECT_EQ(d.read("memory.max"), "10002000");  // the field, then the unified override
}

TEST(CgroupV2Writer, UnifiedNamesMayNotLeaveTheCgroup) {
  KnobDir d;
  oci::Resources r;
  r.unified = {{"../memory.max", "1"}};
  auto result = write_v2_resources(d.fd(), r);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(result.error().message().find("'../memory.max'"), std::string::npos);
}

TEST(CgroupV2Writer, MissingKnobIsUnsupportedNamingTheFile) {
  KnobDir d;
  oci::Resources r;
  r.memory = oci::Memory{.limit = 104857600};
  auto result = write_v2_resources(d.fd(), r);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::unsupported);
  EXPECT_NE(result.error().message().find("write '104857600' to 'memory.max'"), std::string::npos)
      << result.error().message();
}

TEST(CgroupTree, ListsProcessesOfNestedCgroupsAndRemovesDeepestFirst) {
  KnobDir d;
  ASSERT_TRUE(sys::mkdir_all(d.path() + "/cg/a/b"));
  std::ofstream(d.path() + "/cg/cgroup.procs") << "10\n12\n";
  std::ofstream(d.path() + "/cg/a/b/cgroup.procs") << "11\n10\n";
  auto pids = detail::tree_processes(d.path() + "/cg");
  ASSERT_TRUE(pids);
  EXPECT_EQ(*pids, (std::vector<pid_t>{10, 11, 12}));
  auto busy = detail::wait_until_empty(d.path() + "/cg");
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().kind(), ErrorKind::failed_precondition);
  EXPECT_NE(busy.error().message().find("process 10"), std::string::npos);
  // Plain directories (no knob files) stand in for empty cgroups.
  ASSERT_TRUE(sys::mkdir_all(d.path() + "/empty/x/y"));
  ASSERT_TRUE(detail::remove_tree(d.path() + "/empty"));
  EXPECT_FALSE(sys::exists(d.path() + "/empty"));
  EXPECT_TRUE(detail::remove_tree(d.path() + "/never-existed"));
}

// Runs the device filter on one access, interpreting the few eBPF instructions it uses.
int run_filter(const std::vector<bpf_insn>& p, char type, int major, int minor,
               const std::string& access) {
  uint32_t acc = 0;
  for (char c : access)
    acc |= c == 'r' ? BPF_DEVCG_ACC_READ : c == 'w' ? BPF_DEVCG_ACC_WRITE : BPF_DEVCG_ACC_MKNOD;
  bpf_cgroup_dev_ctx ctx{};
  ctx.access_type = (acc << 16) | (type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
  ctx.major = static_cast<uint32_t>(major);
  ctx.minor = static_cast<uint32_t>(minor);
  uint64_t reg[11] = {};
  for (size_t pc = 0; pc < p.size(); ++pc) {
    const bpf_insn& i = p[pc];
    uint64_t src = BPF_SRC(i.code) == BPF_X ? reg[i.src_reg] : static_cast<uint64_t>(i.imm);
    switch (i.code) {
      case BPF_LDX | BPF_W | BPF_MEM: {
        uint32_t word;
        std::memcpy(&word, reinterpret_cast<const char*>(&ctx) + i.off, 4);
        reg[i.dst_reg] = word;
        break;
      }
      case BPF_ALU | BPF_AND | BPF_K:
        reg[i.dst_reg] = static_cast<uint32_t>(reg[i.dst_reg] & src);
        break;
      case BPF_ALU | BPF_RSH | BPF_K:
        reg[i.dst_reg] = static_cast<uint32_t>(reg[i.dst_reg]) >> src;
        break;
      case BPF_ALU | BPF_MOV | BPF_X:
        reg[i.dst_reg] = static_cast<uint32_t>(src);
        break;
      case BPF_ALU64 | BPF_MOV | BPF_K:
        reg[i.dst_reg] = src;
        break;
      case BPF_JMP | BPF_JNE | BPF_K:
      case BPF_JMP | BPF_JNE | BPF_X:
        if (reg[i.dst_reg] != src) pc += i.off;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        if (reg[i.dst_reg] == src) pc += i.off;
        break;
      case BPF_JMP | BPF_EXIT:
        return static_cast<int>(reg[0]);
      default:
        ADD_FAILURE() << "unexpected opcode " << int(i.code);
        return -1;
    }
  }
  ADD_FAILURE() << "program ran off its end";
  return -1;
}

TEST(CgroupDeviceFilter, DenyAllThenAllowListed) {
  std::vector<oci::DeviceRule> rules = {
      {.allow = false, .access = "rwm"},
      {.allow = true, .type = "c", .major = 1, .minor = 3, .access = "rwm"},
      {.allow = true, .type = "c", .major = 1, .minor = 5, .access = "r"},
      {.allow = true, .type = "c", .major = 136, .access = "rw"},
  };
  auto p = detail::device_filter_program(rules);
  EXPECT_EQ(run_filter(p, 'c', 1, 3, "rw"), 1);    // /dev/null
  EXPECT_EQ(run_filter(p, 'b', 1, 3, "rw"), 0);    // wrong type
  EXPECT_EQ(run_filter(p, 'c', 1, 5, "r"), 1);     // /dev/zero read
  EXPECT_EQ(run_filter(p, 'c', 1, 5, "rw"), 0);    // ... but not write
  EXPECT_EQ(run_filter(p, 'c', 136, 7, "rw"), 1);  // any pty
  EXPECT_EQ(run_filter(p, 'c', 136, 7, "m"), 0);
  EXPECT_EQ(run_filter(p, 'c', 10, 200, "r"), 0);  // /dev/net/tun
  // The deny-all rule ends the program: nothing unreachable follows it.
  EXPECT_EQ(p.back().code, BPF_JMP | BPF_EXIT);
}

TEST(CgroupDeviceFilter, LaterRulesOverrideEarlierOnesAndUnmatchedIsAllowed) {
  std::vector<oci::DeviceRule> rules = {
      {.allow = true, .type = "c", .major = 1, .access = "rwm"},
      {.allow = false, .type = "c", .major = 1, .minor = 3, .access = "w"},
  };
  auto p = detail::device_filter_program(rules);
  EXPECT_EQ(run_filter(p, 'c', 1, 3, "r"), 1);
  EXPECT_EQ(run_filter(p, 'c', 1, 3, "rw"), 0);
  EXPECT_EQ(run_filter(p, 'b', 8, 0, "rw"), 1);
}

}  // namespace
}  // namespace berth::runtime::cgroup
