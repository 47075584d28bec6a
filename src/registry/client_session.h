// registry/client_session.h — one registry as the client talks to it: the endpoint (scheme
// chosen by probing /v2/), credentials, and the Bearer tokens fetched for each scope (cached
// for their lifetime). Requests go through a caller's http::Client, so each worker thread keeps
// its own connections while the tokens are shared.
//
// Thread-safety: a Session may be used from any number of threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "http/client.h"
#include "registry/client.h"

namespace berth::registry {

// One challenge of a WWW-Authenticate header: `Bearer realm="…",service="…",scope="…"`.
struct AuthChallenge {
  std::string scheme;                         // lower case: "basic", "bearer"
  std::map<std::string, std::string> params;  // names in lower case, values unquoted
};
// Every challenge in a header value (RFC 7235: several may share one header).
std::vector<AuthChallenge> parse_www_authenticate(std::string_view header);

// A token endpoint's answer ({"token": …} or {"access_token": …}, "expires_in" seconds,
// default 60). Errors name what is missing.
struct Token {
  std::string value;
  std::chrono::steady_clock::time_point expires;
};
Result<Token> parse_token_response(std::string_view json, std::chrono::steady_clock::time_point now);

// The registry's error body ({"errors": [{"code", "message", "detail"}]}), as "CODE: message"
// pieces joined by "; "; empty when the body is not one.
std::string registry_error_text(std::string_view body);

// How often a request a registry answers 429 or 503 is sent in all, and how long to wait before
// the next try: its Retry-After in seconds (at most 30), else 0.5 s doubling per attempt.
constexpr int kBusyAttempts = 5;
std::chrono::milliseconds busy_retry_delay(const http::Response& response, int attempt);

class Session {
 public:
  // Finds the endpoint (trying each candidate scheme with GET /v2/) and learns how it wants
  // to be authenticated. `unavailable` when none answers.
  Session(std::string domain, Endpoint endpoint, ClientConfig config)
      : domain_(std::move(domain)), endpoint_(std::move(endpoint)), config_(std::move(config)) {}
  static Result<std::shared_ptr<Session>> open(std::string_view domain, const ClientConfig& config,
                                               http::Client& client);

  const Endpoint& endpoint() const { return endpoint_; }
  const std::string& domain() const { return domain_; }
  const ClientConfig& config() const { return config_; }
  // A Client set up for this registry (TLS verification as configured).
  http::Client new_client() const;

  // Sends `request` (its URL relative to the endpoint when it starts with '/') with the
  // authorization `scope` needs ("repository:team/app:pull"; several separated by spaces). A
  // 401 with a challenge is answered once (token fetched, or Basic credentials) and the request
  // sent again. A busy registry (429, 503) is asked again after its Retry-After, up to
  // kBusyAttempts times in all. Returns the last response whatever its status.
  Result<http::Response> send(http::Client& client, http::Request& request, const std::string& scope);

  // Checks that the credentials are accepted (login): `unauthenticated` if not.
  Result<void> verify_credentials(http::Client& client);

  // Passes an event to the configured progress callback, one at a time.
  void report(const BlobEvent& event);
  // For a 401/403 answer: "push to HOST/REPO denied: <why> — run 'berth login HOST'".
  Error access_denied(std::string_view verb, std::string_view repository, const http::Response& response) const;
  // Runs work(i, client) for each i in [0, count) on up to config().parallel threads, each with
  // its own connections; after the first error no new item starts, and that error is returned.
  Result<void> for_each_parallel(size_t count, const std::function<Result<void>(size_t, http::Client&)>& work);

 private:
  std::optional<std::string> authorization_for(const std::string& scope);
  // send() without the retries on a busy registry.
  Result<http::Response> send_authorized(http::Client& client, http::Request& request, const std::string& scope);
  // Whether the challenge could be answered (a token fetched, Basic credentials to send).
  Result<bool> answer_challenge(http::Client& client, const http::Response& response, const std::string& scope);

  std::string domain_;
  Endpoint endpoint_;
  ClientConfig config_;
  std::mutex mu_;
  std::mutex report_mu_;
  bool use_basic_ = false;                  // the registry asked for Basic credentials
  std::optional<AuthChallenge> bearer_;     // the registry's Bearer challenge, once seen
  std::map<std::string, Token> tokens_;     // by scope
};

}  // namespace berth::registry
