// monitor/idle_memory.h — what a waiting monitor gives back to the kernel. One berth-monitor
// runs per container and spends its life waiting, so its resident pages while it waits are the
// cost that counts (bench/run.sh, docs/monitor.md).
#pragma once

namespace berth::monitor {

// Drops this process's mappings of its program's read-only pages (code and constants: they stay
// in the page cache, and those the next event needs fault back in, 16 at a time), returns free
// heap to the kernel, and discards the stack below the caller (what start-up's deeper calls
// left there). Costs a few microseconds; best effort: a failed madvise only leaves pages mapped.
// Call it from the thread whose stack it may trim, with no other thread running.
[[gnu::hot]] void release_idle_memory();

}  // namespace berth::monitor
