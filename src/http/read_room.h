// http/read_room.h — what one Beast read may add to a connection's buffer, for the client and the
// server that bound their buffers by it.
#pragma once

#include <cstddef>

namespace berth::http {

// Beast limits a head but not a chunked body's chunk-size line or trailers, and keeps all of one
// that never ends; a bounded buffer holds a head's limit plus this (Beast reads up to 64 KiB).
inline constexpr size_t kReadRoom = 64 * 1024 + 4096;

}  // namespace berth::http
