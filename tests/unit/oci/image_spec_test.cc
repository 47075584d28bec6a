#include "oci/image_spec.h"

#include <gtest/gtest.h>

namespace berth::oci {
namespace {

const std::string kD1 = "sha256:" + std::string(64, 'a');
const std::string kD2 = "sha256:" + std::string(64, 'b');

std::string manifest_json(std::string_view layer_digest = "") {
  std::string d = layer_digest.empty() ? kD2 : std::string(layer_digest);
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
         R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
         kD1 + R"(","size":7},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",)"
         R"("digest":")" + d + R"(","size":32654,"annotations":{"k":"v"}}]})";
}

TEST(ImageSpec, ParsesManifest) {
  auto m = parse_manifest(manifest_json(), "manifest");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->media_type, media_type::kImageManifest);
  EXPECT_EQ(m->config.digest, kD1);
  EXPECT_EQ(m->config.size, 7);
  ASSERT_EQ(m->layers.size(), 1u);
  EXPECT_EQ(m->layers[0].size, 32654);
  EXPECT_EQ(m->layers[0].annotations.at("k"), "v");
  EXPECT_TRUE(media_type::is_layer(m->layers[0].media_type));
}

TEST(ImageSpec, ManifestRoundTripsCanonically) {
  auto m = parse_manifest(manifest_json(), "manifest");
  ASSERT_TRUE(m);
  std::string out = to_json(*m);
  auto again = parse_manifest(out, "again");
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(to_json(*again), out);
  // Keys sorted, compact.
  EXPECT_EQ(out.rfind(R"({"config":{"digest":")", 0), 0u) << out;
  EXPECT_EQ(out.find(' '), std::string::npos);
}

TEST(ImageSpec, ManifestErrorsNameTheFieldPath) {
  auto m = parse_manifest(manifest_json("sha256:xyz"), "manifest m1");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().message(),
            "manifest m1: layers[0].digest: invalid digest 'sha256:xyz': sha256 wants 64 "
            "lower-case hex digits");
  auto missing = parse_manifest(R"({"schemaVersion":2,"layers":[]})", "m");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message(), "m: config: required field missing");
  auto size = parse_manifest(R"({"schemaVersion":2,"config":{"mediaType":"x","digest":")" + kD1 +
                                 R"(","size":-1},"layers":[]})",
                             "m");
  ASSERT_FALSE(size);
  EXPECT_EQ(size.error().message(), "m: config.size: size must not be negative, got -1");
  auto version = parse_manifest(R"({"schemaVersion":1})", "m");
  ASSERT_FALSE(version);
  EXPECT_EQ(version.error().message(), "m: schemaVersion: unsupported schema version 1 (want 2)");
  auto type = parse_manifest(R"({"schemaVersion":2,"mediaType":"text/plain"})", "m");
  ASSERT_FALSE(type);
  EXPECT_EQ(type.error().message(), "m: mediaType: 'text/plain' is not an image manifest media type");
  auto malformed = parse_manifest("{", "m");
  ASSERT_FALSE(malformed);
  EXPECT_NE(malformed.error().message().find("m: malformed JSON"), std::string::npos);
  EXPECT_EQ(malformed.error().kind(), ErrorKind::invalid_argument);
}

TEST(ImageSpec, AcceptsDockerSchema2Manifest) {
  std::string j = manifest_json();
  j.replace(j.find("application/vnd.oci.image.manifest.v1+json"),
            std::string("application/vnd.oci.image.manifest.v1+json").size(),
            media_type::kDockerManifest);
  EXPECT_TRUE(parse_manifest(j, "m"));
}

TEST(ImageSpec, ParsesIndexWithPlatformsAndRefNames) {
  std::string j = R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
                  R"("digest":")" + kD1 + R"(","size":10,"platform":{"architecture":"amd64","os":"linux"},)"
                  R"("annotations":{"org.opencontainers.image.ref.name":"v1"}}]})";
  auto x = parse_index(j, "index.json");
  ASSERT_TRUE(x) << x.error().message();
  ASSERT_EQ(x->manifests.size(), 1u);
  ASSERT_TRUE(x->manifests[0].platform);
  EXPECT_EQ(x->manifests[0].platform->architecture, "amd64");
  EXPECT_EQ(x->manifests[0].annotations.at(std::string(kAnnotationRefName)), "v1");
  EXPECT_EQ(to_json(*parse_index(to_json(*x), "again")), to_json(*x));
  auto bad = parse_index(R"({"schemaVersion":2,"manifests":[{"mediaType":"m","digest":")" + kD1 +
                             R"(","size":1,"platform":{"os":"linux"}}]})",
                         "index.json");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "index.json: manifests[0].platform.architecture: required field missing");
}

TEST(ImageSpec, ParsesImageConfig) {
  std::string j = R"({"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
    "config":{"User":"1000:1000","ExposedPorts":{"80/tcp":{},"53/udp":{}},"Env":["PATH=/bin"],
      "Entrypoint":null,"Cmd":["sh"],"WorkingDir":"/srv","Labels":{"a":"b"},"StopSignal":"SIGINT",
      "Volumes":{"/data":{}},"Healthcheck":{"Test":["CMD","true"],"Interval":1000000000,"Retries":3},
      "Hostname":"ignored"},
    "rootfs":{"type":"layers","diff_ids":[")" + kD1 + R"("]},
    "history":[{"created_by":"import","empty_layer":false}],"container_config":{}})";
  auto c = parse_image_config(j, "config");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->config.user, "1000:1000");
  EXPECT_EQ(c->config.exposed_ports, (std::set<std::string>{"53/udp", "80/tcp"}));
  EXPECT_FALSE(c->config.entrypoint);
  ASSERT_TRUE(c->config.cmd);
  EXPECT_EQ(*c->config.cmd, std::vector<std::string>{"sh"});
  EXPECT_EQ(c->config.working_dir, "/srv");
  EXPECT_EQ(c->config.stop_signal, "SIGINT");
  ASSERT_TRUE(c->config.healthcheck);
  EXPECT_EQ(c->config.healthcheck->retries, 3);
  EXPECT_EQ(c->diff_ids, std::vector<std::string>{kD1});
  ASSERT_EQ(c->history.size(), 1u);
  std::string out = to_json(*c);
  auto again = parse_image_config(out, "again");
  ASSERT_TRUE(again) << again.error().message() << "\n" << out;
  EXPECT_EQ(to_json(*again), out);
  EXPECT_NE(out.find(R"("ExposedPorts":{"53/udp":{},"80/tcp":{}})"), std::string::npos) << out;
}

TEST(ImageSpec, EmptyCmdDiffersFromAbsentCmd) {
  ImageConfig c;
  c.architecture = "amd64";
  c.os = "linux";
  EXPECT_EQ(to_json(c).find("Cmd"), std::string::npos);
  c.config.cmd = std::vector<std::string>{};
  EXPECT_NE(to_json(c).find(R"("Cmd":[])"), std::string::npos);
}

TEST(ImageSpec, ImageConfigErrorsNameTheFieldPath) {
  auto env = parse_image_config(
      R"({"architecture":"amd64","os":"linux","config":{"Env":["A=1","B"]},"rootfs":{"type":"layers","diff_ids":[]}})",
      "config c1");
  ASSERT_FALSE(env);
  EXPECT_EQ(env.error().message(), "config c1: config.Env[1]: 'B' is not of the form NAME=value");
  auto ids = parse_image_config(
      R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["x"]}})", "c");
  ASSERT_FALSE(ids);
  EXPECT_NE(ids.error().message().find("c: rootfs.diff_ids[0]: invalid digest 'x'"), std::string::npos);
  auto rootfs = parse_image_config(R"({"architecture":"amd64","os":"linux"})", "c");
  ASSERT_FALSE(rootfs);
  EXPECT_EQ(rootfs.error().message(), "c: rootfs: required field missing");
  auto cmd = parse_image_config(
      R"({"architecture":"amd64","os":"linux","config":{"Cmd":"sh"},"rootfs":{"type":"layers","diff_ids":[]}})", "c");
  ASSERT_FALSE(cmd);
  EXPECT_EQ(cmd.error().message(), "c: config.Cmd: expected an array, got string");
  auto ports = parse_image_config(
      R"({"architecture":"amd64","os":"linux","config":{"ExposedPorts":{"80/tcp":1}},"rootfs":{"type":"layers","diff_ids":[]}})", "c");
  ASSERT_FALSE(ports);
  EXPECT_EQ(ports.error().message(), "c: config.ExposedPorts.80/tcp: expected {}, got number");
}

TEST(ImageSpec, DescriptorAndLayout) {
  auto d = parse_descriptor(R"({"mediaType":"a","digest":")" + kD1 + R"(","size":3})", "d");
  ASSERT_TRUE(d);
  EXPECT_EQ(to_json(*d), R"({"digest":")" + kD1 + R"(","mediaType":"a","size":3})");
  EXPECT_EQ(image_layout_json(), R"({"imageLayoutVersion":"1.0.0"})");
}

}  // namespace
}  // namespace berth::oci
