#include "base/rate_limit.h"

#include <algorithm>

namespace berth {

ClientRateLimit::ClientRateLimit(uint32_t per_second, uint32_t burst)
    : rate_(per_second), burst_(burst ? burst : per_second) {}

double ClientRateLimit::refilled(const Bucket& b, int64_t now_ms) const {
  const double elapsed = static_cast<double>(std::max<int64_t>(0, now_ms - b.at_ms)) / 1000;
  return std::min(burst_, b.tokens + elapsed * rate_);
}

bool ClientRateLimit::allow(const std::string& ip, int64_t now_ms) {
  if (!enabled()) return true;
  auto [it, fresh] = buckets_.try_emplace(ip, Bucket{burst_, now_ms});
  Bucket& b = it->second;
  if (!fresh) b = {refilled(b, now_ms), now_ms};
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void ClientRateLimit::prune(int64_t now_ms) {
  std::erase_if(buckets_, [&](const auto& entry) { return refilled(entry.second, now_ms) >= burst_; });
}

}  // namespace berth
