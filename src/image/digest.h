// image/digest.h — content digests ("sha256:<64 hex>") and a streaming sha256 hasher.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"

namespace berth::image {

// A validated digest. Only sha256 digests can be computed here; parse accepts any digest the
// OCI grammar allows so that callers can report "unsupported algorithm" rather than "invalid".
class Digest {
 public:
  Digest() = default;
  static Result<Digest> parse(std::string_view text);
  // From 32 raw bytes of a sha256 sum.
  static Digest from_sha256_bytes(const unsigned char* bytes);

  const std::string& str() const { return value_; }
  std::string_view algorithm() const;
  std::string_view encoded() const;  // the hex part
  bool is_sha256() const { return algorithm() == "sha256"; }
  bool empty() const { return value_.empty(); }
  // The first 12 hex digits, as `berth images` shows image ids.
  std::string short_id() const { return std::string(encoded().substr(0, 12)); }

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;

 private:
  explicit Digest(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

// Incremental sha256 (OpenSSL EVP underneath). Not thread-safe; movable.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Returns the digest of everything given so far; the hasher then starts over.
  Digest finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Digest sha256_of(std::string_view data);

}  // namespace berth::image

template <>
struct std::hash<berth::image::Digest> {
  size_t operator()(const berth::image::Digest& d) const noexcept {
    return std::hash<std::string>()(d.str());
  }
};
