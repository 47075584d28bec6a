#include "registry/access.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/sys.h"
#include "image/digest.h"
#include "registry/names.h"

namespace berth::registry {
namespace {

using nlohmann::json;

constexpr int64_t kCredentialCacheSeconds = 300;

bool is_action(std::string_view a) {
  return a == "pull" || a == "push" || a == "delete" || a == "*";
}

Result<std::vector<std::string>> string_list(const json& j, const std::string& field) {
  std::vector<std::string> out;
  if (!j.is_array())
    return Error::make(ErrorKind::invalid_argument, "'{}' must be a list of strings", field);
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string())
      return Error::make(ErrorKind::invalid_argument, "'{}[{}]' must be a string", field, i);
    out.push_back(j[i].get<std::string>());
  }
  return out;
}

std::string resolve(std::string_view base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return sys::join_path(base_dir, path);
}

int64_t now_seconds() { return clock::now_ns() / 1'000'000'000; }

// htpasswd users, reloaded when the file changes; verified passwords are remembered for a few
// minutes (by a hash of user, password and entry), since bcrypt costs milliseconds per check and
// Basic auth sends the password with every request.
class Htpasswd {
 public:
  explicit Htpasswd(std::string path) : path_(std::move(path)) {}

  Result<void> load() {
    std::lock_guard lock(mutex_);
    return reload_locked();
  }

  bool verify(const std::string& user, const std::string& password) {
    std::string hash, key;
    int64_t now = now_seconds();
    {
      std::lock_guard lock(mutex_);
      struct stat st;
      if (::stat(path_.c_str(), &st) == 0 &&
          st.st_mtim.tv_sec * 1'000'000'000 + st.st_mtim.tv_nsec != mtime_ns_) {
        if (auto r = reload_locked(); !r) log::warn(r.error().message());
      }
      auto it = users_.find(user);
      if (it == users_.end()) return false;
      hash = it->second;
      key = image::sha256_of(user + '\0' + password + '\0' + hash).str();
      if (auto c = verified_.find(key); c != verified_.end() && c->second > now) return true;
    }
    // bcrypt takes milliseconds: other threads' requests need not wait for it.
    auto data = std::make_unique<crypt_data>();
    const char* out = ::crypt_r(password.c_str(), hash.c_str(), data.get());
    if (!out || out[0] == '*' || std::strlen(out) != hash.size() ||
        CRYPTO_memcmp(out, hash.data(), hash.size()) != 0)
      return false;
    std::lock_guard lock(mutex_);
    if (verified_.size() > 10000) verified_.clear();
    verified_[key] = now + kCredentialCacheSeconds;
    return true;
  }

 private:
  Result<void> reload_locked() {
    struct stat st;
    if (::stat(path_.c_str(), &st) < 0) return Error::from_errno("read htpasswd '{}'", path_);
    BERTH_TRY(auto text, sys::read_file(path_));
    std::map<std::string, std::string> users;
    size_t line_no = 0;
    for (const auto& line : sys::split(text, '\n')) {
      ++line_no;
      std::string l = line;
      while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.pop_back();
      if (l.empty() || l[0] == '#') continue;
      auto colon = l.find(':');
      if (colon == std::string::npos || colon == 0)
        return Error::make(ErrorKind::invalid_argument, "htpasswd '{}' line {}: expected USER:HASH",
                           path_, line_no);
      std::string hash = l.substr(colon + 1);
      if (!hash.starts_with("$2y$") && !hash.starts_with("$2b$") && !hash.starts_with("$2a$"))
        return Error::make(ErrorKind::invalid_argument,
                           "htpasswd '{}' line {}: user '{}' has no bcrypt hash", path_, line_no,
                           l.substr(0, colon))
            .with_hint("create entries with 'htpasswd -B' (bcrypt)");
      users[l.substr(0, colon)] = hash;
    }
    users_ = std::move(users);
    verified_.clear();
    mtime_ns_ = st.st_mtim.tv_sec * 1'000'000'000 + st.st_mtim.tv_nsec;
    return {};
  }

  std::string path_;
  std::mutex mutex_;
  std::map<std::string, std::string> users_;
  std::map<std::string, int64_t> verified_;
  int64_t mtime_ns_ = 0;
};

std::string quote_param(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Result<AccessConfig> parse_access_config(std::string_view text, std::string_view source,
                                         std::string_view base_dir) {
  json j = parse_json(text, false);
  auto bad = [&](std::string what) {
    return Error::make(ErrorKind::invalid_argument, "registry config '{}': {}", source, what)
        .with_hint("see docs/registry.md for the format");
  };
  if (j.is_discarded()) return bad("not valid JSON");
  if (!j.is_object()) return bad("the document must be a JSON object");
  AccessConfig c;
  for (const auto& [key, value] : j.items()) {
    if (key == "htpasswd") {
      if (!value.is_string()) return bad("'htpasswd' must be a path");
      c.htpasswd = resolve(base_dir, value.get<std::string>());
    } else if (key == "anonymous_pull") {
      auto list = string_list(value, key);
      if (!list) return bad(list.error().message());
      c.anonymous_pull = *list;
    } else if (key == "rules") {
      if (!value.is_array()) return bad("'rules' must be a list");
      for (size_t i = 0; i < value.size(); ++i) {
        const json& r = value[i];
        std::string at = fmt::format("rules[{}]", i);
        if (!r.is_object()) return bad(at + " must be an object");
        AccessRule rule;
        for (const auto& [rk, rv] : r.items()) {
          if (rk == "repository") {
            if (!rv.is_string()) return bad(at + ".repository must be a string");
            rule.repository = rv.get<std::string>();
          } else if (rk == "users" || rk == "actions") {
            auto list = string_list(rv, at + "." + rk);
            if (!list) return bad(list.error().message());
            (rk == "users" ? rule.users : rule.actions) = *list;
          } else {
            return bad(
                fmt::format("{}: unknown field '{}' (use repository, users, actions)", at, rk));
          }
        }
        if (rule.repository.empty()) return bad(at + ".repository is missing");
        for (size_t k = 0; k < rule.actions.size(); ++k)
          if (!is_action(rule.actions[k]))
            return bad(fmt::format("{}.actions[{}]: '{}' is not one of pull, push, delete, *", at,
                                   k, rule.actions[k]));
        c.rules.push_back(std::move(rule));
      }
    } else if (key == "token") {
      if (!value.is_object()) return bad("'token' must be an object");
      TokenSettings t;
      t.service = "berth-registry";
      t.issuer = "berth";
      for (const auto& [tk, tv] : value.items()) {
        if (tk == "ttl") {
          if (!tv.is_number_integer() || tv.get<int64_t>() <= 0)
            return bad("token.ttl must be a positive number of seconds");
          t.ttl_seconds = tv.get<int64_t>();
          continue;
        }
        if (!tv.is_string()) return bad(fmt::format("token.{} must be a string", tk));
        if (tk == "realm")
          t.realm = tv.get<std::string>();
        else if (tk == "service")
          t.service = tv.get<std::string>();
        else if (tk == "issuer")
          t.issuer = tv.get<std::string>();
        else if (tk == "key_file")
          t.key_file = resolve(base_dir, tv.get<std::string>());
        else
          return bad(fmt::format(
              "token: unknown field '{}' (use realm, service, issuer, key_file, ttl)", tk));
      }
      if (t.realm.empty())
        return bad(
            "token.realm is missing (the token endpoint's URL, e.g. https://host:5000/token)");
      if (t.key_file.empty()) return bad("token.key_file is missing");
      c.token = std::move(t);
    } else {
      return bad(
          fmt::format("unknown field '{}' (use htpasswd, anonymous_pull, rules, token)", key));
    }
  }
  if (c.htpasswd.empty() && !c.rules.empty())
    return bad("'rules' name users, so 'htpasswd' is needed");
  return c;
}

Result<AccessConfig> load_access_config(const std::string& path) {
  BERTH_TRY(auto text, sys::read_file(path));
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  BERTH_TRY(auto config, parse_access_config(text, path, dir));
  if (config.token) {
    auto key = sys::read_file(config.token->key_file);
    if (!key || key->size() < 32)
      return Error::make(ErrorKind::invalid_argument,
                         "token key file '{}' is missing or shorter than 32 bytes",
                         config.token->key_file)
          .with_hint(
              fmt::format("create one: head -c 32 /dev/urandom > {}", config.token->key_file));
    config.token->key = std::move(*key);
  }
  return config;
}

struct AccessControl::Impl {
  std::optional<AccessConfig> config;
  std::unique_ptr<Htpasswd> users;
};

AccessControl::AccessControl() : impl_(std::make_unique<Impl>()) {}

AccessControl::AccessControl(AccessConfig config) : impl_(std::make_unique<Impl>()) {
  if (!config.htpasswd.empty()) {
    impl_->users = std::make_unique<Htpasswd>(config.htpasswd);
    if (auto r = impl_->users->load(); !r) log::warn(r.error().message());
  }
  impl_->config = std::move(config);
}

AccessControl::~AccessControl() = default;
AccessControl::AccessControl(AccessControl&&) noexcept = default;
AccessControl& AccessControl::operator=(AccessControl&&) noexcept = default;

bool AccessControl::enabled() const { return impl_->config.has_value(); }

const std::optional<TokenSettings>& AccessControl::token_settings() const {
  static const std::optional<TokenSettings> none;
  return impl_->config ? impl_->config->token : none;
}

Result<Identity> AccessControl::authenticate(const std::string* authorization) {
  if (!authorization || !enabled()) return Identity{};
  std::string_view h = *authorization;
  auto space = h.find(' ');
  std::string scheme(h.substr(0, space));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), ::tolower);
  std::string_view credentials = space == std::string_view::npos ? "" : h.substr(space + 1);
  while (credentials.starts_with(' ')) credentials.remove_prefix(1);
  if (scheme == "basic") {
    auto decoded = base64_decode_text(credentials, false);
    if (!decoded) return Error(ErrorKind::unauthenticated, "Basic credentials are not base64");
    auto colon = decoded->find(':');
    std::string user = decoded->substr(0, colon);
    std::string password = colon == std::string::npos ? "" : decoded->substr(colon + 1);
    if (user.empty()) return Identity{};
    if (!impl_->users || !impl_->users->verify(user, password))
      return Error::make(ErrorKind::unauthenticated, "wrong user name or password for '{}'", user);
    return Identity{user, std::nullopt};
  }
  if (scheme == "bearer") {
    const auto& t = token_settings();
    if (!t)
      return Error(ErrorKind::unauthenticated,
                   "bearer tokens are not enabled on this registry (no 'token' in its config)");
    BERTH_TRY(auto claims, verify_token(credentials, t->key, t->service, t->issuer, now_seconds()));
    return Identity{claims.subject, std::move(claims.access)};
  }
  return Error::make(ErrorKind::unauthenticated,
                     "authorization scheme '{}' is not supported (use Basic or Bearer)", scheme);
}

std::vector<std::string> AccessControl::permitted(const std::string& user,
                                                  const std::string& repository,
                                                  const std::vector<std::string>& wanted) const {
  if (!enabled()) return wanted;
  const AccessConfig& c = *impl_->config;
  std::vector<std::string> out;
  for (const auto& action : wanted) {
    bool ok = false;
    if (action == "pull")
      for (const auto& p : c.anonymous_pull) ok = ok || glob_match(p, repository);
    if (!user.empty())
      for (const auto& rule : c.rules) {
        if (ok) break;
        if (!glob_match(rule.repository, repository)) continue;
        bool user_ok = std::any_of(rule.users.begin(), rule.users.end(),
                                   [&](const std::string& u) { return u == user || u == "*"; });
        bool action_ok = std::any_of(rule.actions.begin(), rule.actions.end(),
                                     [&](const std::string& a) { return a == action || a == "*"; });
        ok = user_ok && action_ok;
      }
    if (ok) out.push_back(action);
  }
  return out;
}

Refusal AccessControl::unauthorized(std::string message, std::string_view scope,
                                    std::string_view error) const {
  Refusal r{401, "UNAUTHORIZED", std::move(message), ""};
  if (const auto& t = token_settings()) {
    r.challenge =
        fmt::format("Bearer realm={},service={}", quote_param(t->realm), quote_param(t->service));
    if (!scope.empty()) r.challenge += ",scope=" + quote_param(scope);
    if (!error.empty()) r.challenge += ",error=" + quote_param(error);
  } else {
    r.challenge = "Basic realm=\"berth-registry\"";
  }
  return r;
}

std::optional<Refusal> AccessControl::check(const Identity& who, const std::string& repository,
                                            std::string_view action) const {
  if (!enabled()) return std::nullopt;
  bool catalog = repository.empty();
  std::string scope = catalog ? "registry:catalog:*"
                              : fmt::format("repository:{}:{}", repository,
                                            action == "push" ? "pull,push" : action);
  std::string what = catalog ? "list the catalog"
                             : fmt::format("{} {} '{}'", action,
                                           action == "push"   ? "to"
                                           : action == "pull" ? "from"
                                                              : "in",
                                           repository);
  if (who.token) {
    for (const auto& g : *who.token)
      if ((catalog ? g.type == "registry" && g.name == "catalog"
                   : g.type == "repository" && g.name == repository) &&
          g.allows(catalog ? "*" : action))
        return std::nullopt;
    // The token lacks the scope: a signed-in user the rules refuse is told so (403); otherwise
    // the client should fetch a token for this scope (401 with the scope in the challenge).
    if (!who.user.empty() && !catalog &&
        permitted(who.user, repository, {std::string(action)}).empty())
      return Refusal{403, "DENIED",
                     fmt::format("user '{}' may not {} (needs {})", who.user, what, action), ""};
    return unauthorized(
        fmt::format("the token does not grant '{}': ask the token endpoint for scope '{}'", action,
                    scope),
        scope, "insufficient_scope");
  }
  if (catalog) {
    if (!who.user.empty()) return std::nullopt;
    return unauthorized("authentication required to list the catalog", scope);
  }
  if (!permitted(who.user, repository, {std::string(action)}).empty()) return std::nullopt;
  if (who.user.empty())
    return unauthorized(fmt::format("authentication required to {}", what), scope);
  return Refusal{403, "DENIED",
                 fmt::format("user '{}' may not {} (needs {})", who.user, what, action), ""};
}

Result<std::string> AccessControl::issue_token(const std::string& user, const std::string& service,
                                               const std::vector<std::string>& scopes,
                                               int64_t now) const {
  const auto& t = token_settings();
  if (!t)
    return Error(ErrorKind::unsupported,
                 "this registry issues no tokens (no 'token' in its config)");
  if (!service.empty() && service != t->service)
    return Error::make(ErrorKind::invalid_argument, "service '{}' is not this registry's ('{}')",
                       service, t->service);
  TokenClaims claims;
  claims.issuer = t->issuer;
  claims.subject = user;
  claims.audience = t->service;
  claims.issued_at = now;
  claims.not_before = now;
  claims.expires_at = now + t->ttl_seconds;
  claims.id = sys::random_hex(16);
  for (const auto& text : scopes) {
    for (const auto& one : sys::split(text, ' ')) {
      BERTH_TRY(auto g, parse_scope(one));
      if (g.type == "registry") {
        if (g.name == "catalog" && !user.empty()) claims.access.push_back({g.type, g.name, {"*"}});
        continue;
      }
      std::vector<std::string> wanted;
      for (const auto& a : g.actions) {
        if (a == "*") {
          for (const char* each : {"pull", "push", "delete"}) wanted.push_back(each);
        } else {
          wanted.push_back(a);
        }
      }
      auto granted = permitted(user, g.name, wanted);
      if (!granted.empty()) claims.access.push_back({g.type, g.name, granted});
    }
  }
  std::string token = sign_token(claims, t->key);
  json body = {{"token", token},
               {"access_token", token},
               {"expires_in", t->ttl_seconds},
               {"issued_at", clock::rfc3339(now * 1'000'000'000)}};
  return body.dump();
}

}  // namespace berth::registry
