// monitor/attach.h — the monitor's side of a container's attach socket (protocol.h): clients
// (the API's attach, resize) write the container's stdin, resize its terminal and read its
// output live. Driven by the monitor's single loop; not thread-safe.
#pragma once

#include <poll.h>

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/unique_fd.h"

namespace berth::monitor {

class AttachServer {
 public:
  static constexpr int kMaxClients = 16;
  static constexpr int kMaxPollFds = kMaxClients + 2;  // + the listener and the input

  // Listens on DIR/attach.sock. `input` is where client bytes go: the write end of the
  // container's stdin pipe, or a duplicate of its terminal's master (`terminal` true), which
  // resizes also act on. An invalid `input`: the container has no stdin to write.
  static Result<std::unique_ptr<AttachServer>> listen(const std::string& dir, UniqueFd input, bool terminal);
  // Closes every client (they see the end of the output) and removes the socket.
  ~AttachServer();

  // Fills `fds` (room for kMaxPollFds) with what to wait for; returns how many.
  int poll_fds(struct pollfd* fds);
  // Handles what poll reported on the entries poll_fds filled.
  void handle(const struct pollfd* fds, int count);
  // The container wrote `data`: kept for replays and sent to every client.
  void output(bool is_stdout, std::string_view data);

 private:
  struct Client {
    UniqueFd fd;
    bool greeted = false;  // output goes to it once its hello is read
  };
  AttachServer(std::string path, UniqueFd listener, UniqueFd input, bool terminal)
      : path_(std::move(path)), listener_(std::move(listener)), input_(std::move(input)), terminal_(terminal) {}
  void accept_client();
  // false: the client is gone.
  bool read_packet(Client& c);
  bool send_packet(Client& c, std::string_view packet);
  void write_input();

  std::string path_;
  UniqueFd listener_, input_;
  bool terminal_;
  std::vector<Client> clients_;
  std::string pending_;  // input not yet written (the container reads slower than clients send)
  bool close_after_pending_ = false;
  std::deque<std::string> kept_;  // output packets of this run, for replays
  size_t kept_bytes_ = 0;
};

// Accepts the runtime's connection on a --console-socket listener and receives the terminal's
// master from it (runc's protocol), waiting at most `timeout_ms`.
Result<UniqueFd> receive_terminal(int listener, int timeout_ms);

}  // namespace berth::monitor
