// base/rate_limit.h: a burst, then the rate; addresses apart; pruning forgets only full buckets.
#include "base/rate_limit.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

int allowed(ClientRateLimit& limit, const std::string& ip, int tries, int64_t at_ms) {
  int n = 0;
  for (int i = 0; i < tries; ++i) n += limit.allow(ip, at_ms);
  return n;
}

TEST(ClientRateLimit, ABurstThenTheRate) {
  ClientRateLimit limit(10, 20);
  EXPECT_EQ(allowed(limit, "10.0.0.1", 50, 1000), 20);
  // Half a second later, five more; a second after that, ten.
  EXPECT_EQ(allowed(limit, "10.0.0.1", 50, 1500), 5);
  EXPECT_EQ(allowed(limit, "10.0.0.1", 50, 2500), 10);
  // Idle long enough, the burst is back (not more).
  EXPECT_EQ(allowed(limit, "10.0.0.1", 50, 60'000), 20);
}

TEST(ClientRateLimit, EachAddressHasItsOwnBucket) {
  ClientRateLimit limit(5, 0);  // burst: one second's worth
  EXPECT_EQ(allowed(limit, "10.0.0.1", 10, 0), 5);
  EXPECT_EQ(allowed(limit, "10.0.0.2", 10, 0), 5);
  EXPECT_EQ(allowed(limit, "10.0.0.1", 10, 0), 0);
}

TEST(ClientRateLimit, PruningForgetsOnlyRefilledBuckets) {
  ClientRateLimit limit(10, 10);
  allowed(limit, "busy", 10, 0);
  allowed(limit, "light", 1, 0);
  limit.prune(200);  // light refilled (0.1 s brings one), busy not
  EXPECT_EQ(limit.tracked(), 1u);
  // A forgotten address is as a new one: its full burst, which it had anyway.
  EXPECT_EQ(allowed(limit, "light", 20, 200), 10);
  // The busy one is still limited: pruning did not reset it.
  EXPECT_EQ(allowed(limit, "busy", 20, 200), 2);
}

TEST(ClientRateLimit, ZeroIsNoLimit) {
  ClientRateLimit limit(0, 0);
  EXPECT_FALSE(limit.enabled());
  EXPECT_EQ(allowed(limit, "10.0.0.1", 1000, 0), 1000);
  EXPECT_EQ(limit.tracked(), 0u);
}

}  // namespace
}  // namespace berth
