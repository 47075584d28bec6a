// Helpers for state tests: a private temp dir, and forked children that report back over pipes.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "base/sys.h"

namespace berth::state::testing {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-state-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(sys::remove_all(dir_)); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

// A one-way channel of single bytes between a parent and a forked child.
class Pipe {
 public:
  Pipe() { EXPECT_EQ(::pipe(fds_), 0); }
  ~Pipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  // For the reading side of a fork: without it, the reader's own copy of the write end would keep
  // receive() from seeing EOF when the other side dies, and a failed test would hang.
  void close_writer() {
    ::close(fds_[1]);
    fds_[1] = -1;
  }
  void send(char c = 'x') { EXPECT_EQ(::write(fds_[1], &c, 1), 1); }
  // Returns the byte, or 0 at EOF (every writer closed).
  char receive() {
    char c = 0;
    ssize_t n;
    do n = ::read(fds_[0], &c, 1);
    while (n < 0 && errno == EINTR);
    return n == 1 ? c : 0;
  }

 private:
  int fds_[2];
};

// Runs body in a forked child that exits with body's return value; never returns in the child.
// The child must not use the parent's Database (SQLite's fork rule): it opens its own.
inline pid_t fork_child(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int code = 100;
    code = body();
    ::_exit(code);
  }
  EXPECT_GT(pid, 0);
  return pid;
}

// Waits for the child; returns its exit code, or 128+signal if a signal killed it.
inline int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace berth::state::testing
