// net/dns_names.h — a network's names file as berth-dns looks names up in it.
//
// The file (written by the engine, atomically) holds `NAME IPV4` lines: '#' starts a comment,
// blank lines are ignored, the same NAME on several lines gives several A records. Names match
// case-insensitively, with or without a trailing dot. A bad line is reported (file:line) and
// skipped; it never makes the whole file unusable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace berth::net::dns {

// "Web.Example." -> "web.example"; nullopt unless every label is 1-63 of [A-Za-z0-9_-] and the
// name at most 253 characters.
std::optional<std::string> normalise_name(std::string_view name);

class NameTable {
 public:
  // The addresses to answer for one query: addresses[(first + i) % size()] for i in [0, size).
  struct Answer {
    const std::vector<uint32_t>* addresses;  // network byte order, in file order
    size_t first;
  };

  // Parses a names file's text. `source` names the file in problems ("FILE:LINE: ...").
  static NameTable parse(std::string_view text, std::string_view source,
                         std::vector<std::string>& problems);

  // The records of `name` (lower case, no trailing dot, as dns::Query holds it). Each call
  // starts one address further on: round robin across queries.
  std::optional<Answer> find(std::string_view name);
  // The first name (as written in the file) given to an address, for PTR.
  const std::string* name_of(uint32_t address_be) const;

  size_t record_count() const { return records_; }
  size_t name_count() const { return names_.size(); }

 private:
  struct Entry {
    std::vector<uint32_t> addresses;
    size_t next = 0;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> names_;
  std::unordered_map<uint32_t, std::string> reverse_;
  size_t records_ = 0;
};

}  // namespace berth::net::dns
