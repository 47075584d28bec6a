// image/reference.h — image references as users type them, normalised the way local images are
// named: `busybox` → `localhost/busybox:latest`, `host:5000/a/b:tag`, `name@sha256:…`.
// Grammar: github.com/distribution/reference (domain, path components, tag, digest).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "image/digest.h"

namespace berth::image {

class Reference {
 public:
  // Parses and normalises: a missing domain becomes "localhost"; a reference with neither tag
  // nor digest gets the tag "latest". Errors (invalid_argument) name the reference and say
  // what is wrong with it.
  static Result<Reference> parse(std::string_view text);

  const std::string& domain() const { return domain_; }  // "localhost", "host:5000"
  const std::string& path() const { return path_; }      // "busybox", "a/b"
  const std::string& tag() const { return tag_; }        // empty when only a digest was given
  const std::optional<Digest>& digest() const { return digest_; }

  std::string repository() const { return domain_ + "/" + path_; }  // "localhost/busybox"
  // "localhost/busybox:latest", "host/a@sha256:…", "host/a:1@sha256:…".
  std::string to_string() const;
  // The same repository with another tag and no digest.
  Reference with_tag(std::string tag) const;

  friend bool operator==(const Reference&, const Reference&) = default;

 private:
  std::string domain_, path_, tag_;
  std::optional<Digest> digest_;
};

// Tag grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
bool is_valid_tag(std::string_view tag);

}  // namespace berth::image
