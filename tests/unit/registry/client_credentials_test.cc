// Credential helpers named in config.json ("credsStore", "credHelpers"): which one a registry
// uses, and the get/store/erase protocol against a small helper program written by the test (a
// shell script keeping one JSON file per registry, as docker-credential-pass keeps one per entry).
#include "registry/client_credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/sys.h"

namespace berth::registry {
namespace {

TEST(CredentialHelperInConfig, PerRegistryHelperWinsOverTheStore) {
  std::string json = R"({"credsStore": "pass", "credHelpers": {"https://reg.example:5000/v1/": "ecr-login"}})";
  EXPECT_EQ(*credential_helper_in_config(json, "reg.example:5000"), std::optional<std::string>("ecr-login"));
  EXPECT_EQ(*credential_helper_in_config(json, "other:5000"), std::optional<std::string>("pass"));
  EXPECT_EQ(*credential_helper_in_config(R"({"credsStore": ""})", "a"), std::nullopt);
  EXPECT_EQ(*credential_helper_in_config("", "a"), std::nullopt);
}

TEST(CredentialHelperInConfig, NamesTheBrokenField) {
  auto r = credential_helper_in_config(R"({"credHelpers": {"a": 1}})", "a");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("credHelpers.a"), std::string::npos) << r.error().message();
  r = credential_helper_in_config(R"({"credsStore": ["pass"]})", "a");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("credsStore"), std::string::npos) << r.error().message();
}

TEST(ConfigWithHelperEntry, LeavesAnEmptyEntryAndNoPassword) {
  std::string json = R"({"auths": {"reg:5000": {"auth": "YTpi"}, "keep:1": {"auth": "eDp5"}}, "credsStore": "pass"})";
  auto doc = nlohmann::json::parse(*config_with_helper_entry(json, "reg:5000", true));
  EXPECT_EQ(doc["auths"]["reg:5000"], nlohmann::json::object());
  EXPECT_EQ(doc["auths"]["keep:1"]["auth"], "eDp5");
  EXPECT_EQ(doc["credsStore"], "pass");
  doc = nlohmann::json::parse(*config_with_helper_entry(doc.dump(), "reg:5000", false));
  EXPECT_FALSE(doc["auths"].contains("reg:5000"));
  EXPECT_TRUE(doc["auths"].contains("keep:1"));
}

// A helper speaking Docker's protocol, keeping its secrets in $HELPER_DIR/<registry>.json.
class CredentialStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-cred-test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ::mkdir((dir_ + "/bin").c_str(), 0755);
    ::mkdir((dir_ + "/secrets").c_str(), 0700);
    write_helper("test", R"SH(#!/bin/sh
d=$HELPER_DIR
case "$1" in
  get) key=$(cat); f="$d/$(echo "$key" | tr '/:' '__').json"
       [ -f "$f" ] || { echo "credentials not found in native keychain"; exit 1; }
       cat "$f" ;;
  store) in=$(cat); key=$(echo "$in" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/')
       echo "$in" >"$d/$(echo "$key" | tr '/:' '__').json" ;;
  erase) key=$(cat); rm -f "$d/$(echo "$key" | tr '/:' '__').json" ;;
  *) echo "unknown verb $1"; exit 2 ;;
esac
)SH");
    write_helper("broken", "#!/bin/sh\necho 'gpg: decryption failed: No secret key'\nexit 1\n");
    write_helper("token", "#!/bin/sh\necho '{\"ServerURL\":\"r\",\"Username\":\"<token>\",\"Secret\":\"abc\"}'\n");
    write_helper("garbage", "#!/bin/sh\necho 'not json'\n");
    write_helper("empty", "#!/bin/sh\necho '{\"ServerURL\":\"e:1\",\"Username\":\"\",\"Secret\":\"\"}'\n");
    saved_path_ = std::getenv("PATH") ? std::getenv("PATH") : "";
    ::setenv("PATH", (dir_ + "/bin:" + saved_path_).c_str(), 1);
    ::setenv("HELPER_DIR", (dir_ + "/secrets").c_str(), 1);
    config_ = dir_ + "/docker/config.json";
  }
  void TearDown() override {
    ::setenv("PATH", saved_path_.c_str(), 1);
    (void)sys::remove_all(dir_);
  }
  void write_helper(const std::string& name, const std::string& script) {
    std::string path = dir_ + "/bin/docker-credential-" + name;
    std::ofstream(path) << script;
    ::chmod(path.c_str(), 0755);
  }
  void write_config(const std::string& json) {
    ::mkdir((dir_ + "/docker").c_str(), 0700);
    std::ofstream(config_) << json;
  }
  nlohmann::json config() { return nlohmann::json::parse(*sys::read_file(config_)); }

  std::string dir_, saved_path_, config_;
};

TEST_F(CredentialStoreTest, StoresGetsAndErasesThroughTheHelperKeepingNoSecretInTheFile) {
  write_config(R"({"credsStore": "test", "auths": {"reg:5000": {"auth": "b2xkOnBsYWlu"}}})");
  auto store = CredentialStore::open(config_);
  ASSERT_TRUE(store);
  auto where = store->store("reg:5000", {"alice", "s3cret"});
  ASSERT_TRUE(where) << where.error().message();
  EXPECT_EQ(*where, std::optional<std::string>("test"));
  EXPECT_EQ(config()["auths"]["reg:5000"], nlohmann::json::object());
  EXPECT_TRUE(sys::exists(dir_ + "/secrets/reg_5000.json"));

  auto again = CredentialStore::open(config_);
  auto got = again->get("reg:5000");
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, std::optional<Credentials>(Credentials{"alice", "s3cret"}));
  // Nothing held for another registry: not an error.
  EXPECT_EQ(*again->get("other:1"), std::nullopt);
  // Nor empty credentials (docker-credential-pass's "not found").
  write_config(R"({"credsStore": "empty"})");
  EXPECT_EQ(*CredentialStore::open(config_)->get("e:1"), std::nullopt);
  write_config(R"({"credsStore": "test", "auths": {"reg:5000": {}}})");

  auto erased = again->erase("reg:5000");
  ASSERT_TRUE(erased) << erased.error().message();
  EXPECT_TRUE(*erased);
  EXPECT_FALSE(sys::exists(dir_ + "/secrets/reg_5000.json"));
  EXPECT_FALSE(config()["auths"].contains("reg:5000"));
  EXPECT_FALSE(*CredentialStore::open(config_)->erase("reg:5000"));
}

TEST_F(CredentialStoreTest, DockerIoUsesDockersHistoricalServerUrl) {
  write_config(R"({"credsStore": "test"})");
  auto store = CredentialStore::open(config_);
  ASSERT_TRUE(store->store("docker.io", {"bob", "pw"}));
  EXPECT_TRUE(sys::exists(dir_ + "/secrets/https___index.docker.io_v1_.json"));
  EXPECT_EQ(*store->get("index.docker.io"), std::optional<Credentials>(Credentials{"bob", "pw"}));
}

TEST_F(CredentialStoreTest, WithoutAHelperTheFileKeepsTheLogin) {
  auto store = CredentialStore::open(config_);
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->get("reg:5000"), std::nullopt);
  EXPECT_FALSE(*store->erase("reg:5000"));
  EXPECT_FALSE(sys::exists(config_));  // nothing to forget: no file made
  auto where = store->store("reg:5000", {"alice", "pw"});
  ASSERT_TRUE(where);
  EXPECT_EQ(*where, std::nullopt);  // the file keeps it
  struct stat st {};
  ASSERT_EQ(::stat(config_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(*CredentialStore::open(config_)->get("reg:5000"), std::optional<Credentials>(Credentials{"alice", "pw"}));
}

TEST_F(CredentialStoreTest, HelperFailuresNameTheHelperAndQuoteIt) {
  write_config(R"({"credHelpers": {"a:1": "broken", "b:1": "missing", "c:1": "token", "d:1": "garbage"}})");
  auto store = CredentialStore::open(config_);
  auto r = store->get("a:1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("docker-credential-broken get failed (exit 1): gpg: decryption failed"),
            std::string::npos)
      << r.error().message();
  r = store->get("b:1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no 'docker-credential-missing' in PATH"), std::string::npos)
      << r.error().message();
  r = store->get("c:1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("identity token"), std::string::npos) << r.error().message();
  r = store->get("d:1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no \"Username\" and \"Secret\": not json"), std::string::npos)
      << r.error().message();
  // A failed store changes nothing in the file.
  std::string before = *sys::read_file(config_);
  EXPECT_FALSE(store->store("a:1", {"x", "y"}));
  EXPECT_EQ(*sys::read_file(config_), before);
}

}  // namespace
}  // namespace berth::registry
