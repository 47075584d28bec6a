// base/rate_limit.h — requests a second per client address (--rate-limit-per-client of the
// proxy and the registry): a token bucket per address, refilled at the rate up to the burst. Off
// by default, as in nginx and HAProxy: many users behind one NAT share an address. Not
// thread-safe: the proxy's loop has one thread, the registry holds a lock.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace berth {

class ClientRateLimit {
 public:
  // per_second 0: no limit. burst 0: one second's worth.
  ClientRateLimit(uint32_t per_second, uint32_t burst);

  bool enabled() const { return rate_ > 0; }
  // Whether `ip` may make one more request at `now_ms`; if so, it is counted.
  bool allow(const std::string& ip, int64_t now_ms);
  // Forgets the addresses whose bucket is full again: they are as new ones. Bounds the table by
  // the addresses seen within burst/rate seconds.
  void prune(int64_t now_ms);
  size_t tracked() const { return buckets_.size(); }
  uint32_t per_second() const { return rate_; }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t at_ms = 0;
  };
  double refilled(const Bucket& b, int64_t now_ms) const;

  uint32_t rate_;
  double burst_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace berth
