// WWW-Authenticate challenges, token responses, registry error bodies and config.json
// credentials: what the registry client reads and writes before any connection is made.
#include <gtest/gtest.h>

#include "http/client.h"
#include "registry/client_auth_config.h"
#include "registry/client_session.h"

namespace berth::registry {
namespace {

TEST(WwwAuthenticate, ParsesABearerChallengeWithQuotedParameters) {
  auto c = parse_www_authenticate(
      R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull,push")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params["realm"], "https://auth.example/token");
  EXPECT_EQ(c[0].params["service"], "registry.example");
  EXPECT_EQ(c[0].params["scope"], "repository:team/app:pull,push");
}

TEST(WwwAuthenticate, SplitsSeveralChallengesInOneHeader) {
  auto c = parse_www_authenticate(R"(Basic realm="berth test", Bearer realm="https://t/x?a=b" , error=invalid_token)");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].params["realm"], "berth test");
  EXPECT_EQ(c[1].scheme, "bearer");
  EXPECT_EQ(c[1].params["realm"], "https://t/x?a=b");
  EXPECT_EQ(c[1].params["error"], "invalid_token");
}

TEST(WwwAuthenticate, UnescapesQuotedPairsAndLowerCasesNames) {
  auto c = parse_www_authenticate(R"(BEARER Realm="a\"b", SERVICE = svc)");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params["realm"], "a\"b");
  EXPECT_EQ(c[0].params["service"], "svc");
}

TEST(WwwAuthenticate, EmptyHeaderHasNoChallenge) { EXPECT_TRUE(parse_www_authenticate("  ").empty()); }

TEST(TokenResponse, TakesTokenOrAccessTokenAndRenewsEarly) {
  auto now = std::chrono::steady_clock::now();
  auto t = parse_token_response(R"({"token":"abc","expires_in":300})", now);
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->value, "abc");
  EXPECT_GT(t->expires, now + std::chrono::seconds(280));
  EXPECT_LT(t->expires, now + std::chrono::seconds(300));
  auto a = parse_token_response(R"({"access_token":"xyz"})", now);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->value, "xyz");
  EXPECT_GT(a->expires, now + std::chrono::seconds(50));  // the spec's default of 60 s
}

TEST(TokenResponse, AnyLifetimeARegistrySendsIsKeptWithinADay) {
  // 77777770300 s in nanoseconds overflows int64 (UBSan, found by registry_auth).
  auto now = std::chrono::steady_clock::now();
  for (const char* body : {R"({"token":"a","expires_in":77777770300})", R"({"token":"a","expires_in":18446744073709551615})",
                           R"({"token":"a","expires_in":-9223372036854775808})", R"({"token":"a","expires_in":0})"}) {
    auto t = parse_token_response(body, now);
    ASSERT_TRUE(t) << body;
    EXPECT_LE(t->expires, now + std::chrono::hours(24)) << body;
    EXPECT_GE(t->expires, now) << body;
  }
}

TEST(TokenResponse, RefusesADocumentWithoutAToken) {
  auto t = parse_token_response(R"({"expires_in":30})", std::chrono::steady_clock::now());
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message().find("neither 'token' nor 'access_token'"), std::string::npos);
  EXPECT_FALSE(parse_token_response("not json", std::chrono::steady_clock::now()));
}

TEST(RegistryErrors, JoinsCodesAndMessages) {
  EXPECT_EQ(registry_error_text(
                R"({"errors":[{"code":"DENIED","message":"requested access to the resource is denied"},{"code":"UNAUTHORIZED","message":"authentication required"}]})"),
            "denied: requested access to the resource is denied; unauthorized: authentication required");
  EXPECT_EQ(registry_error_text(R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})"),
            "manifest unknown");
  EXPECT_EQ(registry_error_text("<html>oops</html>"), "");
}

TEST(AuthConfig, ReadsDockersAuthFieldMatchingKeysWithSchemes) {
  std::string doc = R"({"auths":{"https://127.0.0.1:5000/v1/":{"auth":")" + http::base64_encode("alice:s3:cret") +
                    R"("},"https://index.docker.io/v1/":{"auth":")" + http::base64_encode("bob:pw") + R"("}}})";
  auto c = credentials_in_config(doc, "127.0.0.1:5000");
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ(**c, (Credentials{"alice", "s3:cret"}));
  auto hub = credentials_in_config(doc, "docker.io");
  ASSERT_TRUE(hub && hub->has_value());
  EXPECT_EQ((*hub)->username, "bob");
  auto none = credentials_in_config(doc, "127.0.0.1:5001");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

TEST(AuthConfig, WritesAndRemovesOneEntryKeepingTheRest) {
  std::string doc = R"({"auths":{"other:1":{"auth":"eDp5"}},"credsStore":"","psFormat":"table"})";
  auto with = config_with_credentials(doc, "127.0.0.1:5000", Credentials{"alice", "pw"});
  ASSERT_TRUE(with) << with.error().message();
  auto back = credentials_in_config(*with, "127.0.0.1:5000");
  ASSERT_TRUE(back && back->has_value());
  EXPECT_EQ((*back)->password, "pw");
  EXPECT_NE(with->find(R"("127.0.0.1:5000")"), std::string::npos);
  EXPECT_NE(with->find(R"("auth": ")" + http::base64_encode("alice:pw")), std::string::npos);
  EXPECT_NE(with->find("psFormat"), std::string::npos);
  auto without = config_with_credentials(*with, "127.0.0.1:5000", std::nullopt);
  ASSERT_TRUE(without);
  auto gone = credentials_in_config(*without, "127.0.0.1:5000");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
  EXPECT_NE(without->find("other:1"), std::string::npos);
  // A new file, and Docker Hub's historical key.
  auto fresh = config_with_credentials("", "docker.io", Credentials{"u", "p"});
  ASSERT_TRUE(fresh);
  EXPECT_NE(fresh->find("https://index.docker.io/v1/"), std::string::npos);
}

TEST(AuthConfig, NamesTheBrokenField) {
  auto bad = credentials_in_config(R"({"auths":{"h:1":{"auth":"%%%%"}}})", "h:1");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("auths.h:1.auth"), std::string::npos);
  EXPECT_FALSE(credentials_in_config(R"({"auths":[]})", "h:1"));
}

TEST(Base64, RoundTripsEveryPaddingLength) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "user:pass"}) {
    auto back = http::base64_decode(http::base64_encode(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(http::base64_encode("alice:secret1"), "YWxpY2U6c2VjcmV0MQ==");
  EXPECT_FALSE(http::base64_decode("abc"));
}

TEST(BusyRetry, WaitsWhatRetryAfterSaysWithinLimitsElseBacksOff) {
  http::Response r;
  r.status = 429;
  r.headers.add("Retry-After", "3");
  EXPECT_EQ(busy_retry_delay(r, 0), std::chrono::seconds(3));
  http::Response forever;
  forever.headers.add("Retry-After", "86400");
  EXPECT_EQ(busy_retry_delay(forever, 0), std::chrono::seconds(30));
  http::Response date;  // an HTTP-date is not read: back off instead
  date.headers.add("Retry-After", "Wed, 21 Oct 2026 07:28:00 GMT");
  EXPECT_EQ(busy_retry_delay(date, 0), std::chrono::milliseconds(500));
  http::Response none;
  EXPECT_EQ(busy_retry_delay(none, 1), std::chrono::milliseconds(1000));
  EXPECT_EQ(busy_retry_delay(none, 3), std::chrono::milliseconds(4000));
  EXPECT_EQ(busy_retry_delay(none, 9), std::chrono::milliseconds(8000));
}

}  // namespace
}  // namespace berth::registry
