#include <gtest/gtest.h>
#include <unistd.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "base/sys.h"
#include "base/unix_socket.h"

#include <cstring>
#include <memory>

#include "monitor/log_writer.h"
#include "monitor/health.h"
#include "monitor/idle_memory.h"
#include "monitor/monitor.h"
#include "monitor/protocol.h"
#include "monitor/restart_policy.h"

namespace berth::monitor {
namespace {

TEST(RestartPolicy, ParsesDockerSpellings) {
  EXPECT_EQ(RestartPolicy::parse("no")->kind, RestartPolicy::Kind::no);
  EXPECT_EQ(RestartPolicy::parse("always")->kind, RestartPolicy::Kind::always);
  EXPECT_EQ(RestartPolicy::parse("unless-stopped")->kind, RestartPolicy::Kind::unless_stopped);
  auto p = RestartPolicy::parse("on-failure:3");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, RestartPolicy::Kind::on_failure);
  EXPECT_EQ(p->max_retries, 3u);
}

TEST(RestartPolicy, BadPoliciesNameTheProblem) {
  auto bad = RestartPolicy::parse("sometimes");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "restart policy 'sometimes': use no, on-failure[:N], always or unless-stopped");
  EXPECT_FALSE(RestartPolicy::parse("always:3"));
  EXPECT_FALSE(RestartPolicy::parse("on-failure:x"));
}

TEST(RestartPolicy, DecidesLikeDocker) {
  auto on_failure = *RestartPolicy::parse("on-failure:2");
  EXPECT_TRUE(on_failure.should_restart(1, 0, false));
  EXPECT_TRUE(on_failure.should_restart(1, 1, false));
  EXPECT_FALSE(on_failure.should_restart(1, 2, false));
  EXPECT_FALSE(on_failure.should_restart(0, 0, false));
  auto always = *RestartPolicy::parse("always");
  EXPECT_TRUE(always.should_restart(0, 100, false));
  EXPECT_FALSE(always.should_restart(0, 0, true));
  EXPECT_FALSE(RestartPolicy::parse("no")->should_restart(1, 0, false));
}

TEST(RestartPolicy, BackoffDoublesUpToAMinute) {
  EXPECT_EQ(restart_delay_ms(0), 100u);
  EXPECT_EQ(restart_delay_ms(1), 200u);
  EXPECT_EQ(restart_delay_ms(3), 800u);
  EXPECT_EQ(restart_delay_ms(30), 60000u);
  EXPECT_TRUE(resets_backoff(10000));
  EXPECT_FALSE(resets_backoff(9999));
}

TEST(LogRecord, EscapesJson) {
  EXPECT_EQ(log_record("stdout", "a \"b\"\\\t\x01\n", "T"),
            "{\"stream\":\"stdout\",\"time\":\"T\",\"log\":\"a \\\"b\\\"\\\\\\t\\u0001\\n\"}\n");
}

class LogWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-log-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { ASSERT_TRUE(sys::remove_all(dir_)); }
  std::string read(const std::string& name) { return sys::read_file(dir_ + "/" + name).value(); }
  std::string dir_;
};

TEST_F(LogWriterTest, SplitsLinesAndKeepsPartialOnesPerStream) {
  auto w = LogWriter::open({dir_ + "/log.jsonl"});
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->write("stdout", "one\ntw", "T1"));
  ASSERT_TRUE(w->write("stderr", "err\n", "T2"));
  ASSERT_TRUE(w->write("stdout", "o\nthree", "T3"));
  ASSERT_TRUE(w->flush("T4"));
  EXPECT_EQ(read("log.jsonl"),
            log_record("stdout", "one\n", "T1") + log_record("stderr", "err\n", "T2") +
                log_record("stdout", "two\n", "T3") + log_record("stdout", "three", "T4"));
}

TEST_F(LogWriterTest, RotatesBySizeKeepingMaxFiles) {
  auto w = LogWriter::open({dir_ + "/log.jsonl", 200, 3});
  ASSERT_TRUE(w);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(w->write("stdout", fmt::format("line {}\n", i), "T"));
  EXPECT_TRUE(sys::exists(dir_ + "/log.jsonl.1"));
  EXPECT_TRUE(sys::exists(dir_ + "/log.jsonl.2"));
  EXPECT_FALSE(sys::exists(dir_ + "/log.jsonl.3"));
  EXPECT_LE(read("log.jsonl").size(), 200u);
  EXPECT_NE(read("log.jsonl").find("line 19"), std::string::npos);
}

}  // namespace
}  // namespace berth::monitor

// The monitor loop against a stand-in runtime: a shell forked with the monitor's stdio. No
// root, no containers: what is tested is the loop (log, echo, restarts, exit record).
namespace berth::monitor {
namespace {

class ShellRuntime : public RuntimeDriver {
 public:
  explicit ShellRuntime(std::string script) : script_(std::move(script)) {}
  Result<pid_t> create(int in, int out, int err, const std::string&) override {
    ++creates;
    pid_t pid = ::fork();
    if (pid == 0) {
      if (in >= 0) ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execl("/bin/sh", "sh", "-c", script_.c_str(), nullptr);
      _exit(127);
    }
    return pid;
  }
  Result<void> start() override { return {}; }
  void remove() override { ++removes; }
  Result<pid_t> spawn_exec(const std::vector<std::string>& args, int out) override {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(out, 1);
      ::execl("/bin/sh", "sh", "-c", args.at(0).c_str(), nullptr);
      _exit(127);
    }
    return pid;
  }
  int creates = 0, removes = 0;

 private:
  std::string script_;
};

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/berth-monitor-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { (void)sys::remove_all(path); }
  std::string path;
};

TEST(MonitorLoop, LogsEchoesAndRecordsTheExit) {
  TempDir dir;
  int echo[2];
  ASSERT_EQ(::pipe(echo), 0);
  MonitorOptions o;
  o.id = "test";
  o.dir = dir.path;
  o.echo_stdout = echo[1];
  pid_t seen = 0;
  o.on_started = [&](pid_t pid) { seen = pid; };
  ShellRuntime runtime("echo out; echo err >&2; exit 3");
  auto code = run_monitor(o, runtime);
  ::close(echo[1]);
  ASSERT_TRUE(code) << code.error().message();
  EXPECT_EQ(*code, 3);
  EXPECT_GT(seen, 0);
  EXPECT_EQ(runtime.removes, 1);
  char buf[64] = {};
  EXPECT_EQ(::read(echo[0], buf, sizeof buf), 4);
  EXPECT_STREQ(buf, "out\n");
  ::close(echo[0]);
  auto log = sys::read_file(dir.path + "/log.jsonl");
  ASSERT_TRUE(log);
  EXPECT_NE(log->find(R"("stream":"stdout")"), std::string::npos);
  EXPECT_NE(log->find(R"("log":"err\n")"), std::string::npos);
  auto exit = sys::read_file(dir.path + "/exit.json");
  ASSERT_TRUE(exit);
  EXPECT_NE(exit->find(R"("exitCode":3)"), std::string::npos);
  EXPECT_FALSE(sys::exists(dir.path + "/monitor.json"));
}

TEST(MonitorLoop, RestartsOnFailureUpToTheLimit) {
  TempDir dir;
  MonitorOptions o;
  o.id = "test";
  o.dir = dir.path;
  o.restart = *RestartPolicy::parse("on-failure:2");
  int exits = 0;
  o.on_exited = [&] { ++exits; };
  ShellRuntime runtime("exit 1");
  auto code = run_monitor(o, runtime);
  ASSERT_TRUE(code) << code.error().message();
  EXPECT_EQ(*code, 1);
  EXPECT_EQ(runtime.creates, 3);
  EXPECT_EQ(exits, 3);
  auto exit = sys::read_file(dir.path + "/exit.json");
  ASSERT_TRUE(exit);
  EXPECT_NE(exit->find(R"("restartCount":2)"), std::string::npos);
}

}  // namespace
}  // namespace berth::monitor

namespace berth::monitor {
namespace {

TEST(Health, StartingThenHealthyOrUnhealthyAfterRetries) {
  HealthConfig config;
  config.command = {"true"};
  config.retries = 2;
  config.start_period_ms = 1000;
  HealthState state(config);
  EXPECT_EQ(state.status(), "starting");
  EXPECT_FALSE(state.record({"a", "b", 1, "fail"}, 10));  // in the start period: not counted
  EXPECT_EQ(state.failing_streak(), 0u);
  EXPECT_TRUE(state.record({"a", "b", 0, "ok"}, 20));
  EXPECT_EQ(state.status(), "healthy");
  EXPECT_FALSE(state.record({"a", "b", 1, "fail"}, 2000));
  EXPECT_TRUE(state.record({"a", "b", 1, "fail \"quoted\"\n"}, 3000));
  EXPECT_EQ(state.status(), "unhealthy");
  auto json = state.to_json();
  EXPECT_NE(json.find(R"("Status":"unhealthy","FailingStreak":2)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"(fail \"quoted\"\n)"), std::string::npos) << json;
}

TEST(MonitorLoop, RunsHealthChecksAndWritesTheStatus) {
  TempDir dir;
  MonitorOptions o;
  o.id = "test";
  o.dir = dir.path;
  o.health.command = {"echo probe; exit 0"};
  o.health.interval_ms = 50;
  o.health.timeout_ms = 1000;
  std::vector<std::string> changes;
  o.on_health_changed = [&](const std::string& status) { changes.push_back(status); };
  ShellRuntime runtime("sleep 0.4");
  auto code = run_monitor(o, runtime);
  ASSERT_TRUE(code) << code.error().message();
  EXPECT_EQ(changes, std::vector<std::string>{"healthy"});
}

}  // namespace
}  // namespace berth::monitor

// What an idle monitor gives back (monitor/idle_memory.h), tried on this test process: the
// pages it wrote must survive, its code pages must go.
namespace berth::monitor {
namespace {

int written_global = 1;  // .data: a page this process wrote

// The resident kB of this program's code mappings (the test binary's r-x lines in smaps).
size_t resident_code_kb() {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 0;
  std::string exe(self, static_cast<size_t>(n));
  auto smaps = sys::read_file("/proc/self/smaps");
  if (!smaps) return 0;
  size_t total = 0;
  bool code = false;
  for (const auto& line : sys::split(*smaps, '\n')) {
    if (line.find(' ') < line.find(':'))  // a mapping's line: "start-end perms offset dev:ice inode path"
      code = line.size() > exe.size() && line.compare(line.size() - exe.size(), exe.size(), exe) == 0 &&
             line.find(" r-xp ") != std::string::npos;
    else if (code && line.rfind("Rss:", 0) == 0)
      total += std::strtoul(line.c_str() + 4, nullptr, 10);
  }
  return total;
}

TEST(IdleMemory, KeepsWhatTheProcessWroteOnTheHeapTheStackAndInData) {
  written_global = 42;
  static std::string in_bss;
  in_bss.assign(100000, 'b');
  auto heap = std::make_unique<std::string>(300000, 'h');
  char stack[20000];
  std::memset(stack, 's', sizeof stack);
  release_idle_memory();
  EXPECT_EQ(written_global, 42);
  EXPECT_EQ(in_bss, std::string(100000, 'b'));
  EXPECT_EQ(*heap, std::string(300000, 'h'));
  EXPECT_EQ(std::string(stack, sizeof stack), std::string(sizeof stack, 's'));
}

TEST(IdleMemory, GivesBackTheProgramsCodePages) {
  size_t before = resident_code_kb();
  ASSERT_GT(before, 0u) << "no code mapping of this program in /proc/self/smaps";
  release_idle_memory();
  size_t after = resident_code_kb();  // counting faults some code back in: less than before
  EXPECT_LT(after, before) << "resident code: " << before << " kB before, " << after << " kB after";
}

TEST(MonitorLoop, GivesBackMemoryWhenIdleAndStillLogsWhatComesAfter) {
  TempDir dir;
  MonitorOptions o;
  o.id = "test";
  o.dir = dir.path;
  o.release_memory_when_idle = true;
  // Output, then more than a second of quiet (a release), then output again.
  ShellRuntime runtime("echo before; sleep 1.3; echo after; exit 4");
  auto code = run_monitor(o, runtime);
  ASSERT_TRUE(code) << code.error().message();
  EXPECT_EQ(*code, 4);
  auto log = sys::read_file(dir.path + "/log.jsonl");
  ASSERT_TRUE(log);
  EXPECT_NE(log->find(R"("log":"before\n")"), std::string::npos) << *log;
  EXPECT_NE(log->find(R"("log":"after\n")"), std::string::npos) << *log;
}

// An interactive container's stdin comes from clients of the attach socket, which also read its
// output live; the end of their input closes the container's stdin, and the monitor closes them
// once the container is gone.
TEST(MonitorLoop, AttachedClientsWriteStdinAndReadOutput) {
  TempDir dir;
  pid_t monitor = ::fork();
  ASSERT_GE(monitor, 0);
  if (monitor == 0) {
    MonitorOptions o;
    o.id = "test";
    o.dir = dir.path;
    o.interactive = true;
    ShellRuntime runtime("echo ready; read line; echo \"got:$line\"; read rest; echo \"eof:$rest\" >&2");
    auto code = run_monitor(o, runtime);
    _exit(code ? *code : 99);
  }
  UniqueFd client;
  for (int i = 0; i < 500 && !client; ++i) {
    if (auto c = sys::connect_unix(dir.path + "/" + kAttachSocket, SOCK_SEQPACKET)) client = std::move(*c);
    else ::usleep(10'000);
  }
  ASSERT_TRUE(client);
  auto send = [&](std::string packet) { ASSERT_EQ(::send(client.get(), packet.data(), packet.size(), 0), ssize_t(packet.size())); };
  auto receive = [&] {
    char buf[kAttachPacketBytes + 1];
    ssize_t got = ::recv(client.get(), buf, sizeof buf, 0);
    return got <= 0 ? std::string() : std::string(buf, static_cast<size_t>(got));
  };
  send(std::string(1, kAttachHello) + "1");  // replays "ready", written before we connected
  EXPECT_EQ(receive(), "1ready\n");
  send(std::string(1, kAttachInput) + "hel");
  send(std::string(1, kAttachInput) + "lo\n");
  EXPECT_EQ(receive(), "1got:hello\n");
  send(std::string(1, kAttachCloseInput));
  EXPECT_EQ(receive(), "2eof:\n");
  EXPECT_EQ(receive(), "");  // closed once the container exited
  int status = 0;
  ASSERT_EQ(::waitpid(monitor, &status, 0), monitor);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(sys::exists(dir.path + "/" + kAttachSocket));
}

}  // namespace
}  // namespace berth::monitor
