#include "registry/access.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

using namespace berth::registry;

namespace {

// alice: s3cret (read-write on team/*), bob: hunter2 (read-only on team/*); made by htpasswd -B.
constexpr const char* kHtpasswd =
    "alice:$2y$05$VKI5wNBDMYpEVo1cOjKBZu96wbUFc2xC/EQbc5y8c6XL8Fjpdg5Lu\n"
    "bob:$2y$05$8dM.H7dcDYGNUaJz5xJ54e0LOgMbz0QWD8bj0NUVhFsRZRaVO9D36\n";

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/berth-access-test-" + std::to_string(::getpid());
    ASSERT_EQ(::system(("mkdir -p " + dir_).c_str()), 0);
    std::ofstream(dir_ + "/htpasswd") << kHtpasswd;
    std::ofstream(dir_ + "/key") << std::string(32, 'k');
  }
  void TearDown() override { (void)::system(("rm -rf " + dir_).c_str()); }

  AccessConfig config(bool with_token) {
    std::string text = R"({"htpasswd": "htpasswd", "anonymous_pull": ["public/*"],
      "rules": [{"repository": "team/*", "users": ["alice"], "actions": ["pull", "push", "delete"]},
                {"repository": "team/*", "users": ["bob"], "actions": ["pull"]}])";
    if (with_token)
      text +=
          R"(, "token": {"realm": "https://127.0.0.1:5000/token", "service": "reg", "key_file": "key", "ttl": 60})";
    text += "}";
    std::string path = dir_ + "/config.json";
    std::ofstream(path) << text;
    auto c = load_access_config(path);
    EXPECT_TRUE(c) << (c ? "" : c.error().message());
    return *c;
  }

  static std::string basic(const std::string& user_password) {
    static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    int val = 0, bits = -6;
    for (unsigned char c : user_password) {
      val = (val << 8) + c;
      bits += 8;
      while (bits >= 0) {
        out.push_back(b64[(val >> bits) & 0x3F]);
        bits -= 6;
      }
    }
    if (bits > -6) out.push_back(b64[((val << 8) >> (bits + 8)) & 0x3F]);
    while (out.size() % 4) out.push_back('=');
    return "Basic " + out;
  }

  std::string dir_;
};

}  // namespace

TEST(AccessConfigParse, ErrorsNameTheField) {
  auto bad_action = parse_access_config(
      R"({"htpasswd": "h", "rules": [{"repository": "a/*", "users": ["x"], "actions": ["write"]}]})",
      "c.json", "/");
  ASSERT_FALSE(bad_action);
  EXPECT_NE(bad_action.error().message().find("rules[0].actions[0]: 'write'"), std::string::npos)
      << bad_action.error().message();
  auto unknown = parse_access_config(R"({"htpasswd": "h", "users": []})", "c.json", "/");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("unknown field 'users'"), std::string::npos);
  EXPECT_FALSE(parse_access_config("{not json", "c.json", "/"));
  auto no_realm = parse_access_config(R"({"token": {"key_file": "k"}})", "c.json", "/");
  ASSERT_FALSE(no_realm);
  EXPECT_NE(no_realm.error().message().find("token.realm"), std::string::npos);
}

TEST(AccessControlOpen, WithoutConfigEverythingIsAllowed) {
  AccessControl open;
  EXPECT_FALSE(open.enabled());
  EXPECT_FALSE(open.check(Identity{}, "any/repo", "delete"));
}

TEST_F(AccessTest, BasicCredentialsAreCheckedWithBcrypt) {
  AccessControl ac(config(false));
  std::string good = basic("alice:s3cret");
  auto who = ac.authenticate(&good);
  ASSERT_TRUE(who) << who.error().message();
  EXPECT_EQ(who->user, "alice");
  auto again = ac.authenticate(&good);  // the cached verification
  ASSERT_TRUE(again);
  std::string wrong = basic("alice:nope");
  auto refused = ac.authenticate(&wrong);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), berth::ErrorKind::unauthenticated);
  std::string unknown = basic("carol:s3cret");
  EXPECT_FALSE(ac.authenticate(&unknown));
  std::string anonymous = basic(":");
  auto anon = ac.authenticate(&anonymous);
  ASSERT_TRUE(anon);
  EXPECT_TRUE(anon->user.empty());
}

TEST_F(AccessTest, PermissionMatrixForBasicUsers) {
  AccessControl ac(config(false));
  struct Case {
    const char* user;
    const char* action;
    int status;  // 0 allowed
  };
  for (Case c : {Case{"", "pull", 401}, Case{"", "push", 401}, Case{"", "delete", 401},
                 Case{"bob", "pull", 0}, Case{"bob", "push", 403}, Case{"bob", "delete", 403},
                 Case{"alice", "pull", 0}, Case{"alice", "push", 0}, Case{"alice", "delete", 0}}) {
    auto refusal = ac.check(Identity{c.user, std::nullopt}, "team/app", c.action);
    EXPECT_EQ(refusal ? refusal->status : 0, c.status) << c.user << " " << c.action;
  }
  auto denied = ac.check(Identity{"bob", std::nullopt}, "team/app", "push");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->code, "DENIED");
  EXPECT_EQ(denied->message, "user 'bob' may not push to 'team/app' (needs push)");
  auto anonymous = ac.check(Identity{}, "team/app", "pull");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->challenge, "Basic realm=\"berth-registry\"");
  // anonymous_pull: anyone pulls public/*, nobody unlisted pushes there.
  EXPECT_FALSE(ac.check(Identity{}, "public/x", "pull"));
  EXPECT_TRUE(ac.check(Identity{"alice", std::nullopt}, "public/x", "push"));
}

TEST_F(AccessTest, TokensGrantWhatTheRulesAllowAndNoMore) {
  AccessControl ac(config(true));
  auto body = ac.issue_token("bob", "reg", {"repository:team/app:pull,push,delete"}, 1000);
  ASSERT_TRUE(body) << body.error().message();
  auto start = body->find("\"token\":\"") + 9;
  std::string token = body->substr(start, body->find('"', start) - start);
  auto claims = verify_token(token, std::string(32, 'k'), "reg", "berth", 1001);
  ASSERT_TRUE(claims) << claims.error().message();
  ASSERT_EQ(claims->access.size(), 1u);
  EXPECT_EQ(claims->access[0].actions, (std::vector<std::string>{"pull"}));
  Identity bob{"bob", claims->access};
  EXPECT_FALSE(ac.check(bob, "team/app", "pull"));
  auto push = ac.check(bob, "team/app", "push");
  ASSERT_TRUE(push);
  EXPECT_EQ(push->status, 403);
  // An anonymous token for a private repository grants nothing: 401 with the scope to ask for.
  Identity anonymous{"", std::vector<Grant>{}};
  auto refusal = ac.check(anonymous, "team/app", "pull");
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->status, 401);
  EXPECT_EQ(
      refusal->challenge,
      "Bearer "
      "realm=\"https://127.0.0.1:5000/token\",service=\"reg\",scope=\"repository:team/app:pull\","
      "error=\"insufficient_scope\"");
  EXPECT_FALSE(ac.issue_token("bob", "other-service", {}, 1000));
}
