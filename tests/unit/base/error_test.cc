#include "base/error.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return Error::make(ErrorKind::invalid_argument, "value {} is not positive", v);
  return v;
}

Result<int> doubled(int v) {
  BERTH_TRY(int x, parse_positive(v));
  return x * 2;
}

TEST(Result, PropagatesValuesAndErrors) {
  auto good = doubled(21);
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 42);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(bad.error().message(), "value -1 is not positive");
}

TEST(Error, ContextIsPrependedOutermostFirst) {
  errno = ENOENT;
  Error e = Error::from_errno("open '{}'", "/x");
  e.context("prepare rootfs").context("create container web-1");
  EXPECT_EQ(e.message(), "create container web-1: prepare rootfs: open '/x': no such file or directory");
  EXPECT_EQ(e.kind(), ErrorKind::not_found);
  EXPECT_EQ(e.sys_errno(), ENOENT);
}

TEST(Error, ErrnoMapsToKinds) {
  EXPECT_EQ(Error::with_errno(EEXIST, "x").kind(), ErrorKind::already_exists);
  EXPECT_EQ(Error::with_errno(EPERM, "x").kind(), ErrorKind::permission_denied);
  EXPECT_EQ(Error::with_errno(EIO, "x").kind(), ErrorKind::io);
}

TEST(ResultVoid, ContextOnlyTouchesFailures) {
  Result<void> ok;
  EXPECT_TRUE(std::move(ok).context("never shown"));
  Result<void> bad = Error(ErrorKind::io, "disk");
  auto r = std::move(bad).context("save");
  EXPECT_EQ(r.error().message(), "save: disk");
}

}  // namespace
}  // namespace berth
