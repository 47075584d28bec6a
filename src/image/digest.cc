#include "image/digest.h"

#include <openssl/evp.h>

#include "oci/image_spec.h"

namespace berth::image {

Result<Digest> Digest::parse(std::string_view text) {
  BERTH_TRY_VOID(oci::validate_digest(text));
  return Digest(std::string(text));
}

Digest Digest::from_sha256_bytes(const unsigned char* bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  out.reserve(7 + 64);
  for (int i = 0; i < 32; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0xf];
  }
  return Digest(std::move(out));
}

std::string_view Digest::algorithm() const {
  std::string_view v = value_;
  return v.substr(0, v.find(':'));
}

std::string_view Digest::encoded() const {
  std::string_view v = value_;
  auto colon = v.find(':');
  return colon == std::string_view::npos ? std::string_view() : v.substr(colon + 1);
}

struct Sha256::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Impl() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~Impl() { EVP_MD_CTX_free(ctx); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(const void* data, size_t size) {
  if (size) EVP_DigestUpdate(impl_->ctx, data, size);
}

Digest Sha256::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx, md, &len);
  EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
  return Digest::from_sha256_bytes(md);
}

Digest sha256_of(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

}  // namespace berth::image
