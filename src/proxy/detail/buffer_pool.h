// proxy/detail/buffer_pool.h — sessions' read buffers (FlatBuffer) and the pool of 8 KiB blocks
// they take, from slabs of their own whose pages go back to the kernel when the proxy goes quiet.
#pragma once

#include <boost/asio/buffer.hpp>
#include <cstddef>
#include <string_view>
#include <vector>

namespace berth::proxy::detail {

// Busy connections hold two buffers each; idle ones none. From the heap, the buffers of a burst
// of connections lie between the sessions that outlive them, and glibc keeps that memory
// resident: the burst's peak would stay in the RSS. Here they come from 1 MiB slabs that hold
// nothing else, and blocks spare for longer than a tick are given back page by page
// (MADV_DONTNEED). One pool per thread: the proxy's loop is one thread.
class BufferPool {
 public:
  static constexpr size_t kBlock = 8192;

  static BufferPool& local();
  // A kBlock-sized block (its contents undefined). Throws std::bad_alloc when mmap fails.
  char* take();
  void give(char* block);
  // Gives the pages of spare blocks beyond a few back to the kernel (the proxy's ticker).
  void trim();

  size_t spare() const { return spare_.size(); }
  size_t released() const { return released_.size(); }

 private:
  std::vector<char*> spare_;     // resident, last given first taken (warm)
  std::vector<char*> released_;  // pages given back (or never touched): fault in on use
};

// Bytes read but not consumed yet, contiguous (parsers want one buffer). Memory is taken at the
// first read, an 8 KiB block from the BufferPool (bigger ones, for long headers, from the heap),
// and given back by release(): an idle connection costs none.
class FlatBuffer {
 public:
  FlatBuffer() = default;
  FlatBuffer(const FlatBuffer&) = delete;
  FlatBuffer& operator=(const FlatBuffer&) = delete;
  ~FlatBuffer() { release(); }

  const char* begin() const { return data_ + start_; }
  size_t size() const { return end_ - start_; }
  bool empty() const { return start_ == end_; }
  std::string_view view() const { return {begin(), size()}; }
  void consume(size_t n) {
    start_ += n;
    if (start_ == end_) start_ = end_ = 0;
  }
  // Room for at least `min` more bytes at the end.
  boost::asio::mutable_buffer prepare(size_t min = 4096) {
    if (cap_ - end_ < min) make_room(min);
    return boost::asio::buffer(data_ + end_, cap_ - end_);
  }
  void commit(size_t n) { end_ += n; }
  void clear() { start_ = end_ = 0; }
  bool has_memory() const { return cap_ != 0; }
  // Gives the memory back (an idle keep-alive connection); the next prepare() takes it again.
  void release();

 private:
  void make_room(size_t min);

  char* data_ = nullptr;
  size_t cap_ = 0, start_ = 0, end_ = 0;
};

}  // namespace berth::proxy::detail
