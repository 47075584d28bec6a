// registry_auth: what the registry client reads from registries and from the user's
// config.json (registry/client_session.h, client_auth_config.h): WWW-Authenticate challenges,
// token responses, error bodies, Retry-After, and Docker's config.json auths/credHelpers. The
// input is cut at 0x01 bytes: header, token JSON or error body, config.json, registry name.
#include "fuzz_util.h"
#include "http/client.h"
#include "registry/client_auth_config.h"
#include "registry/client_session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  auto parts = fuzz::pieces(fuzz::as_text(data, size), '\x01', 4);
  while (parts.size() < 4) parts.emplace_back();
  for (const auto& challenge : registry::parse_www_authenticate(parts[0]))
    if (challenge.scheme.empty() && !challenge.params.empty()) (void)challenge.params.size();
  (void)registry::parse_token_response(parts[1], std::chrono::steady_clock::time_point{});
  (void)registry::registry_error_text(parts[1]);
  http::Response response;
  response.status = 429;
  response.headers.add("Retry-After", std::string(parts[0]));
  (void)registry::busy_retry_delay(response, 3);

  std::string_view registry_name = parts[3].empty() ? std::string_view("localhost:5000") : parts[3];
  (void)registry::auth_config_key(registry_name);
  (void)registry::credentials_in_config(parts[2], registry_name);
  (void)registry::credential_helper_in_config(parts[2], registry_name);
  registry::Credentials credentials{"user", "pass:word"};
  if (auto updated = registry::config_with_credentials(parts[2], registry_name, credentials)) {
    auto found = registry::credentials_in_config(*updated, registry_name);
    if (!found || !*found || !(**found == credentials))
      fuzz::violated("credentials written to a config.json are not found again", *updated);
  }
  (void)registry::config_with_helper_entry(parts[2], registry_name, true);
  return 0;
}
