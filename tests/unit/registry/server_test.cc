// The protocol handler driven directly (no sockets): routing of names that contain endpoint words,
// the upload limit (TOOMANYREQUESTS), a second writer on a busy session, error bodies.
#include "registry/server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "base/sys.h"

using namespace berth;
using namespace berth::registry;

namespace {

class HandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fmt::format("/tmp/berth-registry-handler-test-{}", ::getpid());
    storage_ = open_filesystem_storage(root_).value();
    handler_ = make_registry_handler(*storage_, access_, {.max_busy_uploads = 1});
  }
  void TearDown() override { (void)sys::remove_all(root_); }

  http::Dispatch call(const std::string& method, const std::string& target, uint64_t length = 0) {
    http::ServerRequest r;
    r.method = method;
    r.target = target;
    auto q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos)
      for (const auto& kv : sys::split(target.substr(q + 1), '&')) {
        auto eq = kv.find('=');
        r.query.emplace_back(kv.substr(0, eq), eq == std::string::npos ? "" : kv.substr(eq + 1));
      }
    if (length) {
      r.content_length = length;
      r.has_body = true;
    }
    return handler_->handle(r);
  }

  static std::string header(const http::ServerResponse& r, const std::string& name) {
    for (const auto& h : r.headers)
      if (h.name == name) return h.value;
    return "";
  }

  std::string root_;
  std::unique_ptr<Storage> storage_;
  AccessControl access_;
  std::unique_ptr<http::Handler> handler_;
};

}  // namespace

TEST_F(HandlerTest, NamesMayContainEndpointWords) {
  auto start = call("POST", "/v2/blobs/manifests/uploads/blobs/uploads/");
  EXPECT_EQ(start.response.status, 202);
  EXPECT_TRUE(
      header(start.response, "Location").starts_with("/v2/blobs/manifests/uploads/blobs/uploads/"));
  auto tags = call("GET", "/v2/tags/list/tags/list");
  EXPECT_EQ(tags.response.status, 404);
  EXPECT_NE(tags.response.body.find("NAME_UNKNOWN"), std::string::npos);
  EXPECT_NE(tags.response.body.find("'tags/list'"), std::string::npos);
}

TEST_F(HandlerTest, ErrorsCarryTheSpecBody) {
  auto bad = call("GET", "/v2/Upper/manifests/latest");
  EXPECT_EQ(bad.response.status, 400);
  EXPECT_EQ(bad.response.body.rfind(R"({"errors":[{"code":"NAME_INVALID")", 0), 0u)
      << bad.response.body;
  EXPECT_EQ(header(bad.response, "Content-Type"), "application/json");
  EXPECT_EQ(header(bad.response, "Docker-Distribution-API-Version"), "registry/2.0");
  EXPECT_EQ(call("GET", "/v3/").response.status, 404);
  EXPECT_EQ(call("POST", "/v2/a/manifests/x").response.status, 405);
}

TEST_F(HandlerTest, ABusySessionRefusesASecondWriterAndTheLimitIsTooManyRequests) {
  std::string a = header(call("POST", "/v2/a/blobs/uploads/").response, "Location");
  std::string b = header(call("POST", "/v2/a/blobs/uploads/").response, "Location");
  auto first = call("PATCH", a, 10);
  ASSERT_TRUE(first.sink);
  ASSERT_TRUE(first.sink->write("01234", 5));
  auto second = call("PATCH", a, 10);
  EXPECT_FALSE(second.sink);
  EXPECT_EQ(second.response.status, 429);  // the limit (1) is reached before the session check
  EXPECT_NE(second.response.body.find("TOOMANYREQUESTS"), std::string::npos);
  auto other = call("PATCH", b, 10);
  EXPECT_EQ(other.response.status, 429);
  ASSERT_TRUE(first.sink->write("56789", 5));
  auto done = first.sink->finish({});
  EXPECT_EQ(done.status, 202);
  EXPECT_EQ(header(done, "Range"), "0-9");
  first.sink.reset();  // releases the session
  auto again = call("PATCH", b, 3);
  EXPECT_TRUE(again.sink);
}

TEST_F(HandlerTest, AChunkLongerThanItsRangeIsRefusedAndTheBytesBeforeStay) {
  std::string loc = header(call("POST", "/v2/a/blobs/uploads/").response, "Location");
  auto patch = [&] {
    http::ServerRequest r;
    r.method = "PATCH";
    r.target = r.path = loc;
    r.has_body = true;  // chunked: no Content-Length
    r.headers.push_back({"Content-Range", "0-3"});
    return handler_->handle(r);
  }();
  ASSERT_TRUE(patch.sink);
  ASSERT_TRUE(patch.sink->write("0123", 4));
  auto over = patch.sink->write("4", 1);
  ASSERT_FALSE(over);
  auto r = patch.sink->finish(std::move(over));
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(header(r, "Range"), "0-3");
}

// The spec answers a manifest that is not there with 404; a tag outside its grammar can never
// have been pushed, so reading or deleting one finds nothing (the conformance suite asks for
// ".INVALID_MANIFEST_NAME"), while pushing one stays a client error.
TEST_F(HandlerTest, AMalformedTagIsAnUnknownManifestToReadsAndInvalidToAPush) {
  (void)call("POST", "/v2/a/blobs/uploads/");  // the repository exists
  for (const char* method : {"GET", "HEAD", "DELETE"}) {
    auto r = call(method, "/v2/a/manifests/.INVALID_MANIFEST_NAME");
    EXPECT_EQ(r.response.status, 404) << method;
    EXPECT_NE(r.response.body.find("MANIFEST_UNKNOWN"), std::string::npos) << method;
  }
  auto put = call("PUT", "/v2/a/manifests/.INVALID_MANIFEST_NAME", 2);
  EXPECT_FALSE(put.sink);
  EXPECT_EQ(put.response.status, 400);
  EXPECT_NE(put.response.body.find("MANIFEST_INVALID"), std::string::npos);
  auto digest = call("GET", "/v2/a/manifests/sha256:nothex");
  EXPECT_EQ(digest.response.status, 400);
  EXPECT_NE(digest.response.body.find("DIGEST_INVALID"), std::string::npos);
}

TEST(RegistryRateLimit, AClientOverItsRateGets429WithRetryAfterAndOthersAreServed) {
  std::string root = fmt::format("/tmp/berth-registry-rate-test-{}", ::getpid());
  auto storage = open_filesystem_storage(root).value();
  AccessControl access;
  auto handler = make_registry_handler(
      *storage, access, {.requests_per_second_per_client = 1, .request_burst_per_client = 3});
  auto ping = [&](const std::string& remote) {
    http::ServerRequest r;
    r.method = "GET";
    r.target = r.path = "/v2/";
    r.remote = remote;
    return handler->handle(r).response;
  };
  // The burst, then nothing more within the second (the test runs in far less).
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ping("10.0.0.1:4000").status, 200) << i;
  auto refused = ping("10.0.0.1:4001");  // another port, the same address
  EXPECT_EQ(refused.status, 429);
  EXPECT_NE(refused.body.find(R"("code":"TOOMANYREQUESTS")"), std::string::npos) << refused.body;
  bool retry_after = false;
  for (const auto& h : refused.headers) retry_after |= h.name == "Retry-After" && h.value == "1";
  EXPECT_TRUE(retry_after);
  EXPECT_EQ(ping("10.0.0.2:4000").status, 200);
  EXPECT_EQ(ping("::1:4000").status, 200);  // IPv6: the address is what comes before the port
  (void)sys::remove_all(root);
}
