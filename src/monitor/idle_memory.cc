#include "monitor/idle_memory.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

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

// dl_iterate_phdr calls this for the program first, then for each shared object.
int release_program_pages(struct dl_phdr_info* info, size_t, void*) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    // Only segments that are never written: a writable one (relro included) holds relocated or
    // changed pages that MADV_DONTNEED would replace with the file's bytes.
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W)) continue;
    uintptr_t begin = (info->dlpi_addr + ph.p_vaddr + kPage - 1) & ~(kPage - 1);
    uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz) & ~(kPage - 1);
    if (begin < end) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
  return 1;  // the program only: shared objects' pages are shared with other processes
}

}  // namespace

void release_idle_memory() {
  ::malloc_trim(0);
  discard_stack_below_here(mapping_start_of(reinterpret_cast<uintptr_t>(__builtin_frame_address(0))));
  // Last: from here to the caller's wait, only the code on the way back faults in again.
  dl_iterate_phdr(release_program_pages, nullptr);
}

}  // namespace berth::monitor
