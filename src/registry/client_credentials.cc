#include "registry/client_credentials.h"

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/process.h"
#include "base/sys.h"

extern char** environ;

namespace berth::registry {
namespace {

// Helpers may ask a keyring or gpg-agent; they are given this long.
constexpr int kHelperTimeoutSeconds = 60;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> current_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  return env;
}

std::string helper_place(const std::string& helper) { return fmt::format("credential helper '{}'", helper); }

}  // namespace

Result<std::optional<std::string>> run_credential_helper(const std::string& helper, const std::string& verb,
                                                         const std::string& input) {
  std::string program = "docker-credential-" + helper;
  auto path = proc::find_in_path(program);
  if (!path)
    return Error(ErrorKind::not_found,
                 fmt::format("credential helper '{}' named in config.json: no '{}' in PATH", helper, program))
        .with_hint(fmt::format("install {} or remove \"{}\" from \"credsStore\"/\"credHelpers\" in {}", program,
                               helper, auth_config_path()));
  std::string output;
  proc::RunOptions o{*path, {program, verb}, current_environment(), input, kHelperTimeoutSeconds, &output};
  BERTH_TRY(int code, proc::run(o).context(fmt::format("{} {}", program, verb)));
  if (code == 0) return std::optional(output);
  std::string said = trimmed(output);
  // Docker's helpers all print this for a registry they hold nothing for.
  if (said.find("credentials not found") != std::string::npos) return std::optional<std::string>();
  return Error::make(ErrorKind::unavailable, "{} {} failed (exit {}): {}", program, verb, code,
                     said.empty() ? "it printed nothing" : said);
}

Result<CredentialStore> CredentialStore::open(std::string path) {
  std::string text;
  if (sys::exists(path)) {
    BERTH_TRY_CTX(text, sys::read_file(path), fmt::format("read credentials from '{}'", path));
  }
  return CredentialStore(std::move(path), std::move(text));
}

Result<std::optional<Credentials>> CredentialStore::get(std::string_view registry) const {
  std::string ctx = fmt::format("read credentials from '{}'", path_);
  BERTH_TRY(auto helper, credential_helper_in_config(text_, registry).context(ctx));
  if (!helper) return credentials_in_config(text_, registry).context(ctx);
  std::string key = auth_config_key(registry);
  BERTH_TRY(auto answer, run_credential_helper(*helper, "get", key));
  if (!answer) return std::optional<Credentials>();
  auto doc = parse_json(*answer, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("Username") || !doc["Username"].is_string() ||
      !doc.contains("Secret") || !doc["Secret"].is_string())
    return Error::make(ErrorKind::corrupt, "{} answered 'get {}' with no \"Username\" and \"Secret\": {}",
                       helper_place(*helper), key, trimmed(*answer).substr(0, 200));
  Credentials c{doc["Username"].get<std::string>(), doc["Secret"].get<std::string>()};
  // docker-credential-pass 0.6 answers an unknown registry this way, with exit 0.
  if (c.username.empty() && c.password.empty()) return std::optional<Credentials>();
  if (c.username == "<token>")
    return Error(ErrorKind::unsupported,
                 fmt::format("{} holds an identity token for {}, which berth cannot use", helper_place(*helper), key))
        .with_hint(fmt::format("berth login {} with a user name and password", key));
  return std::optional(std::move(c));
}

Result<std::optional<std::string>> CredentialStore::store(std::string_view registry, const Credentials& credentials) {
  std::string ctx = fmt::format("write credentials to '{}'", path_);
  BERTH_TRY(auto helper, credential_helper_in_config(text_, registry).context(ctx));
  if (!helper) {
    BERTH_TRY(auto updated, config_with_credentials(text_, registry, credentials).context(ctx));
    BERTH_TRY_VOID(write(updated));
    return helper;
  }
  std::string key = auth_config_key(registry);
  nlohmann::json entry = {{"ServerURL", key}, {"Username", credentials.username}, {"Secret", credentials.password}};
  BERTH_TRY(auto answer, run_credential_helper(*helper, "store", entry.dump()));
  (void)answer;
  // As docker does: an empty entry in "auths", and no password left in the file.
  BERTH_TRY(auto updated, config_with_helper_entry(text_, registry, true).context(ctx));
  BERTH_TRY_VOID(write(updated));
  return helper;
}

Result<bool> CredentialStore::erase(std::string_view registry) {
  std::string ctx = fmt::format("write credentials to '{}'", path_);
  BERTH_TRY(auto helper, credential_helper_in_config(text_, registry).context(ctx));
  BERTH_TRY(auto in_file, credentials_in_config(text_, registry).context(ctx));
  bool existed = in_file.has_value();
  if (helper) {
    std::string key = auth_config_key(registry);
    BERTH_TRY(auto held, run_credential_helper(*helper, "get", key));
    if (held) {
      BERTH_TRY(auto answer, run_credential_helper(*helper, "erase", key));
      (void)answer;
      existed = true;
    }
  }
  BERTH_TRY(auto updated, config_with_helper_entry(text_, registry, false).context(ctx));
  bool changed = !text_.empty() && parse_json(updated) != parse_json(text_, false);
  if (changed) BERTH_TRY_VOID(write(updated));
  return existed;
}

Result<void> CredentialStore::write(const std::string& text) {
  std::string ctx = fmt::format("write credentials to '{}'", path_);
  auto slash = path_.rfind('/');
  if (slash != std::string::npos && slash > 0)
    BERTH_TRY_VOID(sys::mkdir_all(path_.substr(0, slash), 0700).context(ctx));
  BERTH_TRY_VOID(sys::atomic_write(path_, text, 0600).context(ctx));
  // A temporary left by an older writer keeps its mode through O_TRUNC: make sure.
  if (::chmod(path_.c_str(), 0600) < 0) return Error::from_errno("chmod '{}'", path_).context(ctx);
  text_ = text;
  return {};
}

}  // namespace berth::registry
