// registry/access.h — who may pull, push and delete what: the server's --config file (JSON,
// format in docs/registry.md), htpasswd users (bcrypt, verified with libcrypt's crypt_r), rules
// with glob patterns, and the bearer-token flow. Without a config everything is allowed.
//
// Thread-safety: all const methods and authenticate() may be called from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "registry/token.h"

namespace berth::registry {

struct AccessRule {
  std::string repository;            // glob: "team/*"
  std::vector<std::string> users;    // names, or "*" for every signed-in user
  std::vector<std::string> actions;  // "pull", "push", "delete", "*"
};

struct TokenSettings {
  std::string realm;    // "https://registry.example/token": where clients fetch tokens
  std::string service;  // "berth-registry"
  std::string issuer;   // "berth"
  std::string key_file;
  int64_t ttl_seconds = 300;
  std::string key;  // the key file's bytes
};

struct AccessConfig {
  std::string htpasswd;                     // path
  std::vector<std::string> anonymous_pull;  // globs of repositories anyone may pull
  std::vector<AccessRule> rules;
  std::optional<TokenSettings> token;
};

// Parses the config document; errors name the field ("rules[1].actions[0]: 'write' is not one
// of pull, push, delete, *"). Relative paths are taken from `base_dir`.
Result<AccessConfig> parse_access_config(std::string_view json, std::string_view source,
                                         std::string_view base_dir);
// Reads the file, parses it and loads the htpasswd and token key files it names.
Result<AccessConfig> load_access_config(const std::string& path);

// Who a request is from.
struct Identity {
  std::string user;                         // empty: anonymous
  std::optional<std::vector<Grant>> token;  // set when a bearer token authenticated it
};

// What the server answers when a request is not allowed.
struct Refusal {
  int status;             // 401 or 403
  std::string code;       // "UNAUTHORIZED" or "DENIED"
  std::string message;    // "user 'bob' may not push to 'team/app' (needs push)"
  std::string challenge;  // WWW-Authenticate, for 401
};

class AccessControl {
 public:
  // No config: everything is allowed for everyone.
  AccessControl();
  explicit AccessControl(AccessConfig config);
  ~AccessControl();
  AccessControl(AccessControl&&) noexcept;
  AccessControl& operator=(AccessControl&&) noexcept;

  bool enabled() const;
  const std::optional<TokenSettings>& token_settings() const;

  // From an Authorization header (nullptr: none). unauthenticated for a wrong password, an
  // unknown user or a bad token; Basic with an empty user name is anonymous.
  Result<Identity> authenticate(const std::string* authorization);

  // The actions of `wanted` that `user` (empty: anonymous) may do on the repository, by the rules.
  std::vector<std::string> permitted(const std::string& user, const std::string& repository,
                                     const std::vector<std::string>& wanted) const;
  // Decides a request for `action` on `repository` (or type "registry", name "catalog").
  std::optional<Refusal> check(const Identity& who, const std::string& repository,
                               std::string_view action) const;
  // The 401 for a request without (valid) credentials; `scope` may be empty (the /v2/ ping).
  Refusal unauthorized(std::string message, std::string_view scope,
                       std::string_view error = {}) const;

  // The token endpoint: a signed token granting what `user` may do of `scopes`, as the JSON body
  // clients expect ({"token", "access_token", "expires_in", "issued_at"}).
  Result<std::string> issue_token(const std::string& user, const std::string& service,
                                  const std::vector<std::string>& scopes, int64_t now) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::registry
