#include "registry/client_auth_config.h"

#include <sys/stat.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

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
  auto doc = nlohmann::json::parse(json, nullptr, false);
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
  return doc.dump(1, '\t') + "\n";
}

Result<std::optional<Credentials>> load_credentials(const std::string& path, std::string_view registry) {
  if (!sys::exists(path)) return std::optional<Credentials>();
  BERTH_TRY(auto text, sys::read_file(path));
  return credentials_in_config(text, registry).context(fmt::format("read credentials from '{}'", path));
}

Result<bool> store_credentials(const std::string& path, std::string_view registry,
                               const std::optional<Credentials>& credentials) {
  std::string ctx = fmt::format("write credentials to '{}'", path);
  std::string text;
  if (sys::exists(path)) {
    BERTH_TRY_CTX(text, sys::read_file(path), ctx);
  }
  BERTH_TRY(auto before, credentials_in_config(text, registry).context(ctx));
  BERTH_TRY(auto updated, config_with_credentials(text, registry, credentials).context(ctx));
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) BERTH_TRY_VOID(sys::mkdir_all(path.substr(0, slash), 0700).context(ctx));
  BERTH_TRY_VOID(sys::atomic_write(path, updated, 0600).context(ctx));
  // A temporary left by an older writer keeps its mode through O_TRUNC: make sure.
  if (::chmod(path.c_str(), 0600) < 0) return Error::from_errno("chmod '{}'", path).context(ctx);
  return before.has_value();
}

}  // namespace berth::registry
