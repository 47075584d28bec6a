// registry/client_auth_config.h — registry credentials in Docker's config.json
// (`{"auths": {"host:port": {"auth": base64("user:password")}}}`), so `docker login` and
// `berth login` share them. Other fields of the file are kept as they are.
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

// From the file at `path`; nullopt when the file or the entry does not exist.
Result<std::optional<Credentials>> load_credentials(const std::string& path, std::string_view registry);
// Writes the file (temp + rename, mode 0600, its directory created 0700). Returns whether an
// entry was there before (for logout's message).
Result<bool> store_credentials(const std::string& path, std::string_view registry,
                               const std::optional<Credentials>& credentials);

}  // namespace berth::registry
