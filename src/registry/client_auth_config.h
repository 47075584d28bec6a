// registry/client_auth_config.h — registry credentials in Docker's config.json
// (`{"auths": {"host:port": {"auth": base64("user:password")}}}`), so `docker login` and
// `berth login` share them, and the credential helpers it names ("credsStore", "credHelpers").
// Pure functions on the document's text; registry/client_credentials.h reads and writes the file.
// Other fields of the file are kept as they are.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"

namespace berth::registry {

struct Credentials {
  std::string username;
  std::string password;
  friend bool operator==(const Credentials&, const Credentials&) = default;
};

// $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json.
std::string auth_config_path();

// The key a registry's entry has in "auths": "host:port" as in image references, and Docker's
// historical "https://index.docker.io/v1/" for docker.io.
std::string auth_config_key(std::string_view registry);

// The credentials for `registry` in a config.json document. Keys are matched with or without a
// scheme and path ("https://host:5000/v1/" matches host:5000). Errors name the field.
Result<std::optional<Credentials>> credentials_in_config(std::string_view json, std::string_view registry);
// The document with the registry's entry set (or removed, when `credentials` is empty).
// `json` may be empty (a new file).
Result<std::string> config_with_credentials(std::string_view json, std::string_view registry,
                                            const std::optional<Credentials>& credentials);

// The credential helper config.json names for `registry`: its "credHelpers" entry, else
// "credsStore"; nullopt when neither names one (credentials then live in "auths").
Result<std::optional<std::string>> credential_helper_in_config(std::string_view json, std::string_view registry);
// The document with the registry's "auths" entry replaced by the empty object Docker leaves
// there when a helper keeps the secret (`present`), or removed.
Result<std::string> config_with_helper_entry(std::string_view json, std::string_view registry, bool present);

}  // namespace berth::registry
