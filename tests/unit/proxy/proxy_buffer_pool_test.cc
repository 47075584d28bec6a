// The sessions' read buffers: pooled 8 KiB blocks, bigger ones from the heap, contents kept
// across growth, and spare blocks beyond a few given back to the kernel.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <sys/mman.h>
#include <vector>
#include <set>
#include <string>

#include "proxy/detail/buffer_pool.h"

namespace berth::proxy::detail {
namespace {

// Resident bytes of [p, p + n) (mincore).
size_t resident(const char* p, size_t n) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec(n / page);
  if (::mincore(const_cast<char*>(p), n, vec.data()) != 0) return SIZE_MAX;
  size_t r = 0;
  for (unsigned char v : vec) r += (v & 1) ? page : 0;
  return r;
}

void fill(FlatBuffer& b, std::string_view s) {
  auto room = b.prepare(s.size());
  ASSERT_GE(room.size(), s.size());
  std::memcpy(room.data(), s.data(), s.size());
  b.commit(s.size());
}

TEST(FlatBuffer, TakesNothingUntilFirstReadAndGivesItBack) {
  FlatBuffer b;
  EXPECT_FALSE(b.has_memory());
  fill(b, "GET / HTTP/1.1\r\n");
  EXPECT_TRUE(b.has_memory());
  EXPECT_EQ(b.view(), "GET / HTTP/1.1\r\n");
  const size_t spare = BufferPool::local().spare();
  b.release();
  EXPECT_FALSE(b.has_memory());
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(BufferPool::local().spare(), spare + 1);
}

TEST(FlatBuffer, KeepsItsBytesWhenItMovesThemOrGrowsPastABlock) {
  FlatBuffer b;
  const std::string head(5000, 'h');
  fill(b, head);
  b.consume(4000);  // the rest moves to the front for the next prepare
  const std::string more(7000, 'm');
  fill(b, more);
  EXPECT_EQ(b.view(), std::string(1000, 'h') + more);
  // Past 8 KiB: a heap block, the bytes carried over.
  const std::string big(20000, 'b');
  fill(b, big);
  EXPECT_EQ(b.size(), 1000 + more.size() + big.size());
  EXPECT_EQ(b.view().substr(8000), big);
  const size_t spare = BufferPool::local().spare();
  b.release();  // a heap block goes back to the heap, not the pool
  EXPECT_EQ(BufferPool::local().spare(), spare);
}

TEST(BufferPool, ReusesWarmBlocksAndGivesThePagesOfSurplusOnesBack) {
  BufferPool pool;
  std::set<char*> taken;
  for (int i = 0; i < 300; ++i) {
    char* b = pool.take();
    std::memset(b, 'x', BufferPool::kBlock);  // resident now
    EXPECT_TRUE(taken.insert(b).second) << "a block was handed out twice";
  }
  for (char* b : taken) pool.give(b);
  EXPECT_EQ(pool.spare(), 300u);
  char* warm = pool.take();  // the last given is the first taken
  EXPECT_EQ(warm, *taken.rbegin());
  pool.give(warm);
  pool.trim();
  EXPECT_EQ(pool.spare(), 64u);
  // The blocks trimmed hold no resident pages any more; the kept ones still do.
  size_t kept_resident = 0;
  int released = 0;
  for (char* b : taken) {
    const size_t r = resident(b, BufferPool::kBlock);
    ASSERT_NE(r, SIZE_MAX);
    if (r == 0) {
      ++released;
    } else {
      kept_resident += r;
    }
  }
  EXPECT_EQ(released, 300 - 64);
  EXPECT_EQ(kept_resident, 64 * BufferPool::kBlock);
  // Trimmed blocks are taken again once the spare ones are gone, and work.
  for (int i = 0; i < 300; ++i) std::memset(pool.take(), 'y', BufferPool::kBlock);
  EXPECT_EQ(pool.spare(), 0u);
}

}  // namespace
}  // namespace berth::proxy::detail
