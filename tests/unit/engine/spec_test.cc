// The pure parts of the engine: container options, the config.json built from them and the
// image, user resolution against an image's /etc files, and event filters.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>

#include "base/sys.h"
#include "engine/container_config.h"
#include "engine/events.h"
#include "engine/spec.h"

namespace berth::engine {
namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/berth-engine-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { (void)sys::remove_all(path); }
  void write(const std::string& rel, const std::string& text) {
    auto slash = rel.rfind('/');
    if (slash != std::string::npos) {
      ASSERT_TRUE(sys::mkdir_all(path + "/" + rel.substr(0, slash)));
    }
    ASSERT_TRUE(sys::atomic_write(path + "/" + rel, text));
  }
  std::string path;
};

TEST(ContainerConfig, ParsesVolumesLikeDocker) {
  auto bind = parse_volume("/srv/data:/data:ro");
  ASSERT_TRUE(bind) << bind.error().message();
  EXPECT_TRUE(bind->is_bind());
  EXPECT_EQ(bind->destination, "/data");
  EXPECT_TRUE(bind->read_only);
  auto named = parse_volume("cache:/var/cache");
  ASSERT_TRUE(named);
  EXPECT_FALSE(named->is_bind());
  EXPECT_FALSE(named->read_only);
  auto anonymous = parse_volume("/scratch");
  ASSERT_TRUE(anonymous);
  EXPECT_TRUE(anonymous->source.empty());

  auto relative = parse_volume("data:relative");
  ASSERT_FALSE(relative);
  EXPECT_EQ(relative.error().message(), "volume 'data:relative': the destination must be an absolute path");
  auto option = parse_volume("/a:/b:rx");
  ASSERT_FALSE(option);
  EXPECT_EQ(option.error().message(), "volume '/a:/b:rx': unknown option 'rx' (use ro or rw)");
  EXPECT_FALSE(parse_volume("a b:/c"));
  EXPECT_FALSE(parse_volume("/a:/"));
}

TEST(ContainerConfig, ParsesSizes) {
  EXPECT_EQ(*parse_size("512m"), 512 << 20);
  EXPECT_EQ(*parse_size("1g"), int64_t{1} << 30);
  EXPECT_EQ(*parse_size("64k"), 64 << 10);
  EXPECT_EQ(*parse_size("1024"), 1024);
  EXPECT_EQ(*parse_size("2MB"), 2 << 20);
  auto bad = parse_size("lots");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("'lots'"), std::string::npos);
  EXPECT_FALSE(parse_size("5x"));
}

TEST(ContainerConfig, ReadsEnvFilesAndNamesTheBadLine) {
  TempDir dir;
  ::setenv("BERTH_TEST_FROM_HOST", "host-value", 1);
  dir.write("env", "# comment\nA=1\n\nB=two words\nBERTH_TEST_FROM_HOST\nBERTH_TEST_UNSET_VAR\n");
  auto env = read_env_file(dir.path + "/env");
  ASSERT_TRUE(env) << env.error().message();
  EXPECT_EQ(*env, (std::vector<std::string>{"A=1", "B=two words", "BERTH_TEST_FROM_HOST=host-value"}));
  dir.write("bad", "A=1\nnot valid=2\n");
  auto bad = read_env_file(dir.path + "/bad");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), dir.path + "/bad:2: 'not valid=2' is not NAME=value");
}

TEST(ContainerConfig, RoundTripsThroughJson) {
  ContainerConfig c;
  c.image = "busybox";
  c.entrypoint = std::vector<std::string>{"/bin/sh", "-c"};
  c.command = {"echo hi"};
  c.env = {"A=1"};
  c.volumes = {{"/srv", "/data", true}, {"cache", "/cache", false}};
  c.memory = 1 << 20;
  c.cpus = 0.5;
  c.pids_limit = 10;
  c.restart = "on-failure:3";
  c.labels = {{"app", "web"}};
  c.stop_timeout = 3;
  auto back = parse_container_config(to_json(c));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(to_json(*back), to_json(c));
  EXPECT_EQ(back->volumes[0].source, "/srv");
  EXPECT_TRUE(back->volumes[0].read_only);
  EXPECT_EQ(*back->cpus, 0.5);
}

TEST(Spec, ProcessArgsFollowDockersEntrypointAndCmdRules) {
  oci::ContainerConfig image;
  image.entrypoint = std::vector<std::string>{"/entry"};
  image.cmd = std::vector<std::string>{"default"};
  ContainerConfig c;
  EXPECT_EQ(*process_args(c, image), (std::vector<std::string>{"/entry", "default"}));
  c.command = {"given"};
  EXPECT_EQ(*process_args(c, image), (std::vector<std::string>{"/entry", "given"}));
  c.entrypoint = std::vector<std::string>{"/other"};
  c.command.clear();
  // Overriding the entrypoint drops the image's CMD, as Docker does.
  EXPECT_EQ(*process_args(c, image), (std::vector<std::string>{"/other"}));
  c.entrypoint = std::vector<std::string>{};
  auto none = process_args(c, image);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::invalid_argument);
}

TEST(Spec, ResolvesUsersAndGroupsFromTheImage) {
  TempDir top, bottom;
  bottom.write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
  top.write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
  top.write("etc/group", "root:x:0:\napp:x:1000:\nstaff:x:50:app,other\n");
  std::vector<std::string> roots = {top.path, bottom.path};
  auto app = resolve_user(roots, "app");
  ASSERT_TRUE(app) << app.error().message();
  EXPECT_EQ(app->uid, 1000u);
  EXPECT_EQ(app->gid, 1000u);
  EXPECT_EQ(app->additional_gids, (std::vector<uint32_t>{50}));
  auto numeric = resolve_user(roots, "4242:7");
  ASSERT_TRUE(numeric);
  EXPECT_EQ(numeric->uid, 4242u);
  EXPECT_EQ(numeric->gid, 7u);
  // In no other group: its own is the supplementary one, as runc gives it under docker.
  EXPECT_EQ(numeric->additional_gids, (std::vector<uint32_t>{7}));
  EXPECT_EQ(resolve_user(roots, "")->additional_gids, (std::vector<uint32_t>{0}));
  auto group = resolve_user(roots, "app:staff");
  ASSERT_TRUE(group);
  EXPECT_EQ(group->gid, 50u);
  auto unknown = resolve_user(roots, "nobody-here");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message(), "user 'nobody-here': no such user in the image's /etc/passwd");
  EXPECT_FALSE(resolve_user(roots, "app:nogroup"));
}

TEST(Spec, BuildsDockersDefaultsAndTheUsersOptions) {
  oci::ImageConfig image;
  image.config.env = {"PATH=/bin", "FROM_IMAGE=1"};
  image.config.cmd = std::vector<std::string>{"sh"};
  image.config.working_dir = "/srv";
  ContainerConfig c;
  c.env = {"FROM_IMAGE=2", "EXTRA=x"};
  c.memory = 64 << 20;
  c.cpus = 1.5;
  c.pids_limit = 20;
  c.read_only = true;
  c.tmpfs = {"/run:size=1m"};
  c.init = true;
  c.cap_drop = {"NET_RAW"};
  SpecInputs in;
  in.id = "abc";
  in.rootfs = "/r";
  in.hostname = "host1";
  in.mounts = {{"/srv/data", "/data", true}};
  in.etc_dir = "/e";
  in.init_binary = "/usr/bin/tini-static";
  in.cgroups_path = "/berth/abc";
  auto spec = build_spec(c, image, in);
  ASSERT_TRUE(spec) << spec.error().message();
  const auto& p = *spec->process;
  EXPECT_EQ(p.args, (std::vector<std::string>{"/sbin/docker-init", "--", "sh"}));
  EXPECT_EQ(p.cwd, "/srv");
  EXPECT_NE(std::find(p.env.begin(), p.env.end(), "FROM_IMAGE=2"), p.env.end());
  EXPECT_NE(std::find(p.env.begin(), p.env.end(), "HOSTNAME=host1"), p.env.end());
  EXPECT_EQ(std::count_if(p.env.begin(), p.env.end(), [](auto& e) { return e.starts_with("FROM_IMAGE="); }), 1);
  auto& caps = p.capabilities->bounding;
  EXPECT_EQ(std::find(caps.begin(), caps.end(), "CAP_NET_RAW"), caps.end());
  EXPECT_NE(std::find(caps.begin(), caps.end(), "CAP_CHOWN"), caps.end());
  EXPECT_TRUE(spec->root.readonly);
  EXPECT_EQ(*spec->linux.resources->memory->limit, 64 << 20);
  EXPECT_EQ(*spec->linux.resources->cpu->quota, 150000);
  EXPECT_EQ(*spec->linux.resources->pids_limit, 20);
  EXPECT_TRUE(spec->linux.seccomp.has_value());
  EXPECT_NE(spec->linux.find_namespace("network"), nullptr);
  auto mount_at = [&](const std::string& destination) -> const oci::Mount* {
    for (const auto& m : spec->mounts)
      if (m.destination == destination) return &m;
    return nullptr;
  };
  ASSERT_NE(mount_at("/data"), nullptr);
  EXPECT_NE(std::find(mount_at("/data")->options.begin(), mount_at("/data")->options.end(), "ro"),
            mount_at("/data")->options.end());
  ASSERT_NE(mount_at("/run"), nullptr);
  EXPECT_EQ(mount_at("/run")->type, "tmpfs");
  ASSERT_NE(mount_at("/etc/hosts"), nullptr);
  EXPECT_EQ(mount_at("/etc/hosts")->source, "/e/hosts");
  ASSERT_NE(mount_at("/sbin/docker-init"), nullptr);

  c.seccomp = "unconfined";
  c.network = "host";
  auto host = build_spec(c, image, in);
  ASSERT_TRUE(host);
  EXPECT_FALSE(host->linux.seccomp.has_value());
  EXPECT_EQ(host->linux.find_namespace("network"), nullptr);

  c.workdir = "relative";
  EXPECT_FALSE(build_spec(c, image, in));
}

TEST(Events, FiltersLikeDocker) {
  auto bad = EventFilter::parse({"colour=red"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("'colour=red'"), std::string::npos);
  auto f = EventFilter::parse({"type=container", "event=die", "event=start", "container=web"});
  ASSERT_TRUE(f);
  Event die{1, 10, "container", "die", "0123abcd", {{"name", "web"}, {"exitCode", "1"}}};
  EXPECT_TRUE(f->matches(die));
  Event create = die;
  create.action = "create";
  EXPECT_FALSE(f->matches(create));
  Event other = die;
  other.attributes["name"] = "db";
  other.actor_id = "ffff";
  EXPECT_FALSE(f->matches(other));
  auto by_id = EventFilter::parse({"container=0123"});
  EXPECT_TRUE(by_id->matches(die));
  auto label = EventFilter::parse({"label=app=web"});
  Event labelled = die;
  labelled.attributes["app"] = "web";
  EXPECT_TRUE(label->matches(labelled));
  EXPECT_FALSE(label->matches(die));
  // Two labels: both must be there (a project's events of one service), as docker's filter.
  auto two = EventFilter::parse({"label=app=web", "label=tier=front"});
  EXPECT_FALSE(two->matches(labelled));
  labelled.attributes["tier"] = "front";
  EXPECT_TRUE(two->matches(labelled));
  labelled.attributes["tier"] = "back";
  EXPECT_FALSE(two->matches(labelled));
  EventFilter window;
  window.since = 5;
  window.until = 9;
  EXPECT_FALSE(window.matches(die));
}

TEST(Spec, LimitsPidsAndDeniesDevicesByDefault) {
  oci::ImageConfig image;
  image.config.cmd = std::vector<std::string>{"sh"};
  ContainerConfig c;
  SpecInputs in;
  in.rootfs = "/r";
  auto spec = build_spec(c, image, in);
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->linux.resources->pids_limit, kDefaultPidsLimit);
  // The first device rule denies everything; the runtime appends the standard nodes after it.
  ASSERT_FALSE(spec->linux.resources->devices.empty());
  EXPECT_EQ(spec->linux.resources->devices.front(),
            (oci::DeviceRule{false, "a", std::nullopt, std::nullopt, "rwm"}));
  c.pids_limit = 0;  // docker's "unlimited"
  spec = build_spec(c, image, in);
  ASSERT_TRUE(spec);
  EXPECT_FALSE(spec->linux.resources->pids_limit.has_value());
  c.pids_limit = -1;
  spec = build_spec(c, image, in);
  ASSERT_TRUE(spec);
  EXPECT_FALSE(spec->linux.resources->pids_limit.has_value());
}

}  // namespace
}  // namespace berth::engine
