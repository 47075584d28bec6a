#include "net/dns_names.h"

#include <arpa/inet.h>
#include <fmt/core.h>

#include <algorithm>

#include "net/detail/dns_text.h"

namespace berth::net::dns {

std::optional<std::string> normalise_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return std::nullopt;
  std::string out;
  out.reserve(name.size());
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
      out += c;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok || ++label > 63) return std::nullopt;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  if (label == 0) return std::nullopt;
  return out;
}

NameTable NameTable::parse(std::string_view text, std::string_view source,
                           std::vector<std::string>& problems) {
  NameTable table;
  size_t line_no = 0;
  std::string_view line;
  while (detail::take_line(text, line)) {
    ++line_no;
    const auto fields = detail::fields_of(line);
    if (fields.empty()) continue;
    auto bad = [&](std::string_view what) {
      problems.push_back(fmt::format("{}:{}: {}; line skipped", source, line_no, what));
    };
    if (fields.size() != 2) {
      bad(fmt::format("expected 'NAME IPV4', got {} field{}", fields.size(),
                      fields.size() == 1 ? "" : "s"));
      continue;
    }
    auto name = normalise_name(fields[0]);
    if (!name) {
      bad(fmt::format("'{}' is not a valid name (labels of letters, digits, '-', '_')", fields[0]));
      continue;
    }
    in_addr address{};
    if (::inet_pton(AF_INET, std::string(fields[1]).c_str(), &address) != 1) {
      bad(fmt::format("'{}' is not an IPv4 address", fields[1]));
      continue;
    }
    auto& entry = table.names_[*name];
    if (std::find(entry.addresses.begin(), entry.addresses.end(), address.s_addr) !=
        entry.addresses.end()) {
      continue;  // a repeated line adds nothing
    }
    entry.addresses.push_back(address.s_addr);
    ++table.records_;
    std::string written(fields[0]);
    if (!written.empty() && written.back() == '.') written.pop_back();
    table.reverse_.try_emplace(address.s_addr, std::move(written));
  }
  return table;
}

std::optional<NameTable::Answer> NameTable::find(std::string_view name) {
  auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  Entry& entry = it->second;
  const size_t first = entry.next;
  entry.next = (entry.next + 1) % entry.addresses.size();
  return Answer{&entry.addresses, first};
}

const std::string* NameTable::name_of(uint32_t address_be) const {
  auto it = reverse_.find(address_be);
  return it == reverse_.end() ? nullptr : &it->second;
}

}  // namespace berth::net::dns
