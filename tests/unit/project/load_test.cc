#include "project/load.h"

#include <gtest/gtest.h>

#include "project/normalise.h"
#include "project/plan.h"

using namespace berth::project;

namespace {

LoadOptions files(std::vector<SourceFile> f) {
  LoadOptions o;
  o.files = std::move(f);
  o.working_dir = "/srv/shop";
  o.read_file = [](const std::string& path) -> berth::Result<std::string> {
    if (path == "/srv/shop/web.env") return std::string("FROM_FILE=1\nOVERRIDDEN=file\n");
    if (path == "/srv/shop/base.yaml")
      return std::string("services:\n  base:\n    image: busybox\n    environment: [BASE=1]\n");
    return berth::Error(berth::ErrorKind::not_found, "no such file");
  };
  return o;
}

LoadOptions compose(std::string text) {
  return files({{"/srv/shop/compose.yaml", std::move(text)}});
}

std::string error_of(const LoadOptions& o) {
  auto r = load_project(o);
  return r ? "loaded" : r.error().message();
}

}  // namespace

TEST(ComposeLoad, AJsonFileNestedTooDeepIsAnErrorNotACrash) {
  // `compose config` on 100,000 nested arrays: every walk of the tree recursed (a segfault).
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto o = files({{"/srv/shop/compose.json",
                   R"({"services": {"a": {"image": "x", "labels": )" + deep + "}}}"}});
  EXPECT_NE(error_of(o).find("nested more than 512 deep"), std::string::npos) << error_of(o);
}

TEST(ComposeLoad, YamlNestedTooDeepSaysSo) {
  // yaml-cpp stops at its depth guard, but its message was "bad file".
  std::string deep = "services:\n  a:\n    image: x\n    labels:\n      ";
  for (int i = 0; i < 100000; ++i) deep += "- ";
  EXPECT_NE(error_of(compose(deep + "x\n")).find("compose.yaml:5:"), std::string::npos);
  EXPECT_NE(error_of(compose(deep + "x\n")).find("nested too deep"), std::string::npos)
      << error_of(compose(deep + "x\n"));
}

TEST(ComposeLoad, MinimalFileGetsDirectoryNameAndDefaultNetwork) {
  auto r = load_project(compose("services:\n  web:\n    image: busybox\n"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->project.name, "shop");
  ASSERT_EQ(r->project.services.size(), 1u);
  EXPECT_EQ(r->project.services[0].image, "busybox");
  EXPECT_EQ(r->project.services[0].replicas, 1);
  ASSERT_EQ(r->project.networks.size(), 1u);
  EXPECT_EQ(r->project.networks[0].name, "default");
  EXPECT_EQ(network_name(r->project, "default"), "shop_default");
}

TEST(ComposeLoad, ProjectNamePrecedence) {
  auto o = compose("name: FromFile\nservices:\n  web:\n    image: busybox\n");
  EXPECT_EQ(load_project(o)->project.name, "fromfile");
  o.environment["COMPOSE_PROJECT_NAME"] = "fromenv";
  EXPECT_EQ(load_project(o)->project.name, "fromenv");
  o.project_name = "Flag";
  EXPECT_EQ(load_project(o)->project.name, "flag");
}

TEST(ComposeLoad, EveryServiceField) {
  auto o = compose(R"(
version: '3.8'
services:
  web:
    image: "busybox:${TAG:-latest}"
    command: sh -c 'httpd -f -p 80'
    entrypoint: ["/bin/sh", "-c"]
    environment:
      A: 1
      B: "two"
      C:
      OVERRIDDEN: env
    env_file: web.env
    ports: ["8080:80", "127.0.0.1:9000-9001:9000-9001/udp", {target: 443, published: "8443", host_ip: 127.0.0.1}]
    expose: [81, "82"]
    volumes: ["data:/data:ro", "./html:/www", "/abs:/abs", "/anon", {type: tmpfs, target: /cache, tmpfs: {size: 1m}}]
    networks:
      front: {aliases: [www], ipv4_address: 10.5.0.5}
    depends_on:
      db: {condition: service_healthy}
    healthcheck: {test: ["CMD", "true"], interval: 1m30s, timeout: 500ms, retries: 5, start_period: 2s}
    restart: on-failure:3
    deploy: {resources: {limits: {memory: 64m, cpus: "0.5", pids: 100}}, update_config: {order: stop-first, parallelism: 2, delay: 1s}}
    labels: [a=b]
    hostname: web
    user: "1000:1000"
    working_dir: /www
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    read_only: true
    init: true
    tmpfs: /run
    stop_signal: SIGINT
    stop_grace_period: 3s
  db:
    image: busybox
    healthcheck: {test: "true"}
    networks: [front]
networks:
  front: {ipam: {config: [{subnet: 10.5.0.0/24}]}}
volumes:
  data:
)");
  o.environment["C"] = "from-shell";
  auto r = load_project(o);
  ASSERT_TRUE(r) << r.error().message();
  const Service& web = *r->project.service("web");
  EXPECT_EQ(web.image, "busybox:latest");
  EXPECT_EQ(*web.command, (std::vector<std::string>{"sh", "-c", "httpd -f -p 80"}));
  EXPECT_EQ(*web.entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(web.environment.at("A"), "1");
  EXPECT_EQ(web.environment.at("C"), "from-shell");
  EXPECT_EQ(web.environment.at("FROM_FILE"), "1");
  EXPECT_EQ(web.environment.at("OVERRIDDEN"), "env");
  ASSERT_EQ(web.ports.size(), 3u);
  EXPECT_EQ(web.ports[1].protocol, "udp");
  EXPECT_EQ(web.ports[1].count(), 2);
  EXPECT_EQ(web.ports[2].host_port, 8443);
  EXPECT_EQ(web.ports[2].host_ip, "127.0.0.1");
  ASSERT_EQ(web.volumes.size(), 5u);
  EXPECT_EQ(web.volumes[0].type, "volume");
  EXPECT_TRUE(web.volumes[0].read_only);
  EXPECT_EQ(web.volumes[1].type, "bind");
  EXPECT_EQ(web.volumes[1].source, "/srv/shop/html");
  EXPECT_EQ(web.volumes[3].source, "");
  EXPECT_EQ(web.volumes[4].type, "tmpfs");
  EXPECT_EQ(*web.volumes[4].tmpfs_size, 1024 * 1024);
  EXPECT_EQ(web.networks.at("front").aliases, std::vector<std::string>{"www"});
  EXPECT_EQ(web.networks.at("front").ipv4_address, "10.5.0.5");
  EXPECT_EQ(web.networks.count("default"), 0u);
  ASSERT_EQ(web.depends_on.size(), 1u);
  EXPECT_EQ(web.depends_on[0].condition, "service_healthy");
  EXPECT_EQ(web.healthcheck->interval_ms, 90'000);
  EXPECT_EQ(web.healthcheck->timeout_ms, 500);
  EXPECT_EQ(web.healthcheck->retries, 5);
  EXPECT_EQ(web.healthcheck->test, std::vector<std::string>{"true"});
  EXPECT_EQ(web.restart, "on-failure:3");
  EXPECT_EQ(*web.memory, 64 << 20);
  EXPECT_DOUBLE_EQ(*web.cpus, 0.5);
  EXPECT_EQ(*web.pids_limit, 100);
  EXPECT_EQ(web.update_config.order, "stop-first");
  EXPECT_EQ(web.update_config.parallelism, 2);
  EXPECT_EQ(web.update_config.delay_ms, 1000);
  EXPECT_EQ(web.labels.at("a"), "b");
  EXPECT_TRUE(web.read_only);
  EXPECT_TRUE(web.init);
  EXPECT_EQ(web.tmpfs, std::vector<std::string>{"/run"});
  EXPECT_EQ(*web.stop_grace_period_ms, 3000);
  EXPECT_EQ(r->project.service("db")->healthcheck->test,
            (std::vector<std::string>{"/bin/sh", "-c", "true"}));
  EXPECT_EQ(r->project.network("front")->subnet, "10.5.0.0/24");
  EXPECT_TRUE(r->warnings.empty());
}

TEST(ComposeLoad, Version2LinksAndScale) {
  auto r =
      load_project(compose("version: '2'\nservices:\n  web:\n    image: busybox\n    links: "
                           "[db:database]\n    scale: 3\n  db:\n    image: busybox\n"));
  ASSERT_TRUE(r) << r.error().message();
  const Service& web = *r->project.service("web");
  EXPECT_EQ(web.replicas, 3);
  ASSERT_EQ(web.depends_on.size(), 1u);
  EXPECT_EQ(web.depends_on[0].service, "db");
}

TEST(ComposeLoad, BuildSection) {
  auto r = load_project(compose(
      "services:\n  app:\n    build:\n      context: ./app\n      dockerfile: Dockerfile.prod\n    "
      "  args: [VERSION=2]\n      target: final\n  two:\n    build: .\n"));
  ASSERT_TRUE(r) << r.error().message();
  const auto& b = *r->project.service("app")->build;
  EXPECT_EQ(b.context, "/srv/shop/app");
  EXPECT_EQ(b.dockerfile, "Dockerfile.prod");
  EXPECT_EQ(b.args.at("VERSION"), "2");
  EXPECT_EQ(b.target, "final");
  EXPECT_EQ(r->project.service("two")->build->context, "/srv/shop");
}

TEST(ComposeLoad, BadPortNamesFilePathAndValue) {
  EXPECT_EQ(error_of(compose(
                "services:\n  web:\n    image: busybox\n    ports: [\"8080:80\", \"80:80:80\"]\n")),
            "compose.yaml: services.web.ports[1]: \"80:80:80\" is not a port mapping");
}

TEST(ComposeLoad, ValidationErrorsNameTheirField) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  Case cases[] = {
      {"services:\n  web:\n    image: [1]\n",
       "compose.yaml: services.web.image: [1] is not a string"},
      {"services:\n  web:\n    build: .\n    restart: sometimes\n",
       "compose.yaml: services.web.restart: \"sometimes\" is not no, always, on-failure[:N] or "
       "unless-stopped"},
      {"services:\n  web:\n    image: x\n    deploy: {replicas: many}\n",
       "compose.yaml: services.web.deploy.replicas: \"many\" is not an integer"},
      {"services:\n  web:\n    image: x\n    healthcheck: {interval: soon}\n",
       "compose.yaml: services.web.healthcheck.interval: \"soon\" is not a duration (\"1m30s\", "
       "\"500ms\")"},
      {"services:\n  web:\n    image: x\n    volumes: [\"a:b:c:d\"]\n",
       "compose.yaml: services.web.volumes[0]: \"a:b:c:d\" is not a volume (SOURCE:TARGET[:ro|rw] "
       "or TARGET)"},
      {"services:\n  web:\n    image: x\n    volumes: [\"data:relative\"]\n",
       "compose.yaml: services.web.volumes[0]: \"data:relative\" has a target that is not an "
       "absolute path"},
      {"services:\n  web:\n    image: x\n    volumes: [\"data:/d\"]\n",
       "compose.yaml: services.web.volumes[0]: \"data:/d\" uses volume \"data\", which is not "
       "declared under the top-level volumes"},
      {"services:\n  web:\n    image: x\n    networks: [back]\n",
       "compose.yaml: services.web.networks: \"back\" is not declared under the top-level "
       "networks"},
      {"services:\n  web:\n    image: x\n    depends_on: [db]\n",
       "compose.yaml: services.web.depends_on: \"db\" is not a service of this project"},
      {"services:\n  web:\n    image: x\n    depends_on: {db: {condition: service_ready}}\n  db:\n "
       "   image: x\n",
       "compose.yaml: services.web.depends_on.db.condition: \"service_ready\" is not "
       "service_started, service_healthy or service_completed_successfully"},
      {"services:\n  web:\n    image: x\n    depends_on: {db: {condition: service_healthy}}\n  "
       "db:\n    image: x\n",
       "compose.yaml: services.web.depends_on.db: \"service_healthy\" waits for a health check, "
       "but db has none"},
      {"services:\n  web:\n    environment: [A=1]\n",
       "compose.yaml: services.web: has neither image nor build"},
      {"services:\n  web:\n    image: x\n    ports: [\"80:80\"]\n    scale: 2\n",
       "compose.yaml: services.web: publishes a fixed host port (80) and has 2 replicas: only one "
       "instance can hold it"},
      {"services:\n  web:\n    image: x\n    container_name: one\n    deploy: {replicas: 2}\n",
       "compose.yaml: services.web: container_name \"one\" allows one instance, not 2"},
      {"services:\n  web:\n    image: x\n    healthcheck: {test: [\"RUN\", \"x\"]}\n",
       "compose.yaml: services.web.healthcheck.test: [\"RUN\",\"x\"] does not start with CMD, "
       "CMD-SHELL or NONE"},
      {"services:\n  web:\n    image: x\n    deploy: {update_config: {order: random}}\n",
       "compose.yaml: services.web.deploy.update_config.order: \"random\" is not start-first or "
       "stop-first"},
      {"services:\n  web:\n    image: x\n    mem_limit: lots\n",
       "compose.yaml: services.web.mem_limit: \"lots\" is not a size (\"64m\", \"1g\")"},
      {"services:\n  web:\n    image: x\n    ports: [{published: 80}]\n",
       "compose.yaml: services.web.ports[0].target: is required"},
      {"services:\n  web:\n    image: x\n    networks: {default: {ipv4_address: 10.0.0.300}}\n",
       "compose.yaml: services.web.networks.default.ipv4_address: \"10.0.0.300\" is not an IPv4 "
       "address"},
      {"services:\n  bad name:\n    image: x\n",
       "compose.yaml: services.bad name: is not a valid service name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"},
      {"services: []\n", "compose.yaml: services: [] is not a mapping"},
      {"version: '3'\n",
       "compose.yaml: services: is missing: a project needs at least one service"},
      {"services:\n  web:\n    image: x\n   bad: indent\n",
       ""},  // a YAML syntax error (position checked below)
      {"services:\n  web:\n    image: ${X:?give X}\n",
       "compose.yaml: services.web.image: required variable X is missing: give X"},
      {"networks:\n  n: {driver: overlay}\nservices:\n  web:\n    image: x\n",
       "compose.yaml: networks.n.driver: \"overlay\" is not a driver berth has (bridge)"},
      {"services:\n  web:\n    image: x\n    env_file: missing.env\n",
       "compose.yaml: services.web.env_file: \"missing.env\" cannot be read: no such file"},
  };
  for (const auto& c : cases) {
    std::string e = error_of(compose(c.yaml));
    if (std::string(c.error).empty()) {
      EXPECT_TRUE(e.starts_with("compose.yaml:4:")) << e;
    } else {
      EXPECT_EQ(e, c.error) << c.yaml;
    }
  }
}

TEST(ComposeLoad, DependencyCycleIsNamed) {
  auto e =
      error_of(compose("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n   "
                       " depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n"));
  EXPECT_EQ(e, "dependency cycle: a -> b -> c -> a");
}

TEST(ComposeLoad, PortClashBetweenServices) {
  auto e =
      error_of(compose("services:\n  a:\n    image: x\n    ports: [\"8080:80\"]\n  b:\n    image: "
                       "x\n    ports: [\"127.0.0.1:8080:81\"]\n"));
  EXPECT_EQ(e, "services.b.ports: 127.0.0.1:8080/tcp is also published by service a");
  // Different protocols or different addresses do not clash.
  EXPECT_EQ(error_of(compose("services:\n  a:\n    image: x\n    ports: [\"8080:80\"]\n  b:\n    "
                             "image: x\n    ports: [\"8080:80/udp\"]\n")),
            "loaded");
  EXPECT_EQ(error_of(compose("services:\n  a:\n    image: x\n    ports: [\"127.0.0.1:8080:80\"]\n  "
                             "b:\n    image: x\n    ports: [\"127.0.0.2:8080:80\"]\n")),
            "loaded");
}

TEST(ComposeLoad, UnknownFieldsWarnButExtensionsAreQuiet) {
  auto r =
      load_project(compose("x-common: &c {image: busybox}\nservices:\n  web:\n    <<: *c\n    "
                           "colour: blue\n    x-note: hi\n"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->project.service("web")->image, "busybox");
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0], "compose.yaml: services.web.colour: unknown field, ignored");
}

TEST(ComposeLoad, SeveralFilesMergeAsDockerCompose) {
  auto o = files({{"/srv/shop/compose.yaml",
                   "services:\n  web:\n    image: busybox\n    command: [a]\n    environment: "
                   "[A=1, B=1]\n    ports: [\"80\"]\n    labels: {x: 1}\n"},
                  {"/srv/shop/compose.override.yaml",
                   "services:\n  web:\n    image: busybox:2\n    command: [b]\n    environment: "
                   "{B: 2, C: 3}\n    ports: [\"81\"]\n  extra:\n    image: busybox\n"}});
  auto r = load_project(o);
  ASSERT_TRUE(r) << r.error().message();
  const Service& web = *r->project.service("web");
  EXPECT_EQ(web.image, "busybox:2");
  EXPECT_EQ(*web.command, std::vector<std::string>{"b"});
  EXPECT_EQ(web.environment.at("A"), "1");
  EXPECT_EQ(web.environment.at("B"), "2");
  EXPECT_EQ(web.environment.at("C"), "3");
  EXPECT_EQ(web.ports.size(), 2u);
  EXPECT_EQ(web.labels.at("x"), "1");
  EXPECT_TRUE(r->project.service("extra"));
}

TEST(ComposeLoad, AnErrorInTheOverrideFileNamesThatFile) {
  auto o = files({{"/srv/shop/compose.yaml", "services:\n  web:\n    image: busybox\n"},
                  {"/srv/shop/compose.override.yaml", "services:\n  web:\n    ports: [\"x\"]\n"}});
  EXPECT_EQ(error_of(o),
            "compose.override.yaml: services.web.ports[0]: \"x\" is not a port mapping");
}

TEST(ComposeLoad, VariablesFromEnvFileShellAndVarInThatOrder) {
  auto o = compose(
      "services:\n  web:\n    image: \"busybox:${TAG}\"\n    environment: [\"A=${A}\", "
      "\"B=${B}\"]\n");
  o.env_file = {{"TAG", "file"}, {"A", "file"}, {"B", "file"}};
  o.environment = {{"A", "shell"}, {"B", "shell"}};
  o.vars = {{"B", "var"}};
  auto r = load_project(o);
  ASSERT_TRUE(r) << r.error().message();
  const Service& web = *r->project.service("web");
  EXPECT_EQ(web.image, "busybox:file");
  EXPECT_EQ(web.environment.at("A"), "shell");
  EXPECT_EQ(web.environment.at("B"), "var");
}

TEST(ComposeLoad, ProfilesEnableServices) {
  const char* yaml =
      "services:\n  web:\n    image: x\n  debug:\n    image: x\n    profiles: [dev]\n";
  auto o = compose(yaml);
  auto r = load_project(o);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->project.service("debug"));
  EXPECT_EQ(r->project.disabled_services, std::vector<std::string>{"debug"});
  o.profiles = {"dev"};
  EXPECT_TRUE(load_project(o)->project.service("debug"));
  o.profiles.clear();
  o.environment["COMPOSE_PROFILES"] = "dev,other";
  EXPECT_TRUE(load_project(o)->project.service("debug"));
  auto named = compose(yaml);
  named.services = {"debug"};
  EXPECT_TRUE(load_project(named)->project.service("debug"));
}

TEST(ComposeLoad, DependingOnADisabledServiceSaysSo) {
  EXPECT_EQ(error_of(compose("services:\n  web:\n    image: x\n    depends_on: [db]\n  db:\n    "
                             "image: x\n    profiles: [db]\n")),
            "compose.yaml: services.web.depends_on: \"db\" is a service whose profile is not "
            "enabled (use --profile)");
}

TEST(ComposeLoad, ExtendsInTheSameFileAndAnother) {
  auto r =
      load_project(compose("services:\n  common:\n    image: busybox\n    environment: [X=1]\n  "
                           "web:\n    extends: common\n    environment: [Y=2]\n"
                           "  other:\n    extends: {file: base.yaml, service: base}\n"));
  ASSERT_TRUE(r) << r.error().message();
  const Service& web = *r->project.service("web");
  EXPECT_EQ(web.image, "busybox");
  EXPECT_EQ(web.environment.at("X"), "1");
  EXPECT_EQ(web.environment.at("Y"), "2");
  EXPECT_EQ(r->project.service("other")->environment.at("BASE"), "1");
}

TEST(ComposeLoad, ConfigsAndSecretsAreFiles) {
  auto r =
      load_project(compose("services:\n  web:\n    image: x\nconfigs:\n  c: {file: "
                           "./c.txt}\nsecrets:\n  s: {file: /etc/s}\n"));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->project.configs[0].file, "/srv/shop/c.txt");
  EXPECT_EQ(r->project.secrets[0].file, "/etc/s");
  EXPECT_EQ(error_of(compose("services:\n  web:\n    image: x\nsecrets:\n  s: {external: true}\n")),
            "compose.yaml: secrets.s.file: is required (berth has file-based ones only)");
}

TEST(ComposeLoad, ComposeFileWrittenAsJson) {
  auto r = load_project(
      files({{"/srv/shop/compose.json", R"({"services": {"web": {"image": "busybox"}}})"}}));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->project.format, "compose");
  EXPECT_EQ(r->project.service("web")->image, "busybox");
}

TEST(ComposeConfig, NormalisedJsonAndYaml) {
  auto r =
      load_project(compose("services:\n  web:\n    image: busybox\n    ports: [\"8080:80\"]\n    "
                           "command: echo hi $$HOME\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(*r->project.service("web")->command, (std::vector<std::string>{"echo", "hi", "$HOME"}));
  // Printed for people, "$" is escaped so that the output reads back as the same project.
  EXPECT_NE(to_json(r->project, false, true).find(R"(["echo","hi","$$HOME"])"), std::string::npos);
  std::string json = to_json(r->project, false);
  EXPECT_NE(
      json.find(R"("ports":[{"mode":"ingress","protocol":"tcp","published":"8080","target":80}])"),
      std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("networks":{"default":{"name":"shop_default"}})"), std::string::npos)
      << json;
  std::string yaml = to_yaml(r->project);
  EXPECT_NE(yaml.find("name: shop\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("      - mode: ingress\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("        published: \"8080\"\n"), std::string::npos) << yaml;
  // What config prints reads back as the same project.
  auto again = load_project(compose(yaml));
  ASSERT_TRUE(again) << again.error().message() << "\n" << yaml;
  EXPECT_EQ(to_json(again->project), to_json(r->project));
}

// Found by fuzz/project_load_fuzz.cc: each of these printed a `config` that did not load back.
TEST(ComposeConfig, OddValuesReadBackAsTheSameProject) {
  for (const char* text : {
           // a label key with control characters was printed as a plain scalar
           "services:\n  web:\n    image: busybox\n    labels: [\"c\\u0010\\u0000le=x\"]\n",
           // a health check without a test (the image's, with these timings) printed ["CMD"]
           "services:\n  web:\n    image: busybox\n    healthcheck: {interval: 1s}\n",
           // pids_limit: -1 (no limit) printed as deploy limits pids: 0, which was refused
           "services:\n  web:\n    image: busybox\n    pids_limit: -1\n",
           // environment values the reader takes as null or a bool were printed plain: NULL
           // read back as "unset" and the variable was gone
           "services:\n  web:\n    image: busybox\n    environment: [A=NULL, B=TRUE, C=FALSE, "
           "D=Off, E=~]\n",
       }) {
    auto r = load_project(compose(text));
    ASSERT_TRUE(r) << r.error().message() << "\n" << text;
    std::string yaml = to_yaml(r->project);
    auto again = load_project(compose(yaml));
    ASSERT_TRUE(again) << again.error().message() << "\n" << yaml;
    EXPECT_EQ(to_json(again->project), to_json(r->project)) << yaml;
  }
}

// Found by fuzz/project_load_fuzz.cc: a key over YAML's 1024-character limit for implicit keys
// (a volume's, read from a plain scalar yaml-cpp took whole) was printed as one, and `config`'s
// output did not load ("illegal map value"). Such keys are printed as explicit keys.
TEST(ComposeConfig, KeysLongerThanYamlAllowsImplicitlyReadBack) {
  std::string key(1100, 'k');
  auto r = load_project(compose("services:\n  web:\n    image: busybox\n    labels:\n      ? " +
                                key + "\n      : x\n    volumes: [{type: volume, source: " + key +
                                ", target: /data}]\nvolumes:\n  ? " + key + "\n  :\n"));
  ASSERT_TRUE(r) << r.error().message();
  std::string yaml = to_yaml(r->project);
  EXPECT_NE(yaml.find("      ? " + key + "\n      : x\n"), std::string::npos) << yaml;
  auto again = load_project(compose(yaml));
  ASSERT_TRUE(again) << again.error().message() << "\n" << yaml;
  EXPECT_EQ(to_json(again->project), to_json(r->project)) << yaml;
}

// Found by fuzz/project_load_fuzz.cc: nlohmann threw (type_error 307) erasing `extends` from a
// base that is a string, and the command aborted.
TEST(ComposeLoad, ExtendsOfABaseThatIsNotAMappingIsAnError) {
  EXPECT_EQ(error_of(compose("services:\n  base: image:x\n  web:\n    extends: {service: base}\n")),
            "compose.yaml: services.web.extends.service: \"base\" is not a service definition (a "
            "mapping)");
  EXPECT_EQ(error_of(compose("services:\n  base:\n  web:\n    extends: base\n")),
            "compose.yaml: services.web.extends.service: \"base\" is not a service definition (a "
            "mapping)");
}

// Found by fuzz/project_load_fuzz.cc: `expose:` as one string (read_strings takes it) indexed the
// string for the error message: nlohmann threw (type_error 305).
TEST(ComposeLoad, ExposeAsOneBadStringIsAnError) {
  EXPECT_EQ(error_of(compose("services:\n  web:\n    image: busybox\n    expose: \"x\"\n")),
            "compose.yaml: services.web.expose[0]: \"x\" is not a port");
}

// Found by fuzz/project_load_fuzz.cc: a value that is not UTF-8 (here from an env_file) made
// to_json throw: `config` and `up` aborted.
TEST(ComposeLoad, ValuesThatAreNotUtf8AreAnError) {
  auto o = compose("services:\n  web:\n    image: busybox\n    env_file: bad.env\n");
  o.read_file = [](const std::string&) -> berth::Result<std::string> {
    return std::string("GOOD=1\nBAD=caf\xe9\n");
  };
  EXPECT_EQ(error_of(o), "compose.yaml: services.web.environment.BAD: not valid UTF-8");
  o = compose("services:\n  web:\n    image: \"${IMAGE}\"\n");
  o.environment["IMAGE"] = "busybox\xc0\x80";  // an overlong NUL
  EXPECT_EQ(error_of(o), "compose.yaml: services.web.image: not valid UTF-8");
}

// --- JSON project files ---

namespace {
const char* kJsonProject = R"({
  "id": "shop",
  "services": [
    {"id": "frontend", "apps": [
      {"id": "web", "image": "busybox", "cmd": "httpd -f -p $port", "instances": 2, "mem": 64,
       "env": {"PORT": "keep-me", "API": "http://api.backend.shop"},
       "port_mappings": [{"container_port": 8080}],
       "domain": {"type": "HTTP", "uri": "shop.$domain"},
       "health_checks": [{"protocol": "HTTP", "path": "/", "interval_seconds": 2}],
       "dependencies": ["../../backend/api"]}]},
    {"id": "backend", "apps": [
      {"id": "api", "image": "busybox", "cmd": "sleep 1000", "dependencies": ["../redis"],
       "health_checks": [{"cmd": "true"}]},
      {"id": "redis", "image": "busybox", "cmd": "sleep 1000", "volumes": [{"container_path": "/data", "name": "redis-data"}],
       "health_checks": [{"cmd": "true"}]}]}
  ]
})";
}  // namespace

TEST(JsonProject, ServicesOfAppsBecomeOneModel) {
  auto o = files({{"/srv/shop/berth.json", kJsonProject}});
  o.vars = {{"domain", "example.org"}, {"port", "8080"}};
  auto r = load_project(o);
  ASSERT_TRUE(r) << r.error().message();
  const Project& p = r->project;
  EXPECT_EQ(p.name, "shop");
  EXPECT_EQ(p.format, "json");
  ASSERT_EQ(p.services.size(), 3u);
  const Service& web = *p.service("web.frontend");
  EXPECT_EQ(web.replicas, 2);
  EXPECT_EQ(*web.memory, 64 << 20);
  EXPECT_EQ(*web.command, (std::vector<std::string>{"/bin/sh", "-c", "httpd -f -p 8080"}));
  EXPECT_EQ(web.domain->uri, "shop.example.org");
  EXPECT_EQ(web.environment.at("PORT"), "keep-me");  // never silently replaced
  EXPECT_EQ(web.environment.at("PORT0"), "8080");
  EXPECT_EQ(web.healthcheck->test[2], "wget -q -O /dev/null http://127.0.0.1:8080/");
  EXPECT_EQ(web.healthcheck->interval_ms, 2000);
  EXPECT_EQ(web.depends_on[0].service, "api.backend");
  EXPECT_EQ(p.service("api.backend")->depends_on[0].service, "redis.backend");
  auto order = start_order(p);
  ASSERT_TRUE(order);
  EXPECT_EQ(*order, (std::vector<std::string>{"redis.backend", "api.backend", "web.frontend"}));
}

TEST(JsonProject, UnknownVariablesAreAllNamed) {
  auto o = files({{"/srv/shop/berth.json", kJsonProject}});
  auto e = load_project(o);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message(), "berth.json: unknown variables $domain, $port");
}

TEST(JsonProject, UnknownFieldsAreErrors) {
  auto o = files(
      {{"/p/x.json",
        R"({"id": "p", "services": [{"id": "s", "apps": [{"id": "a", "image": "x", "colour": 1}]}]})"}});
  EXPECT_EQ(error_of(o), "x.json: services[0].apps[0].colour: unknown field");
}

TEST(JsonProject, ValidationNamesThePath) {
  struct Case {
    const char* json;
    const char* error;
  };
  Case cases[] = {
      {R"({"services": [{"id": "s", "apps": [{"id": "a", "image": "x", "instances": -1}]}]})",
       "p.json: services[0].apps[0].instances: -1 is not in 0..1000"},
      {R"({"services": [{"id": "s", "apps": [{"id": "A", "image": "x"}]}]})",
       "p.json: services[0].apps[0].id: \"A\" is not an id ([a-z0-9][a-z0-9-]*)"},
      {R"({"services": [{"id": "s", "apps": [{"id": "a"}]}]})",
       "p.json: services[0].apps[0].image: is required"},
      {R"({"services": [{"id": "s", "apps": [{"id": "a", "image": "x", "port_mappings": [{"container_port": 99999}]}]}]})",
       "p.json: services[0].apps[0].port_mappings[0].container_port: 99999 is not in 1..65535"},
      {R"({"services": [{"id": "s", "apps": [{"id": "a", "image": "x", "dependencies": ["../../nope/b"]}]}]})",
       "p.json: services.b.nope.depends_on: \"b.nope\" is not a service of this project"},
      {R"({"services": [{"id": "s", "apps": [{"id": "a", "image": "x", "dependencies": ["../../../x"]}]}]})",
       "p.json: services[0].apps[0].dependencies[0]: \"../../../x\" does not name an app (it "
       "resolves to \"/x\", not /SERVICE/APP)"},
      {R"({"services": [{"id": "s", "apps": [{"id": "a", "image": "x", "domain": {"type": "FTP", "uri": "u"}}]}]})",
       "p.json: services[0].apps[0].domain.type: \"FTP\" is not HTTP or TCP"},
      {R"({"services": [{"id": "s", "apps": [{"id": "a", "image": "x"}, {"id": "a", "image": "y"}]}]})",
       "p.json: services[0].apps[1]: app /s/a is defined twice"},
      {R"({"services": []})", "p.json: services: is empty: a project needs at least one service"},
      {R"({"services": [{"id": "s", "apps": [{"id": "a", "image": "x", "mem": "lots"}]}]})",
       "p.json: services[0].apps[0].mem: \"lots\" is not a number"},
  };
  for (const auto& c : cases) {
    auto o = files({{"/p/p.json", c.json}});
    std::string e = error_of(o);
    // The dependency check names the app's service path in the model.
    if (std::string(c.error).find("depends_on") != std::string::npos) {
      EXPECT_NE(e.find("is not a service of this project"), std::string::npos) << e;
    } else {
      EXPECT_EQ(e, c.error) << c.json;
    }
  }
}

// Found by fuzz/project_load_fuzz.cc: `config` printed a JSON project's named volumes without
// declaring them, and dropped its domain, so the output did not load (or loaded as another
// project).
TEST(JsonProject, ConfigOutputLoadsAsTheSameProject) {
  auto o = files({{"/srv/shop/berth.json", kJsonProject}});
  o.vars = {{"domain", "example.org"}, {"port", "8080"}};
  auto r = load_project(o);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(volume_name(r->project, "redis-data"), "redis-data");  // no project prefix
  std::string yaml = to_yaml(r->project);
  auto again = load_project(compose(yaml));
  ASSERT_TRUE(again) << again.error().message() << "\n" << yaml;
  EXPECT_EQ(to_json(again->project), to_json(r->project));
  EXPECT_EQ(again->project.service("web.frontend")->domain->uri, "shop.example.org");
  EXPECT_EQ(volume_name(again->project, "redis-data"), "redis-data");
}

TEST(JsonProject, SyntaxErrorNamesTheFile) {
  auto e = error_of(files({{"/p/p.json", "{\"services\": [}"}}));
  EXPECT_TRUE(e.starts_with("p.json: ")) << e;
}
