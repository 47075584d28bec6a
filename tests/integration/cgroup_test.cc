// Cgroups on the real kernel (root). This host is "hybrid": controllers on v1, an empty cgroup2 at
// /sys/fs/cgroup/unified. The v2 test mounts that cgroup2 at /sys/fs/cgroup in a private mount
// namespace of a forked child, which reports through its exit code.
#include "runtime/cgroup/cgroup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>

#include "base/sys.h"
#include "runtime/cgroup/detail/cgroup_internal.h"

namespace berth::runtime::cgroup {
namespace {

// A forked child that waits for release(), then runs `body` and exits with its result. Killed
// and reaped on destruction if still around.
class Child {
 public:
  explicit Child(std::function<int()> body) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::close(p[1]);
      char c;
      if (::read(p[0], &c, 1) != 1) ::_exit(0);
      ::_exit(body());
    }
    ::close(p[0]);
    go_ = p[1];
  }
  ~Child() {
    if (go_ >= 0) ::close(go_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Lets the body run; returns its exit code (or 128+signal).
  int release_and_wait() {
    if (::write(go_, "x", 1) != 1) return -1;
    return wait();
  }
  int kill_and_wait() {
    ::kill(pid_, SIGKILL);
    return wait();
  }

 private:
  int wait() {
    int status = 0;
    if (::waitpid(pid_, &status, 0) < 0) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  pid_t pid_ = -1;
  int go_ = -1;
};

// Removes the test's cgroup in every hierarchy on every exit path.
class CgroupGuard {
 public:
  explicit CgroupGuard(std::vector<std::string> dirs) : dirs_(std::move(dirs)) {}
  ~CgroupGuard() {
    for (const auto& d : dirs_) (void)detail::remove_tree(d);
  }

 private:
  std::vector<std::string> dirs_;
};

std::string read_trimmed(const std::string& path) {
  auto text = sys::read_file(path);
  if (!text) return "<" + text.error().message() + ">";
  while (!text->empty() && text->back() == '\n') text->pop_back();
  return *text;
}

bool contains(const std::vector<pid_t>& pids, pid_t pid) {
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

// Exits 0 when /dev/null opens and /dev/zero is refused with EPERM.
int probe_devices() {
  int null_fd = ::open("/dev/null", O_RDWR);
  if (null_fd < 0) return 2;
  ::close(null_fd);
  int zero_fd = ::open("/dev/zero", O_RDONLY);
  if (zero_fd >= 0) return 3;
  return errno == EPERM ? 0 : 4;
}

std::vector<oci::DeviceRule> only_dev_null() {
  return {{.allow = false, .access = "rwm"},
          {.allow = true, .type = "c", .major = 1, .minor = 3, .access = "rwm"}};
}

class CgroupV1 : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "the cgroup integration tests need root";
    if (detect_mode() != Mode::v1) GTEST_SKIP() << "host runs cgroup v2 only";
    path_ = fmt::format("/berth-test-{}/{}", ::getpid(),
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    hierarchies_ = v1_hierarchies();
    ASSERT_FALSE(hierarchies_.empty());
    std::vector<std::string> dirs;
    for (const auto& h : hierarchies_)
      dirs.push_back(h.mount_point + path_.substr(0, path_.find('/', 1)));
    guard_ = std::make_unique<CgroupGuard>(std::move(dirs));
  }
  std::string dir(const std::string& mount_name) const {
    return "/sys/fs/cgroup/" + mount_name + path_;
  }

  std::string path_;
  std::vector<Hierarchy> hierarchies_;
  std::unique_ptr<CgroupGuard> guard_;
};

TEST_F(CgroupV1, DetectsHybridHostAsV1WithCoMountedHierarchies) {
  bool has_memory = std::any_of(hierarchies_.begin(), hierarchies_.end(), [](const Hierarchy& h) {
    return h.controllers == std::vector<std::string>{"memory"};
  });
  EXPECT_TRUE(has_memory);
}

TEST_F(CgroupV1, LifecycleAppliesLimitsHoldsFreezesAndRemoves) {
  auto cg = Cgroup::create(path_, Mode::v1);
  ASSERT_TRUE(cg) << cg.error().message();
  for (const auto& h : hierarchies_)
    EXPECT_TRUE(sys::exists(h.mount_point + path_)) << h.mount_point;
  EXPECT_NE(read_trimmed(dir("cpuset") + "/cpuset.cpus"), "");

  oci::Resources r;
  r.memory = oci::Memory{.limit = 64 << 20, .swap = 128 << 20};
  r.pids_limit = 50;
  r.cpu = oci::Cpu{.shares = 512, .quota = 50000, .period = 100000};
  auto applied = (*cg)->apply(r);
  ASSERT_TRUE(applied) << applied.error().message();
  EXPECT_EQ(read_trimmed(dir("memory") + "/memory.limit_in_bytes"), std::to_string(64 << 20));
  EXPECT_EQ(read_trimmed(dir("memory") + "/memory.memsw.limit_in_bytes"),
            std::to_string(128 << 20));
  EXPECT_EQ(read_trimmed(dir("pids") + "/pids.max"), "50");
  EXPECT_EQ(read_trimmed(dir("cpu") + "/cpu.shares"), "512");
  EXPECT_EQ(read_trimmed(dir("cpu") + "/cpu.cfs_quota_us"), "50000");

  // Lowering below the current memsw and raising above it both need the right write order.
  r.memory = oci::Memory{.limit = 32 << 20, .swap = 48 << 20};
  ASSERT_TRUE((*cg)->apply(r));
  EXPECT_EQ(read_trimmed(dir("memory") + "/memory.memsw.limit_in_bytes"), std::to_string(48 << 20));
  r.memory = oci::Memory{.limit = 256 << 20, .swap = 512 << 20};
  auto raised = (*cg)->apply(r);
  ASSERT_TRUE(raised) << raised.error().message();
  EXPECT_EQ(read_trimmed(dir("memory") + "/memory.limit_in_bytes"), std::to_string(256 << 20));

  Child child([] { return 0; });
  ASSERT_GT(child.pid(), 0);
  auto added = (*cg)->add_process(child.pid());
  ASSERT_TRUE(added) << added.error().message();
  auto pids = (*cg)->processes();
  ASSERT_TRUE(pids);
  EXPECT_TRUE(contains(*pids, child.pid()));
  EXPECT_NE(read_trimmed(fmt::format("/proc/{}/cgroup", child.pid())).find("memory:" + path_),
            std::string::npos);

  auto frozen = (*cg)->freeze(true);
  ASSERT_TRUE(frozen) << frozen.error().message();
  EXPECT_TRUE((*cg)->frozen());
  EXPECT_EQ(read_trimmed(dir("freezer") + "/freezer.state"), "FROZEN");
  ASSERT_TRUE((*cg)->freeze(false));
  EXPECT_FALSE((*cg)->frozen());

  // A cgroup with a live process cannot go.
  auto busy = (*cg)->destroy();
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().kind(), ErrorKind::failed_precondition);
  EXPECT_NE(busy.error().message().find(std::to_string(child.pid())), std::string::npos);
  for (const auto& h : hierarchies_)
    EXPECT_TRUE(sys::exists(h.mount_point + path_)) << "left whole: " << h.mount_point;

  EXPECT_EQ(child.kill_and_wait(), 128 + SIGKILL);
  auto destroyed = Cgroup::open(path_, Mode::v1)->destroy();
  ASSERT_TRUE(destroyed) << destroyed.error().message();
  for (const auto& h : hierarchies_)
    EXPECT_FALSE(sys::exists(h.mount_point + path_)) << h.mount_point;
}

TEST_F(CgroupV1, DeviceRulesAreEnforced) {
  auto cg = Cgroup::create(path_, Mode::v1);
  ASSERT_TRUE(cg) << cg.error().message();
  oci::Resources r;
  r.devices = only_dev_null();
  auto applied = (*cg)->apply(r);
  ASSERT_TRUE(applied) << applied.error().message();
  EXPECT_EQ(read_trimmed(dir("devices") + "/devices.list"), "c 1:3 rwm");
  Child child(probe_devices);
  ASSERT_TRUE((*cg)->add_process(child.pid()));
  EXPECT_EQ(child.release_and_wait(), 0);
  ASSERT_TRUE((*cg)->destroy());
}

TEST_F(CgroupV1, MissingControllerIsUnsupported) {
  auto cg = Cgroup::create(path_, Mode::v1);
  ASSERT_TRUE(cg) << cg.error().message();
  bool has_hugetlb = std::any_of(hierarchies_.begin(), hierarchies_.end(), [](const Hierarchy& h) {
    return std::find(h.controllers.begin(), h.controllers.end(), "hugetlb") != h.controllers.end();
  });
  oci::Resources r;
  r.hugepage_limits = {{.page_size = "2MB", .limit = 2 << 20}};
  auto applied = (*cg)->apply(r);
  if (has_hugetlb) {
    EXPECT_TRUE(applied) << applied.error().message();
  } else {
    ASSERT_FALSE(applied);
    EXPECT_EQ(applied.error().kind(), ErrorKind::unsupported);
    EXPECT_NE(applied.error().message().find("'hugetlb'"), std::string::npos);
  }
  ASSERT_TRUE((*cg)->destroy());
}

TEST_F(CgroupV1, RejectsBadValuesNamingFileAndValue) {
  auto cg = Cgroup::create(path_, Mode::v1);
  ASSERT_TRUE(cg) << cg.error().message();
  oci::Resources r;
  r.cpu = oci::Cpu{.cpus = "4096"};
  auto applied = (*cg)->apply(r);
  ASSERT_FALSE(applied);
  EXPECT_NE(applied.error().message().find("write '4096' to 'cpuset.cpus'"), std::string::npos)
      << applied.error().message();
  ASSERT_TRUE((*cg)->destroy());
}

// Runs in the forked child: returns 0, or the number of the step that failed.
int v2_scenario(const std::string& path) {
  auto fail = [](int step, const std::string& why) {
    std::fprintf(stderr, "v2 step %d: %s\n", step, why.c_str());
    return step;
  };
  if (::unshare(CLONE_NEWNS) < 0) return fail(1, "unshare");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) return fail(2, "rprivate");
  if (::mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, nullptr) < 0)
    return fail(3, "mount cgroup2");
  if (detect_mode() != Mode::v2) return fail(4, "detect_mode is not v2");

  auto cg = Cgroup::create(path, Mode::v2);
  if (!cg) return fail(5, cg.error().message());
  oci::Resources memory;
  memory.memory = oci::Memory{.limit = 64 << 20};
  auto applied = (*cg)->apply(memory);
  if (applied || applied.error().kind() != ErrorKind::unsupported ||
      applied.error().message().find("'memory'") == std::string::npos)
    return fail(6, applied ? "memory limit applied" : applied.error().message());

  Child sleeper([] { return 0; });
  if (auto r = (*cg)->add_process(sleeper.pid()); !r) return fail(7, r.error().message());
  auto pids = (*cg)->processes();
  if (!pids || !contains(*pids, sleeper.pid())) return fail(8, "processes() lacks the child");
  if (auto r = (*cg)->freeze(true); !r || !(*cg)->frozen())
    return fail(9, r ? "not frozen" : r.error().message());
  if (auto r = (*cg)->freeze(false); !r || (*cg)->frozen())
    return fail(10, r ? "still frozen" : r.error().message());
  sleeper.kill_and_wait();

  // Devices through the BPF filter: only /dev/null, twice (the second replaces the first).
  oci::Resources devices;
  devices.devices = only_dev_null();
  for (int i = 0; i < 2; ++i)
    if (auto r = (*cg)->apply(devices); !r)
      return fail(11, r.error().message() + " " + r.error().hint());
  Child prober(probe_devices);
  if (auto r = (*cg)->add_process(prober.pid()); !r) return fail(12, r.error().message());
  if (int code = prober.release_and_wait(); code != 0)
    return fail(13, fmt::format("device probe exited {}", code));

  if (auto r = (*cg)->destroy(); !r) return fail(14, r.error().message());
  if (sys::exists("/sys/fs/cgroup" + path)) return fail(15, "directory left behind");
  return 0;
}

TEST(CgroupV2, LifecycleOnAPrivateCgroup2Mount) {
  ASSERT_EQ(::geteuid(), 0u) << "the cgroup integration tests need root";
  ASSERT_TRUE(sys::exists("/sys/fs/cgroup/unified/cgroup.procs"))
      << "this test mounts the hybrid host's cgroup2 hierarchy";
  std::string top = fmt::format("/berth-test-{}-v2", ::getpid());
  CgroupGuard guard({"/sys/fs/cgroup/unified" + top});
  Child child([&] { return v2_scenario(top + "/ctr"); });
  ASSERT_GT(child.pid(), 0);
  EXPECT_EQ(child.release_and_wait(), 0) << "see the step on stderr";
  (void)detail::remove_tree("/sys/fs/cgroup/unified" + top);
  EXPECT_FALSE(sys::exists("/sys/fs/cgroup/unified" + top));
}

}  // namespace
}  // namespace berth::runtime::cgroup
