#include "registry/client_auth_config.h"

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/sys.h"
#include "http/client.h"

namespace berth::registry {
namespace {

// "https://host:5000/v1/" → "host:5000"; "index.docker.io" and "registry-1.docker.io" → "docker.io".
std::string normalise_key(std::string_view key) {
  if (auto sep = key.find("://"); sep != std::string_view::npos) key = key.substr(sep + 3);
  key = key.substr(0, key.find('/'));
  std::string out(key);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (out == "index.docker.io" || out == "registry-1.docker.io") return "docker.io";
  return out;
}

Result<nlohmann::json> parse_config(std::string_view json) {
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) return nlohmann::json::object();
  auto doc = parse_json(json, false);
  if (doc.is_discarded() || !doc.is_object())
    return Error::make(ErrorKind::corrupt, "not a JSON object");
  if (doc.contains("auths") && !doc["auths"].is_object())
    return Error::make(ErrorKind::corrupt, "field 'auths' is not an object");
  return doc;
}

}  // namespace

std::string auth_config_path() {
  if (const char* dir = std::getenv("DOCKER_CONFIG"); dir && *dir) return sys::join_path(dir, "config.json");
  const char* home = std::getenv("HOME");
  return sys::join_path(home && *home ? home : "/root", ".docker/config.json");
}

std::string auth_config_key(std::string_view registry) {
  std::string key = normalise_key(registry);
  return key == "docker.io" ? "https://index.docker.io/v1/" : key;
}

Result<std::optional<Credentials>> credentials_in_config(std::string_view json, std::string_view registry) {
  BERTH_TRY(auto doc, parse_config(json));
  if (!doc.contains("auths")) return std::optional<Credentials>();
  std::string wanted = normalise_key(registry);
  for (const auto& [key, entry] : doc["auths"].items()) {
    if (normalise_key(key) != wanted) continue;
    if (!entry.is_object()) return Error::make(ErrorKind::corrupt, "field 'auths.{}' is not an object", key);
    Credentials c;
    if (entry.contains("auth") && entry["auth"].is_string() && !entry["auth"].get<std::string>().empty()) {
      auto decoded = http::base64_decode(entry["auth"].get<std::string>());
      if (!decoded) return Error::make(ErrorKind::corrupt, "field 'auths.{}.auth': not base64", key);
      auto colon = decoded->find(':');
      if (colon == std::string::npos)
        return Error::make(ErrorKind::corrupt, "field 'auths.{}.auth': not base64 of 'user:password'", key);
      c.username = decoded->substr(0, colon);
      c.password = decoded->substr(colon + 1);
    } else if (entry.contains("username") && entry["username"].is_string()) {
      c.username = entry["username"].get<std::string>();
      c.password = entry.value("password", "");
    } else {
      continue;  // e.g. an entry managed by a credential helper
    }
    return std::optional<Credentials>(std::move(c));
  }
  return std::optional<Credentials>();
}

namespace {
// nlohmann throws on a key that is not UTF-8 (a registry name given so on the command line).
Result<std::string> dump_config(const nlohmann::json& doc, std::string_view registry) {
  try {
    return doc.dump(1, '\t') + "\n";
  } catch (const nlohmann::json::exception&) {
    return Error::make(ErrorKind::invalid_argument, "registry '{}': not valid UTF-8", registry);
  }
}
}  // namespace

Result<std::string> config_with_credentials(std::string_view json, std::string_view registry,
                                            const std::optional<Credentials>& credentials) {
  BERTH_TRY(auto doc, parse_config(json));
  if (!doc.contains("auths")) doc["auths"] = nlohmann::json::object();
  auto& auths = doc["auths"];
  std::string wanted = normalise_key(registry);
  for (auto it = auths.begin(); it != auths.end();) {
    if (normalise_key(it.key()) == wanted)
      it = auths.erase(it);
    else
      ++it;
  }
  if (credentials)
    auths[auth_config_key(registry)] = {
        {"auth", http::base64_encode(credentials->username + ":" + credentials->password)}};
  return dump_config(doc, registry);
}

Result<std::optional<std::string>> credential_helper_in_config(std::string_view json, std::string_view registry) {
  BERTH_TRY(auto doc, parse_config(json));
  if (doc.contains("credHelpers")) {
    if (!doc["credHelpers"].is_object()) return Error::make(ErrorKind::corrupt, "field 'credHelpers' is not an object");
    std::string wanted = normalise_key(registry);
    for (const auto& [key, name] : doc["credHelpers"].items()) {
      if (normalise_key(key) != wanted) continue;
      if (!name.is_string()) return Error::make(ErrorKind::corrupt, "field 'credHelpers.{}' is not a string", key);
      if (!name.get<std::string>().empty()) return std::optional(name.get<std::string>());
    }
  }
  if (doc.contains("credsStore")) {
    if (!doc["credsStore"].is_string()) return Error::make(ErrorKind::corrupt, "field 'credsStore' is not a string");
    if (!doc["credsStore"].get<std::string>().empty()) return std::optional(doc["credsStore"].get<std::string>());
  }
  return std::optional<std::string>();
}

Result<std::string> config_with_helper_entry(std::string_view json, std::string_view registry, bool present) {
  BERTH_TRY(auto text, config_with_credentials(json, registry, std::nullopt));
  if (!present) return text;
  auto doc = parse_json(text);
  doc["auths"][auth_config_key(registry)] = nlohmann::json::object();
  return dump_config(doc, registry);
}

}  // namespace berth::registry
