#include "registry/client_session.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <thread>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/sys.h"

namespace berth::registry {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string host_of(std::string_view authority) {
  if (authority.starts_with("[")) return std::string(authority.substr(1, authority.find(']') - 1));
  return std::string(authority.substr(0, authority.rfind(':')));
}

}  // namespace

// ---- endpoints ----

bool is_loopback_host(std::string_view domain) {
  std::string host = host_of(domain);
  return host == "localhost" || host.starts_with("127.") || host == "::1";
}

std::vector<Endpoint> candidate_endpoints(std::string_view domain, bool tls_verify) {
  std::string authority = domain == "docker.io" ? "registry-1.docker.io" : std::string(domain);
  if (is_loopback_host(domain)) return {{"http", authority}, {"https", authority}};
  if (!tls_verify) return {{"https", authority}, {"http", authority}};
  return {{"https", authority}};
}

std::string Endpoint::manifest_url(const image::Reference& ref) const {
  return fmt::format("{}/v2/{}/manifests/{}", base(), ref.path(), ref.digest() ? ref.digest()->str() : ref.tag());
}

std::string Endpoint::blob_url(std::string_view path, std::string_view digest) const {
  return fmt::format("{}/v2/{}/blobs/{}", base(), path, digest);
}

std::string Endpoint::uploads_url(std::string_view path) const {
  return fmt::format("{}/v2/{}/blobs/uploads/", base(), path);
}

// ---- auth documents ----

std::vector<AuthChallenge> parse_www_authenticate(std::string_view h) {
  std::vector<AuthChallenge> out;
  size_t i = 0;
  auto skip = [&](std::string_view chars) {
    while (i < h.size() && chars.find(h[i]) != std::string_view::npos) ++i;
  };
  for (;;) {
    skip(" \t,");
    size_t start = i;
    while (i < h.size() && h[i] != ' ' && h[i] != '\t' && h[i] != ',' && h[i] != '=') ++i;
    std::string_view token = h.substr(start, i - start);
    if (token.empty()) break;
    skip(" \t");
    if (i < h.size() && h[i] == '=') {
      ++i;
      skip(" \t");
      std::string value;
      if (i < h.size() && h[i] == '"') {
        for (++i; i < h.size() && h[i] != '"'; ++i) {
          if (h[i] == '\\' && i + 1 < h.size()) ++i;
          value += h[i];
        }
        if (i < h.size()) ++i;
      } else {
        size_t v = i;
        while (i < h.size() && h[i] != ',' && h[i] != ' ' && h[i] != '\t') ++i;
        value = h.substr(v, i - v);
      }
      if (!out.empty()) out.back().params[lower(token)] = std::move(value);
    } else {
      out.push_back({lower(token), {}});
    }
  }
  return out;
}

Result<Token> parse_token_response(std::string_view json, std::chrono::steady_clock::time_point now) {
  auto doc = parse_json(json, false);
  if (doc.is_discarded() || !doc.is_object()) return Error::make(ErrorKind::corrupt, "token response is not a JSON object");
  Token t;
  for (const char* field : {"token", "access_token"})
    if (doc.contains(field) && doc[field].is_string() && !doc[field].get<std::string>().empty()) {
      t.value = doc[field].get<std::string>();
      break;
    }
  if (t.value.empty()) return Error::make(ErrorKind::corrupt, "token response has neither 'token' nor 'access_token'");
  int64_t expires_in = 60;  // the token spec's default
  // At most a day: the registry chooses the number, and `now + seconds` in nanoseconds overflows
  // (UB) past 292 years. A token good for longer is only fetched again sooner.
  constexpr int64_t kLongestLife = 24 * 3600;
  if (auto it = doc.find("expires_in"); it != doc.end() && it->is_number_integer())
    expires_in = it->is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(), kLongestLife))
                                          : std::clamp<int64_t>(it->get<int64_t>(), 1, kLongestLife);
  // Renew a little early: the clock of the token server is not ours.
  t.expires = now + std::chrono::seconds(expires_in) - std::chrono::seconds(std::min<int64_t>(expires_in / 10, 10));
  return t;
}

std::string registry_error_text(std::string_view body) {
  auto doc = parse_json(body, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("errors") || !doc["errors"].is_array()) return "";
  std::string out;
  for (const auto& e : doc["errors"]) {
    if (!e.is_object()) continue;
    // A registry's body: "code" or "message" of another type must not throw.
    auto text = [&e](const char* key) {
      auto it = e.find(key);
      return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    std::string code = text("code");
    std::string message = text("message");
    std::string piece = lower(code);
    for (auto& c : piece)
      if (c == '_') c = ' ';
    if (!message.empty() && lower(message) != piece) piece += piece.empty() ? message : ": " + message;
    if (!piece.empty()) out += (out.empty() ? "" : "; ") + piece;
  }
  return out;
}

// ---- Session ----

http::Client Session::new_client() const {
  http::ClientOptions o;
  o.tls_verify = config_.tls_verify;
  return http::Client(o);
}

Result<std::shared_ptr<Session>> Session::open(std::string_view domain, const ClientConfig& config,
                                               http::Client& client) {
  std::optional<Error> last;
  for (const auto& endpoint : candidate_endpoints(domain, config.tls_verify)) {
    http::Request probe;
    probe.url = endpoint.base() + "/v2/";
    auto res = client.send(probe);
    if (!res) {
      // Only a failed connection or transfer is a reason to try the next endpoint; a proxy's
      // refusal or a bad proxy setting would only be hidden by it.
      if (res.error().kind() != ErrorKind::unavailable && res.error().kind() != ErrorKind::io)
        return std::move(res).error();
      last = std::move(res).error();
      continue;
    }
    // A TLS server answering plain HTTP says 400; only a registry's answers count.
    if (res->status != 200 && res->status != 401 && res->status != 403) {
      last = Error::make(ErrorKind::unavailable, "GET {}/v2/: {} (not a registry's answer)", endpoint.base(),
                         res->status);
      continue;
    }
    auto session = std::make_shared<Session>(std::string(domain), endpoint, config);
    if (res->status == 401)
      for (const auto& h : res->headers.get_all("WWW-Authenticate"))
        for (auto& ch : parse_www_authenticate(h)) {
          if (ch.scheme == "basic" && config.credentials) session->use_basic_ = true;
          if (ch.scheme == "bearer") session->bearer_ = std::move(ch);
        }
    return session;
  }
  return std::move(*last);
}

std::optional<std::string> Session::authorization_for(const std::string& scope) {
  std::lock_guard lock(mu_);
  if (bearer_) {
    auto it = tokens_.find(scope);
    if (it != tokens_.end() && it->second.expires > std::chrono::steady_clock::now()) return "Bearer " + it->second.value;
    return std::nullopt;
  }
  if (use_basic_ && config_.credentials)
    return "Basic " + http::base64_encode(config_.credentials->username + ":" + config_.credentials->password);
  return std::nullopt;
}

Result<bool> Session::answer_challenge(http::Client& client, const http::Response& response,
                                       const std::string& scope) {
  std::optional<AuthChallenge> bearer;
  bool basic = false;
  for (const auto& h : response.headers.get_all("WWW-Authenticate"))
    for (auto& ch : parse_www_authenticate(h)) {
      if (ch.scheme == "bearer") bearer = std::move(ch);
      if (ch.scheme == "basic") basic = true;
    }
  std::lock_guard lock(mu_);
  if (bearer) {
    auto realm = bearer->params.find("realm");
    if (realm == bearer->params.end() || realm->second.empty())
      return Error::make(ErrorKind::unsupported, "registry {}: Bearer challenge without a realm", domain_);
    // A token fetched meanwhile by another thread may already be there.
    if (auto it = tokens_.find(scope); it != tokens_.end() && bearer_ && it->second.expires > std::chrono::steady_clock::now()) {
      bearer_ = std::move(*bearer);
      return true;
    }
    std::string url = realm->second;
    char sep = url.find('?') == std::string::npos ? '?' : '&';
    auto add = [&](std::string_view k, std::string_view v) {
      url += fmt::format("{}{}={}", sep, k, url_encode(v));
      sep = '&';
    };
    if (auto s = bearer->params.find("service"); s != bearer->params.end()) add("service", s->second);
    std::string scopes = scope;
    if (scopes.empty())
      if (auto s = bearer->params.find("scope"); s != bearer->params.end()) scopes = s->second;
    for (const auto& s : sys::split(scopes, ' ')) add("scope", s);
    http::Request req;
    if (config_.credentials) {
      add("account", config_.credentials->username);
      req.headers.set("Authorization", "Basic " + http::base64_encode(config_.credentials->username + ":" +
                                                                      config_.credentials->password));
    }
    req.url = url;
    BERTH_TRY(auto res, client.send(req).context(fmt::format("get a token from {}", realm->second)));
    if (res.status == 401 || res.status == 403) {
      std::string why = registry_error_text(res.body);
      return Error::make(ErrorKind::unauthenticated, "{} refused the {}{}", realm->second,
                         config_.credentials ? "user name or password" : "anonymous request",
                         why.empty() ? "" : " (" + why + ")");
    }
    if (res.status != 200)
      return Error::make(ErrorKind::unavailable, "get a token from {}: status {}", realm->second, res.status);
    BERTH_TRY(auto token, parse_token_response(res.body, std::chrono::steady_clock::now())
                              .context(fmt::format("get a token from {}", realm->second)));
    bearer_ = std::move(*bearer);
    tokens_[scope] = std::move(token);
    return true;
  }
  if (basic && config_.credentials && !use_basic_) {
    use_basic_ = true;
    return true;
  }
  return false;
}

std::chrono::milliseconds busy_retry_delay(const http::Response& response, int attempt) {
  if (auto after = response.headers.get("Retry-After")) {
    std::string_view v = *after;
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    if (!v.empty() && v.size() <= 6 && std::all_of(v.begin(), v.end(), ::isdigit))
      return std::chrono::seconds(std::min(std::stoi(std::string(v)), 30));
  }
  return std::chrono::milliseconds(500) * (1 << std::min(attempt, 4));
}

Result<http::Response> Session::send(http::Client& client, http::Request& request, const std::string& scope) {
  if (request.url.starts_with("/")) request.url = endpoint_.base() + request.url;
  for (int busy = 1;; ++busy) {
    BERTH_TRY(auto res, send_authorized(client, request, scope));
    // Bodies are replayable (memory or a file range): the request can go again as it is.
    if ((res.status != 429 && res.status != 503) || busy >= kBusyAttempts) return res;
    std::this_thread::sleep_for(busy_retry_delay(res, busy - 1));
  }
}

Result<http::Response> Session::send_authorized(http::Client& client, http::Request& request,
                                                const std::string& scope) {
  for (int attempt = 0;; ++attempt) {
    if (auto auth = authorization_for(scope))
      request.headers.set("Authorization", std::move(*auth));
    else
      request.headers.remove("Authorization");
    BERTH_TRY(auto res, client.send(request));
    if (res.status != 401 || attempt > 0) return res;
    BERTH_TRY(bool answered, answer_challenge(client, res, scope));
    if (!answered) return res;
  }
}

Result<void> Session::verify_credentials(http::Client& client) {
  http::Request req;
  req.url = "/v2/";
  BERTH_TRY(auto res, send(client, req, ""));
  if (res.status == 200) return {};
  if (res.status == 401 || res.status == 403) {
    std::string why = registry_error_text(res.body);
    return Error::make(ErrorKind::unauthenticated, "the registry refused the user name or password{}",
                       why.empty() ? "" : " (" + why + ")");
  }
  return Error::make(ErrorKind::unavailable, "GET {}/v2/: status {}", endpoint_.base(), res.status);
}

void Session::report(const BlobEvent& event) {
  if (!config_.progress) return;
  std::lock_guard lock(report_mu_);
  config_.progress(event);
}

Error Session::access_denied(std::string_view verb, std::string_view repository,
                             const http::Response& response) const {
  std::string why = registry_error_text(response.body);
  if (why.empty()) why = response.status == 401 ? "authentication required" : "access denied";
  return Error::make(response.status == 401 ? ErrorKind::unauthenticated : ErrorKind::permission_denied,
                     "{} {} denied: {} — run 'berth login {}'", verb, repository, why, domain_);
}

Result<void> Session::for_each_parallel(size_t count,
                                        const std::function<Result<void>(size_t, http::Client&)>& work) {
  std::atomic<size_t> next{0};
  std::mutex error_mu;
  std::optional<Error> first_error;
  std::atomic<bool> failed{false};
  auto worker = [&](http::Client& client) {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= count || failed.load()) return;
      auto r = work(i, client);
      if (!r) {
        std::lock_guard lock(error_mu);
        if (!first_error) first_error = std::move(r).error();
        failed = true;
        return;
      }
    }
  };
  size_t threads = std::min<size_t>(count, static_cast<size_t>(std::max(config_.parallel, 1)));
  std::vector<http::Client> clients;
  for (size_t t = 0; t < threads; ++t) clients.push_back(new_client());
  {
    std::vector<std::jthread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back([&, t] { worker(clients[t]); });
    if (threads > 0) worker(clients[0]);
  }
  if (first_error) return std::move(*first_error);
  return {};
}

}  // namespace berth::registry
