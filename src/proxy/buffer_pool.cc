// Session read buffers from slabs of their own (see detail/buffer_pool.h).
#include "proxy/detail/buffer_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace berth::proxy::detail {

namespace {
constexpr size_t kSlab = size_t{1} << 20;
// Spare blocks kept resident through a tick: enough for a burst of new connections without
// page faults, little beside 5000 idle ones (64 blocks, 512 KiB).
constexpr size_t kKeepSpare = 64;
}  // namespace

BufferPool& BufferPool::local() {
  thread_local BufferPool pool;
  return pool;
}

char* BufferPool::take() {
  if (!spare_.empty()) {
    char* b = spare_.back();
    spare_.pop_back();
    return b;
  }
  if (released_.empty()) {
    // Slabs are never unmapped: blocks of one slab go back at different times, their pages
    // leave with them, and an address range costs nothing resident.
    void* slab = ::mmap(nullptr, kSlab, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (slab == MAP_FAILED) throw std::bad_alloc();
    char* base = static_cast<char*>(slab);
    for (size_t off = kSlab; off > 0; off -= kBlock) released_.push_back(base + off - kBlock);
  }
  char* b = released_.back();
  released_.pop_back();
  return b;
}

void BufferPool::give(char* block) { spare_.push_back(block); }

void BufferPool::trim() {
  if (spare_.size() <= kKeepSpare) return;
  // The front of the stack was given back longest ago: those go.
  const size_t excess = spare_.size() - kKeepSpare;
  for (size_t i = 0; i < excess; ++i) {
    ::madvise(spare_[i], kBlock, MADV_DONTNEED);
    released_.push_back(spare_[i]);
  }
  spare_.erase(spare_.begin(), spare_.begin() + static_cast<std::ptrdiff_t>(excess));
}

void FlatBuffer::release() {
  if (cap_ == BufferPool::kBlock) {
    BufferPool::local().give(data_);
  } else {
    std::free(data_);
  }
  data_ = nullptr;
  cap_ = start_ = end_ = 0;
}

void FlatBuffer::make_room(size_t min) {
  if (start_ > 0) {
    std::memmove(data_, data_ + start_, size());
    end_ -= start_;
    start_ = 0;
    if (cap_ - end_ >= min) return;
  }
  const size_t want = end_ + std::max({min, cap_, BufferPool::kBlock});
  char* fresh = nullptr;
  if (want <= BufferPool::kBlock) {
    fresh = BufferPool::local().take();
  } else {
    fresh = static_cast<char*>(std::malloc(want));
    if (fresh == nullptr) throw std::bad_alloc();
  }
  if (end_ > 0) std::memcpy(fresh, data_, end_);
  const size_t end = end_;
  release();
  data_ = fresh;
  cap_ = want <= BufferPool::kBlock ? BufferPool::kBlock : want;
  end_ = end;
}

}  // namespace berth::proxy::detail
