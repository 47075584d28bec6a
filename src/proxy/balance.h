// proxy/balance.h — choosing a backend among a route's: smooth weighted round robin (nginx's:
// weights 5,1,1 give a a b a c a a, never five a's in a row), least connections (in-flight per
// weight, ties broken round robin), and the sticky cookie's value for a backend. Pure: the
// server feeds each pick the backends' current state.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace berth::proxy {

struct PickCandidate {
  int weight = 1;
  uint64_t in_flight = 0;
  bool eligible = true;  // healthy, not draining, not already tried for this request
};

class Balancer {
 public:
  // The index of the backend for the next request, or -1 if none is eligible.
  int round_robin(std::span<const PickCandidate> backends);
  int least_connections(std::span<const PickCandidate> backends);

 private:
  std::vector<int64_t> current_;  // smooth WRR's running weights
  uint32_t rotor_ = 0;
};

// The cookie value that pins a session to a backend: a short hash of its id (ids need not be
// shown to clients).
std::string sticky_value(std::string_view backend_id);

}  // namespace berth::proxy
