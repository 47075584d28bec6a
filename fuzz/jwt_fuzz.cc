// jwt: the registry's bearer tokens (registry/token.h): verify_token on hostile JWTs (header,
// claims, signature), token scopes, and base64 in both alphabets. A token berth signs must verify.
#include "fuzz_util.h"
#include "registry/token.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  std::string_view text = fuzz::as_text(data, size);
  constexpr int64_t kNow = 1700000000;
  (void)registry::verify_token(text, "fuzz-signing-key", "berth-registry", "berth", kNow);
  if (auto grant = registry::parse_scope(text)) {
    (void)grant->allows("pull");
    registry::TokenClaims claims;
    claims.issuer = "berth";
    claims.audience = "berth-registry";
    claims.subject = "alice";
    claims.issued_at = kNow;
    claims.not_before = kNow;
    claims.expires_at = kNow + 300;
    claims.access.push_back(*grant);
    std::string token = registry::sign_token(claims, "k");
    auto verified = registry::verify_token(token, "k", "berth-registry", "berth", kNow);
    if (!verified) fuzz::violated("a signed token does not verify", verified.error().message());
    if (verified->subject != claims.subject || verified->access.size() != 1 ||
        verified->access[0].name != grant->name)
      fuzz::violated("a signed token's claims changed", token);
  }
  (void)registry::base64_decode_text(text, false);
  (void)registry::base64_decode_text(text, true);
  auto decoded = registry::base64_decode_text(registry::base64url_encode(text), true);
  if (!decoded || *decoded != text) fuzz::violated("base64url round trip");
  return 0;
}
