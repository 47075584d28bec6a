#include "image/reference.h"

#include <fmt/format.h>

#include <cctype>

namespace berth::image {
namespace {

constexpr size_t kMaxNameLength = 255;

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool word(char c) { return alnum(c) || c == '_'; }

// path-component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
bool valid_path_component(std::string_view c) {
  if (c.empty() || !lower_alnum(c.front()) || !lower_alnum(c.back())) return false;
  size_t i = 0;
  while (i < c.size()) {
    if (lower_alnum(c[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < c.size() && !lower_alnum(c[i])) ++i;
    std::string_view sep = c.substr(start, i - start);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
  }
  return true;
}

// domain-name components [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])? joined by '.', or [ipv6],
// then an optional :port.
bool valid_domain(std::string_view d) {
  std::string_view host = d;
  if (!d.empty() && d.front() == '[') {
    auto close = d.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (char c : d.substr(1, close - 1))
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':')) return false;
    std::string_view rest = d.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':' || rest.size() < 2) return false;
    return rest.substr(1).find_first_not_of("0123456789") == std::string_view::npos;
  }
  auto colon = d.find(':');
  if (colon != std::string_view::npos) {
    std::string_view port = d.substr(colon + 1);
    if (port.empty() || port.find_first_not_of("0123456789") != std::string_view::npos)
      return false;
    host = d.substr(0, colon);
  }
  if (host.empty()) return false;
  size_t start = 0;
  while (start <= host.size()) {
    size_t end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    std::string_view label = host.substr(start, end - start);
    if (label.empty() || !alnum(label.front()) || !alnum(label.back())) return false;
    for (char c : label)
      if (!alnum(c) && c != '-') return false;
    start = end + 1;
  }
  return true;
}

Error bad(std::string_view text, std::string_view problem) {
  return Error::make(ErrorKind::invalid_argument, "invalid reference '{}': {}", text, problem);
}

}  // namespace

bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128 || !word(tag.front())) return false;
  for (char c : tag)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

Result<Reference> Reference::parse(std::string_view text) {
  if (text.empty()) return bad(text, "empty");
  Reference ref;
  std::string_view rest = text;

  if (auto at = rest.find('@'); at != std::string_view::npos) {
    auto digest = Digest::parse(rest.substr(at + 1));
    if (!digest) return bad(text, digest.error().message());
    ref.digest_ = std::move(*digest);
    rest = rest.substr(0, at);
  }
  // A tag follows the last ':' after the last '/' (a ':' before it belongs to a port).
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    std::string_view tag = rest.substr(colon + 1);
    if (!is_valid_tag(tag))
      return bad(text, fmt::format("tag '{}' is not valid: use up to 128 of [A-Za-z0-9_.-], not "
                                   "starting with '.' or '-'",
                                   tag));
    ref.tag_ = std::string(tag);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return bad(text, "no repository name");

  // The first component is a domain when it looks like one (Docker's rule).
  std::string_view path = rest;
  auto first = rest.find('/');
  if (first != std::string_view::npos) {
    std::string_view head = rest.substr(0, first);
    if (head.find_first_of(".:") != std::string_view::npos || head == "localhost" ||
        head.front() == '[') {
      if (!valid_domain(head)) return bad(text, fmt::format("'{}' is not a valid registry host", head));
      ref.domain_ = std::string(head);
      path = rest.substr(first + 1);
    }
  }
  if (ref.domain_.empty()) ref.domain_ = "localhost";
  if (path.empty()) return bad(text, "no repository name");

  bool has_upper = false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view component = path.substr(start, end - start);
    for (char c : component) has_upper |= (c >= 'A' && c <= 'Z');
    if (has_upper) return bad(text, "repository name must be lower-case");
    if (!valid_path_component(component))
      return bad(text, component.empty()
                           ? std::string("empty path component")
                           : fmt::format("path component '{}' is not valid: use [a-z0-9] "
                                         "separated by '.', '_', '__' or '-'",
                                         component));
    start = end + 1;
  }
  if (path.size() == 64 && path.find_first_not_of("0123456789abcdef") == std::string_view::npos &&
      first == std::string_view::npos)
    return bad(text, "a 64-digit hex string is an image id, not a repository name");
  ref.path_ = std::string(path);
  if (ref.repository().size() > kMaxNameLength)
    return bad(text, fmt::format("repository name longer than {} characters", kMaxNameLength));
  if (ref.tag_.empty() && !ref.digest_) ref.tag_ = "latest";
  return ref;
}

std::string Reference::to_string() const {
  std::string out = repository();
  if (!tag_.empty()) out += ":" + tag_;
  if (digest_) out += "@" + digest_->str();
  return out;
}

Reference Reference::with_tag(std::string tag) const {
  Reference r = *this;
  r.tag_ = std::move(tag);
  r.digest_.reset();
  return r;
}

}  // namespace berth::image
