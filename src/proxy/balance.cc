#include "proxy/balance.h"

#include <fmt/format.h>

namespace berth::proxy {

int Balancer::round_robin(std::span<const PickCandidate> backends) {
  if (current_.size() != backends.size()) current_.assign(backends.size(), 0);
  int64_t total = 0;
  int best = -1;
  for (size_t i = 0; i < backends.size(); ++i) {
    if (!backends[i].eligible) continue;
    const int64_t w = backends[i].weight < 1 ? 1 : backends[i].weight;
    current_[i] += w;
    total += w;
    if (best < 0 || current_[i] > current_[static_cast<size_t>(best)]) best = static_cast<int>(i);
  }
  if (best >= 0) current_[static_cast<size_t>(best)] -= total;
  return best;
}

int Balancer::least_connections(std::span<const PickCandidate> backends) {
  const size_t n = backends.size();
  int best = -1;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (rotor_ + k) % n;
    if (!backends[i].eligible) continue;
    if (best < 0) {
      best = static_cast<int>(i);
      continue;
    }
    const auto& b = backends[static_cast<size_t>(best)];
    // in_flight/weight compared without division.
    const uint64_t wi = backends[i].weight < 1 ? 1 : backends[i].weight;
    const uint64_t wb = b.weight < 1 ? 1 : b.weight;
    if (backends[i].in_flight * wb < b.in_flight * wi) best = static_cast<int>(i);
  }
  if (n > 0) rotor_ = (rotor_ + 1) % static_cast<uint32_t>(n);
  return best;
}

std::string sticky_value(std::string_view backend_id) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : backend_id) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace berth::proxy
