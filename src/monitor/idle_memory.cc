#include "monitor/idle_memory.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>  // ElfW
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

namespace berth::monitor {
namespace {

constexpr uintptr_t kPage = 4096;

// The start of the mapping (in /proc/self/maps) that holds `address`, or 0. Reads in small
// chunks and parses only each line's "start-end" field: no allocation, a small frame.
__attribute__((noinline)) uintptr_t mapping_start_of(uintptr_t address) {
  int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  uintptr_t value = 0, start = 0, found = 0;
  enum { kStart, kEnd, kRest } field = kStart;
  for (ssize_t got; found == 0 && (got = ::read(fd, buf, sizeof buf)) > 0;) {
    for (ssize_t i = 0; i < got && found == 0; ++i) {
      char c = buf[i];
      if (c == '\n') {
        field = kStart;
        value = 0;
      } else if (field == kRest) {
        continue;
      } else if (c >= '0' && c <= '9') {
        value = value * 16 + static_cast<uintptr_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        value = value * 16 + static_cast<uintptr_t>(c - 'a' + 10);
      } else if (field == kStart) {  // the '-' between start and end
        start = value;
        value = 0;
        field = kEnd;
      } else {  // the ' ' after end
        if (start <= address && address < value) found = start;
        field = kRest;
      }
    }
  }
  ::close(fd);
  return found;
}

// Discards the stack pages from `low` up to a page below this function's frame: nothing live is
// there (the caller's frames are above), and what start-up's deep calls wrote is garbage.
__attribute__((noinline)) void discard_stack_below_here(uintptr_t low) {
  auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  uintptr_t end = (here & ~(kPage - 1)) - kPage;  // keeps this frame and madvise's return address
  if (low != 0 && low < end) ::madvise(reinterpret_cast<void*>(low), end - low, MADV_DONTNEED);
}

// The program's own ELF header, where the linker put it (GNU ld and lld define the symbol): its
// program headers are mapped with it, static or dynamic, PIE or not.
extern "C" const ElfW(Ehdr) __ehdr_start __attribute__((visibility("hidden")));

// Drops the pages of [begin, end) that are still the file's: mapped, and a file page in
// /proc/self/pagemap. A page the process wrote (relocated data, a variable, a debugger's
// breakpoint) is its own copy, which MADV_DONTNEED would replace with the file's bytes; a page
// not mapped may be one swapped out, whose copy MADV_DONTNEED would throw away.
[[gnu::hot]] void drop_file_pages(int pagemap, uintptr_t begin, uintptr_t end) {
  constexpr uint64_t kPresent = 1ULL << 63, kFilePage = 1ULL << 61;
  uint64_t entries[64];
  uintptr_t run = 0;  // the first page of the run of droppable pages before `at` (0: none)
  uintptr_t at = begin;
  while (at < end) {
    size_t n = std::min<size_t>(64, (end - at) / kPage);
    auto bytes = static_cast<ssize_t>(n * sizeof entries[0]);
    if (::pread(pagemap, entries, static_cast<size_t>(bytes),
                static_cast<off_t>(at / kPage * sizeof entries[0])) != bytes)
      break;
    for (size_t i = 0; i < n; ++i, at += kPage) {
      bool droppable = (entries[i] & (kPresent | kFilePage)) == (kPresent | kFilePage);
      if (droppable && run == 0) run = at;
      if (!droppable && run != 0) {
        ::madvise(reinterpret_cast<void*>(run), at - run, MADV_DONTNEED);
        run = 0;
      }
    }
  }
  if (run != 0) ::madvise(reinterpret_cast<void*>(run), at - run, MADV_DONTNEED);
}

// The wait path's bounds, from idle_layout.ld (null when the program was linked without it).
extern "C" const char __monitor_wait_start[] __attribute__((weak, visibility("hidden")));
extern "C" const char __monitor_wait_end[] __attribute__((weak, visibility("hidden")));

// Drops the program's pages that are still the file's, its code last: from the first madvise on
// the code, only this function, the callers and the kernel's way back run, all on the wait path
// (idle_layout.ld).
[[gnu::hot]] void release_program_pages() {
  // The wait path in a mapping of its own: the kernel's fault-around (16 pages) stops at a
  // mapping's end, so coming back it maps these few pages, not the 64 KiB around them. Any
  // advice that sets a flag on part of a mapping splits it; MADV_RANDOM's (no read-ahead) costs
  // nothing on pages already in the page cache.
  if (__monitor_wait_start != nullptr && __monitor_wait_end != nullptr) {
    auto begin = reinterpret_cast<uintptr_t>(__monitor_wait_start) & ~(kPage - 1);
    auto end = (reinterpret_cast<uintptr_t>(__monitor_wait_end) + kPage - 1) & ~(kPage - 1);
    ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_RANDOM);
  }
  // Without /proc, only the code goes (never written, unless by a debugger).
  int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  auto base = reinterpret_cast<uintptr_t>(&__ehdr_start);
  auto* phdrs = reinterpret_cast<const ElfW(Phdr)*>(base + __ehdr_start.e_phoff);
  uintptr_t bias = base;  // where the segment at file offset 0 (the header's) was loaded
  for (int i = 0; i < __ehdr_start.e_phnum; ++i)
    if (phdrs[i].p_type == PT_LOAD && phdrs[i].p_offset == 0) bias = base - phdrs[i].p_vaddr;
  for (bool code : {false, true}) {
    for (int i = 0; i < __ehdr_start.e_phnum; ++i) {
      const ElfW(Phdr)& ph = phdrs[i];
      if (ph.p_type != PT_LOAD || ((ph.p_flags & PF_X) != 0) != code) continue;
      uintptr_t begin = (bias + ph.p_vaddr) & ~(kPage - 1);
      uintptr_t end = (bias + ph.p_vaddr + ph.p_memsz + kPage - 1) & ~(kPage - 1);
      if (pagemap >= 0)
        drop_file_pages(pagemap, begin, end);
      else if (code && !(ph.p_flags & PF_W))
        ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
    }
  }
  if (pagemap >= 0) ::close(pagemap);
}

}  // namespace

void release_idle_memory() {
  ::malloc_trim(0);
  discard_stack_below_here(
      mapping_start_of(reinterpret_cast<uintptr_t>(__builtin_frame_address(0))));
  // Last: from here to the caller's wait, only the code on the way back faults in again.
  release_program_pages();
}

}  // namespace berth::monitor
