// base/min_rate.h: windows that keep up pass, one that does not is caught at its end.
#include "base/min_rate.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

using std::chrono::milliseconds;

// Any steady time will do; an hour in keeps subtractions away from the clock's zero.
const MinimumRate::Clock::time_point t0 = MinimumRate::Clock::time_point{} + std::chrono::hours(1);

TEST(MinimumRate, AWindowIsJudgedOnlyOnceItHasEnded) {
  MinimumRate rate(100, milliseconds(1000));
  rate.start(t0);
  // Nothing yet, but the window is not over: a pause is allowed.
  EXPECT_FALSE(rate.too_slow(t0 + milliseconds(999)));
  rate.add(99);
  EXPECT_TRUE(rate.too_slow(t0 + milliseconds(1000)));
}

TEST(MinimumRate, AWindowThatKeptUpOpensTheNext) {
  MinimumRate rate(100, milliseconds(1000));
  rate.start(t0);
  rate.add(100);
  EXPECT_FALSE(rate.too_slow(t0 + milliseconds(1000)));
  // The next window counts from there: the first window's bytes do not carry over.
  rate.add(50);
  EXPECT_TRUE(rate.too_slow(t0 + milliseconds(2000)));
}

TEST(MinimumRate, ALateCheckNeedsTheRateOverTheWholeTimeSinceTheWindowOpened) {
  MinimumRate rate(100, milliseconds(1000));
  rate.start(t0);
  rate.add(150);  // enough for one second, not for the 59 that passed: a byte a minute fails
  EXPECT_TRUE(rate.too_slow(t0 + std::chrono::seconds(59)));
}

TEST(MinimumRate, ExcludedTimeDoesNotCount) {
  MinimumRate rate(100, milliseconds(1000));
  rate.start(t0);
  rate.add(100);
  // Nine of the ten seconds went to a slow backend: the stream had one second, and kept up.
  rate.exclude(std::chrono::seconds(9));
  EXPECT_FALSE(rate.too_slow(t0 + std::chrono::seconds(10)));
  // Without that, the same bytes over ten seconds are too few.
  MinimumRate plain(100, milliseconds(1000));
  plain.start(t0);
  plain.add(100);
  EXPECT_TRUE(plain.too_slow(t0 + std::chrono::seconds(10)));
}

TEST(MinimumRate, ZeroMeansNoMinimum) {
  MinimumRate rate(0, milliseconds(1000));
  rate.start(t0);
  EXPECT_FALSE(rate.too_slow(t0 + std::chrono::hours(1)));
}

}  // namespace
}  // namespace berth
