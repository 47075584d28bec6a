// engine/attach.h — a client of a running container's attach socket (monitor/protocol.h): its
// stdin, its terminal's size and its output as it comes, for containers created with a
// terminal or an open stdin (ContainerConfig::tty, interactive).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "base/error.h"
#include "base/unique_fd.h"
#include "engine/containers.h"

namespace berth::engine {

class AttachSession {
 public:
  // Connects to the monitor of running container `c`. `replay`: first the output it kept of
  // this run (the last 64 KiB), for a client that attached before the start. unavailable when
  // the container has no attach socket (not running, or neither a terminal nor an open stdin).
  static Result<AttachSession> open(const ContainerRecord& c, bool replay);

  Result<void> send_input(std::string_view data);
  // The container's stdin ends (without a terminal).
  Result<void> close_input();
  Result<void> resize(unsigned rows, unsigned cols);
  // The next piece of output: {1 (stdout) or 2 (stderr), bytes}; nullopt once the container
  // exited and its output is all read.
  Result<std::optional<std::pair<int, std::string>>> read();
  // For poll(): readable when read() has something.
  int fd() const { return fd_.get(); }

 private:
  explicit AttachSession(UniqueFd fd) : fd_(std::move(fd)) {}
  Result<void> send(char kind, std::string_view data);
  UniqueFd fd_;
};

// Sets the size of a running container's terminal (its processes get SIGWINCH).
// failed_precondition when it is not running or has no terminal.
Result<void> resize_container(Engine& engine, const std::string& name_or_id, unsigned rows, unsigned cols);

}  // namespace berth::engine
