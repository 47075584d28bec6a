// access: the registry's access-control config (registry/access.h parse_access_config) and
// htpasswd file, then the decisions made from them. The input is cut at 0x01 bytes: config JSON,
// htpasswd lines, an Authorization header, a repository, an action, then token scopes.
#include "base/sys.h"
#include "fuzz_util.h"
#include "registry/access.h"

namespace {
std::string htpasswd_path;

// bcrypt's cost is 2^N rounds: an htpasswd the fuzzer writes with cost 31 would take hours to
// check (the file is the administrator's, not an attacker's), so such inputs skip authenticate.
bool cheap_hashes(std::string_view htpasswd) {
  for (auto line : berth::fuzz::pieces(htpasswd, '\n', 1024)) {
    size_t at = line.find(":$2");
    if (at == std::string_view::npos) continue;
    std::string_view hash = line.substr(at + 1);  // "$2y$04$..."
    if (hash.size() < 7 || (hash.substr(4, 3) != "04$" && hash.substr(4, 3) != "05$")) return false;
  }
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  htpasswd_path = berth::fuzz::scratch_dir("access") + "/htpasswd";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  auto parts = fuzz::pieces(fuzz::as_text(data, size), '\x01', 8);
  while (parts.size() < 5) parts.emplace_back();
  auto config = registry::parse_access_config(parts[0], "config.json", "/etc/berth");
  if (!config) return 0;
  if (!config->htpasswd.empty()) {
    config->htpasswd = htpasswd_path;
    fuzz::put_file(htpasswd_path, parts[1]);
  }
  if (config->token) config->token->key = "fuzz-signing-key";
  registry::AccessControl control(std::move(*config));
  std::string authorization(parts[2]);
  registry::Identity who;
  if (cheap_hashes(parts[1])) {
    if (auto identity = control.authenticate(parts[2].empty() ? nullptr : &authorization))
      who = std::move(*identity);
  }
  std::string repository(parts[3]);
  (void)control.permitted(who.user, repository, {"pull", "push", "delete", std::string(parts[4])});
  if (auto refusal = control.check(who, repository, parts[4])) (void)refusal->challenge.size();
  (void)control.unauthorized("fuzz", parts[4]);
  std::vector<std::string> scopes;
  for (size_t i = 5; i < parts.size(); ++i) scopes.emplace_back(parts[i]);
  if (control.token_settings())
    (void)control.issue_token(who.user, control.token_settings()->service, scopes, 1700000000);
  return 0;
}
