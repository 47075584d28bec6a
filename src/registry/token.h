// registry/token.h — the bearer tokens of the Docker token flow (distribution's
// docs/spec/auth/token.md): compact JWTs signed with HMAC-SHA256 under the registry's own key.
// Clients treat them as opaque; only this server verifies them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace berth::registry {

// One granted scope: type "repository" (name = repository) or "registry" (name = "catalog").
struct Grant {
  std::string type;
  std::string name;
  std::vector<std::string> actions;  // "pull", "push", "delete", "*"

  bool allows(std::string_view action) const;
};

struct TokenClaims {
  std::string issuer;      // iss
  std::string subject;     // sub: the user, empty for anonymous
  std::string audience;    // aud: the service
  int64_t issued_at = 0;   // iat, seconds since the epoch
  int64_t not_before = 0;  // nbf
  int64_t expires_at = 0;  // exp
  std::string id;          // jti
  std::vector<Grant> access;
};

std::string sign_token(const TokenClaims& claims, std::string_view key);
// Checks structure, algorithm (HS256 only), signature, audience and issuer, and that `now` lies in
// [nbf - 60 s, exp). unauthenticated errors say which check failed.
Result<TokenClaims> verify_token(std::string_view token, std::string_view key,
                                 std::string_view audience, std::string_view issuer, int64_t now);

// Parses "repository:team/app:pull,push" (also "repository(plugin):…", "registry:catalog:*").
// invalid_argument for anything else.
Result<Grant> parse_scope(std::string_view scope);

std::string base64url_encode(std::string_view data);
// Standard (`url` false, padding optional) or URL-safe base64; invalid_argument when malformed.
Result<std::string> base64_decode_text(std::string_view text, bool url);

}  // namespace berth::registry
