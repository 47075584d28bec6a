// registry/client_credentials.h — a registry's login, wherever Docker's config.json says it is
// kept: a credential helper (`docker-credential-NAME get|store|erase`, from "credHelpers" or
// "credsStore") or the file's own "auths" entry. `berth login/logout/pull/push` use these, so
// logins are shared with the docker CLI in both directions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "registry/client_auth_config.h"

namespace berth::registry {

class CredentialStore {
 public:
  // The store described by the config.json at `path` (auth_config_path() by default); a missing
  // file is an empty one.
  static Result<CredentialStore> open(std::string path = auth_config_path());

  // nullopt when nothing is stored for the registry (a helper's "credentials not found" too).
  Result<std::optional<Credentials>> get(std::string_view registry) const;
  // Stores the login; returns the credential helper that keeps it, nullopt when the file does.
  Result<std::optional<std::string>> store(std::string_view registry, const Credentials& credentials);
  // Removes the login; returns whether there was one.
  Result<bool> erase(std::string_view registry);

  const std::string& path() const { return path_; }

 private:
  CredentialStore(std::string path, std::string text) : path_(std::move(path)), text_(std::move(text)) {}
  Result<void> write(const std::string& text);

  std::string path_;
  std::string text_;  // the file as read ("" when absent)
};

// The credential helper protocol, exposed for tests: runs `docker-credential-<helper> <verb>`
// found in $PATH with `input` on stdin; returns its stdout, or nullopt when it answered
// "credentials not found". Errors name the helper and quote what it said.
Result<std::optional<std::string>> run_credential_helper(const std::string& helper, const std::string& verb,
                                                         const std::string& input);

}  // namespace berth::registry
