// HTTP_PROXY, HTTPS_PROXY and NO_PROXY as Go's clients (docker, podman, skopeo) read them:
// which requests go through which proxy, with which credentials.
#include <gtest/gtest.h>

#include "http/proxy.h"

namespace berth::http {
namespace {

std::optional<Proxy> proxy_of(const std::string& url, const ProxyEnvironment& env) {
  auto target = Url::parse(url);
  EXPECT_TRUE(target) << url;
  auto proxy = proxy_for(*target, env);
  EXPECT_TRUE(proxy) << url << ": " << proxy.error().message();
  return proxy ? *proxy : std::nullopt;
}

TEST(Proxy, HttpsTakesHttpsProxyAndHttpTakesHttpProxy) {
  ProxyEnvironment env{"http://plain:3128", "proxy.corp:8080", ""};
  auto p = proxy_of("https://registry.example/v2/", env);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->url.authority(), "proxy.corp:8080");  // no scheme: http://
  EXPECT_EQ(p->variable, "HTTPS_PROXY");
  EXPECT_TRUE(p->authorization.empty());
  p = proxy_of("http://registry.example:5000/v2/", env);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->url.authority(), "plain:3128");
  EXPECT_EQ(p->variable, "HTTP_PROXY");
  // No HTTPS_PROXY: https goes direct, as in Go (HTTP_PROXY is not used for it).
  EXPECT_FALSE(proxy_of("https://registry.example/v2/", {"http://plain:3128", "", ""}));
}

TEST(Proxy, LoopbackAndLocalhostAreNeverProxied) {
  ProxyEnvironment env{"http://p:1", "http://p:1", ""};
  EXPECT_FALSE(proxy_of("http://127.0.0.1:5000/v2/", env));
  EXPECT_FALSE(proxy_of("http://127.3.2.1:5000/v2/", env));
  EXPECT_FALSE(proxy_of("https://localhost/v2/", env));
  EXPECT_FALSE(proxy_of("https://[::1]:5000/v2/", env));
  EXPECT_TRUE(proxy_of("https://10.0.0.1/v2/", env));
}

TEST(Proxy, NoProxyMatchesNamesSubdomainsPortsAddressesAndRanges) {
  ProxyEnvironment env{"", "http://p:1", " corp.example, .sub.example ,*.star.example,reg.other:5000,10.1.2.3,192.168.0.0/16,[fd00::1]:443"};
  EXPECT_FALSE(proxy_of("https://corp.example/", env));
  EXPECT_FALSE(proxy_of("https://a.b.corp.example/", env));
  EXPECT_TRUE(proxy_of("https://xcorp.example/", env));
  EXPECT_TRUE(proxy_of("https://sub.example/", env));  // ".name": subdomains only
  EXPECT_FALSE(proxy_of("https://x.sub.example/", env));
  EXPECT_TRUE(proxy_of("https://star.example/", env));
  EXPECT_FALSE(proxy_of("https://x.star.example/", env));
  EXPECT_FALSE(proxy_of("https://reg.other:5000/", env));
  EXPECT_TRUE(proxy_of("https://reg.other:5001/", env));
  EXPECT_FALSE(proxy_of("https://10.1.2.3:5000/", env));
  EXPECT_TRUE(proxy_of("https://10.1.2.4/", env));
  EXPECT_FALSE(proxy_of("https://192.168.77.1/", env));
  EXPECT_TRUE(proxy_of("https://192.169.0.1/", env));
  EXPECT_FALSE(proxy_of("https://[fd00::1]/", env));
  EXPECT_TRUE(proxy_of("https://[fd00::1]:8443/", env));
  EXPECT_FALSE(proxy_of("https://CORP.EXAMPLE/", env));
  EXPECT_FALSE(proxy_of("https://anything/", {"", "http://p:1", "*"}));
}

TEST(Proxy, CredentialsInTheUrlBecomeProxyAuthorization) {
  auto p = proxy_of("https://r.example/", {"", "http://al%40ce:p%3Ass@proxy:3128", ""});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->url.authority(), "proxy:3128");
  EXPECT_EQ(p->authorization, "Basic " + base64_encode("al@ce:p:ss"));
}

TEST(Proxy, UnusableProxyUrlsAreNamedWithoutTheirPassword) {
  auto target = *Url::parse("https://r.example/");
  auto r = proxy_for(target, {"", "socks5://bob:hunter2@p:1080", ""});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("HTTPS_PROXY='socks5://***@p:1080'"), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find("hunter2"), std::string::npos);
  r = proxy_for(target, {"", "http://bob:hunter2@p:notaport", ""});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("is not a proxy URL"), std::string::npos) << r.error().message();
  EXPECT_EQ(r.error().message().find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace berth::http
