#include "registry/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/sys.h"
#include "registry/names.h"

namespace berth::registry {
namespace {

using nlohmann::json;

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<const char*>(md), len);
}

Error bad_token(std::string_view why) {
  return Error::make(ErrorKind::unauthenticated, "bearer token {}", why);
}

}  // namespace

bool Grant::allows(std::string_view action) const {
  return std::any_of(actions.begin(), actions.end(),
                     [&](const std::string& a) { return a == action || a == "*"; });
}

std::string base64url_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

Result<std::string> base64_decode_text(std::string_view text, bool url) {
  std::string in(text);
  for (char& c : in) {
    if (url && (c == '+' || c == '/'))
      return Error(ErrorKind::invalid_argument, "not URL-safe base64");
    if (url) c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  while (in.size() % 4) in += '=';
  size_t padding = 0;
  for (size_t i = in.size(); i > 0 && in[i - 1] == '=' && padding < 2; --i) ++padding;
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0 || static_cast<size_t>(n) < padding)
    return Error(ErrorKind::invalid_argument, "malformed base64");
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

std::string sign_token(const TokenClaims& c, std::string_view key) {
  json access = json::array();
  for (const auto& g : c.access)
    access.push_back({{"type", g.type}, {"name", g.name}, {"actions", g.actions}});
  json claims = {{"iss", c.issuer},    {"sub", c.subject},    {"aud", c.audience},
                 {"iat", c.issued_at}, {"nbf", c.not_before}, {"exp", c.expires_at},
                 {"jti", c.id},        {"access", access}};
  std::string signing_input =
      base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url_encode(claims.dump());
  return signing_input + "." + base64url_encode(hmac_sha256(key, signing_input));
}

Result<TokenClaims> verify_token(std::string_view token, std::string_view key,
                                 std::string_view audience, std::string_view issuer, int64_t now) {
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return bad_token("is not a JWT (header.claims.signature)");
  auto header_text = base64_decode_text(token.substr(0, dot1), true);
  auto claims_text = base64_decode_text(token.substr(dot1 + 1, dot2 - dot1 - 1), true);
  auto signature = base64_decode_text(token.substr(dot2 + 1), true);
  if (!header_text || !claims_text || !signature) return bad_token("is not base64url-encoded");
  json header = parse_json(*header_text, false);
  // Not value("alg", ""): that throws when "alg" is there but not a string.
  if (!header.is_object() || !header.contains("alg") || header["alg"] != "HS256")
    return bad_token("is not signed with HS256");
  std::string expected = hmac_sha256(key, token.substr(0, dot2));
  if (signature->size() != expected.size() ||
      CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0)
    return bad_token("has a bad signature (issued by another server or key?)");
  json j = parse_json(*claims_text, false);
  if (!j.is_object()) return bad_token("claims are not a JSON object");
  TokenClaims c;
  try {
    c.issuer = j.value("iss", "");
    c.subject = j.value("sub", "");
    c.audience = j.value("aud", "");
    c.issued_at = j.value("iat", int64_t{0});
    c.not_before = j.value("nbf", int64_t{0});
    c.expires_at = j.value("exp", int64_t{0});
    c.id = j.value("jti", "");
    for (const auto& a : j.value("access", json::array()))
      c.access.push_back({a.value("type", ""), a.value("name", ""),
                          a.value("actions", std::vector<std::string>{})});
  } catch (const json::exception& e) {
    return bad_token(fmt::format("claims are malformed: {}", e.what()));
  }
  if (c.audience != audience)
    return bad_token(fmt::format("is for service '{}', not '{}'", c.audience, audience));
  if (c.issuer != issuer)
    return bad_token(fmt::format("was issued by '{}', not '{}'", c.issuer, issuer));
  if (now >= c.expires_at) return bad_token("has expired: ask the token endpoint for a new one");
  if (now + 60 < c.not_before) return bad_token("is not valid yet (clock skew?)");
  return c;
}

Result<Grant> parse_scope(std::string_view scope) {
  // type[(class)]:name:actions — the name may itself contain ':' (a port), so split at the ends.
  auto first = scope.find(':');
  auto last = scope.rfind(':');
  if (first == std::string_view::npos || first == last)
    return Error::make(ErrorKind::invalid_argument, "scope '{}': use repository:NAME:ACTIONS",
                       scope);
  Grant g;
  g.type = std::string(scope.substr(0, first));
  if (auto paren = g.type.find('('); paren != std::string::npos) g.type.resize(paren);
  g.name = std::string(scope.substr(first + 1, last - first - 1));
  for (const auto& a : sys::split(scope.substr(last + 1), ',')) g.actions.push_back(a);
  if ((g.type != "repository" && g.type != "registry") || g.name.empty())
    return Error::make(ErrorKind::invalid_argument, "scope '{}': use repository:NAME:ACTIONS",
                       scope);
  for (const auto& a : g.actions)
    if (!std::all_of(a.begin(), a.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '*' || c == '-' || c == '_'; }))
      return Error::make(ErrorKind::invalid_argument, "scope '{}': bad action '{}'", scope, a);
  // The name is signed into a token as JSON: it must be a repository name (so UTF-8).
  if (g.type == "registry" && g.name != "catalog")
    return Error::make(ErrorKind::invalid_argument, "scope '{}': the registry scope is registry:catalog:*", scope);
  if (g.type == "repository") BERTH_TRY_VOID(validate_repository(g.name).context(fmt::format("scope '{}'", scope)));
  return g;
}

}  // namespace berth::registry
