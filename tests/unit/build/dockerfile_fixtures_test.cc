// The seed corpus under tests/fixtures/dockerfiles: good files parse, bad-* files fail with the
// message pinned here (the same files seed the parser's fuzzer).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "build/dockerfile.h"

namespace berth::build {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Result<Dockerfile> parse_fixture(const std::string& name) {
  fs::path path = fs::path(BERTH_DOCKERFILE_FIXTURES) / name;
  EXPECT_TRUE(fs::exists(path)) << path;
  return parse_dockerfile(read_file(path), name);
}

TEST(DockerfileFixtures, EveryFileParsesOrFailsAsPinned) {
  const std::map<std::string, std::string> errors = {
      {"bad-unknown-instruction.Dockerfile",
       "bad-unknown-instruction.Dockerfile:3:1: unknown instruction: RUNN (did you mean RUN?)"},
      {"bad-flag.Dockerfile",
       "bad-flag.Dockerfile:2:6: unknown flag for COPY: --form (did you mean --from?)"},
      {"bad-unterminated-heredoc.Dockerfile",
       "bad-unterminated-heredoc.Dockerfile:2:1: unterminated heredoc EOF"},
      {"bad-before-from.Dockerfile",
       "bad-before-from.Dockerfile:1:1: no build stage in current context: RUN comes before the "
       "first FROM (only ARG may)"},
      {"bad-duplicate-stage.Dockerfile",
       "bad-duplicate-stage.Dockerfile:2:1: duplicate stage name 'a': stage names should be "
       "unique"},
      {"bad-escape.Dockerfile",
       "bad-escape.Dockerfile:1:1: invalid escape token 'x' does not match ` or \\"},
      {"bad-empty.Dockerfile", "bad-empty.Dockerfile:1:1: file with no instructions"},
  };
  int files = 0;
  for (const auto& entry : fs::directory_iterator(BERTH_DOCKERFILE_FIXTURES)) {
    std::string name = entry.path().filename().string();
    ++files;
    auto result = parse_fixture(name);
    if (name.rfind("bad-", 0) == 0) {
      ASSERT_FALSE(result) << name << " parsed";
      auto expected = errors.find(name);
      ASSERT_NE(expected, errors.end()) << "pin the error of " << name;
      EXPECT_EQ(result.error().message(), expected->second);
    } else {
      EXPECT_TRUE(result) << name << ": " << result.error().message();
    }
  }
  EXPECT_GE(files, 10);
}

TEST(DockerfileFixtures, Heredocs) {
  auto file = parse_fixture("heredocs.Dockerfile");
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(file->syntax, "docker/dockerfile:1");
  const auto& steps = file->stages.at(0).instructions;
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_EQ(steps[0].heredocs.at(0).content, "set -e\napk add --no-cache curl\necho \"$HOME\"\n");
  EXPECT_EQ(steps[1].args, std::vector<std::string>{"<<-'SCRIPT' sh -x"});
  EXPECT_TRUE(steps[1].heredocs.at(0).chomp);
  EXPECT_FALSE(steps[1].heredocs.at(0).expand);
  EXPECT_EQ(steps[1].heredocs.at(0).content, "echo \"tabs are chomped\"\n");
  ASSERT_EQ(steps[2].heredocs.size(), 2u);
  EXPECT_EQ(steps[2].heredocs[0].name, "app.conf");
  EXPECT_TRUE(steps[2].heredocs[0].expand);
  EXPECT_EQ(steps[2].heredocs[1].name, "raw.txt");
  EXPECT_FALSE(steps[2].heredocs[1].expand);
  EXPECT_EQ(steps[2].heredocs[1].content, "$NOT_EXPANDED\n");
  EXPECT_EQ(steps[3].heredocs.at(0).content, "print(\"hi\")\n");
  EXPECT_EQ(steps[4].keyword, "ONBUILD");
  EXPECT_EQ(steps[4].where.line, 19);
}

TEST(DockerfileFixtures, EscapeBacktick) {
  auto file = parse_fixture("escape-backtick.Dockerfile");
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(file->escape, '`');
  const auto& steps = file->stages.at(0).instructions;
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[1].args, std::vector<std::string>{
                               "New-Item -ItemType Directory C:\\app ;     Set-Location C:\\app"});
  EXPECT_EQ(steps[2].args, (std::vector<std::string>{"app\\", "C:\\app\\"}));
  EXPECT_EQ(steps[3].args, std::vector<std::string>{"C:\\app"});
}

TEST(DockerfileFixtures, Continuations) {
  auto file = parse_fixture("continuations.Dockerfile");
  ASSERT_TRUE(file) << file.error().message();
  const auto& steps = file->stages.at(0).instructions;
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_EQ(steps[0].args,
            std::vector<std::string>{"apt-get update     && apt-get install -y         "
                                     "ca-certificates     && rm -rf /var/lib/apt/lists/*"});
  using Pairs = std::vector<std::pair<std::string, std::optional<std::string>>>;
  EXPECT_EQ(steps[1].pairs, (Pairs{{"A", "1"}, {"B", "\"two words\""}, {"C", "three\\ words"}}));
  EXPECT_EQ(steps[2].pairs.size(), 2u);
  EXPECT_EQ(steps[3].args, (std::vector<std::string>{"80/tcp", "443"}));
  EXPECT_TRUE(steps[4].json);
  EXPECT_EQ(steps[4].args, (std::vector<std::string>{"nginx", "-g", "daemon off;"}));
  EXPECT_EQ(steps[4].where.line, 15);
}

TEST(DockerfileFixtures, Multistage) {
  auto file = parse_fixture("multistage.Dockerfile");
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(file->meta_args.size(), 2u);
  ASSERT_EQ(file->stages.size(), 3u);
  EXPECT_EQ(file->stages[0].name, "build");
  EXPECT_EQ(file->stages[0].platform, "$BUILDPLATFORM");
  EXPECT_EQ(file->stages[1].base, "build");
  EXPECT_EQ(file->stages[2].base, "${BASE:-gcr.io/distroless/static}");
  EXPECT_EQ(file->stages[2].name, "final");
  const auto& run = file->stages[0].instructions.at(1);
  ASSERT_EQ(run.flags.size(), 2u);
  EXPECT_EQ(run.args, std::vector<std::string>{"go build -o /out/app ./cmd/app"});
  const auto& health = file->stages[2].instructions.at(2);
  EXPECT_EQ(health.keyword, "HEALTHCHECK");
  EXPECT_EQ(health.flags.size(), 4u);
  ASSERT_EQ(health.nested.size(), 1u);
  EXPECT_EQ(health.nested[0].args, (std::vector<std::string>{"/app", "health"}));
}

// What a fuzzer does first: every prefix, and every one-byte deletion, of every seed either
// parses or fails with a message that starts with a location inside the file.
TEST(DockerfileFixtures, MutationsParseOrFailWithALocation) {
  std::regex located(R"(^m:(\d+):(\d+): .+)");
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(BERTH_DOCKERFILE_FIXTURES)) {
    std::string text = read_file(entry.path());
    auto lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
    auto check = [&](const std::string& mutated) {
      ++checked;
      auto result = parse_dockerfile(mutated, "m");
      if (result) return;
      std::smatch m;
      const std::string& message = result.error().message();
      ASSERT_TRUE(std::regex_match(message, m, located)) << message;
      int line = std::stoi(m[1]);
      EXPECT_GE(line, 1) << message;
      EXPECT_LE(line, lines) << message;
      EXPECT_GE(std::stoi(m[2]), 1) << message;
    };
    for (size_t n = 0; n <= text.size(); ++n) check(text.substr(0, n));
    for (size_t n = 0; n < text.size(); ++n) check(text.substr(0, n) + text.substr(n + 1));
  }
  EXPECT_GT(checked, 1000);
}

}  // namespace
}  // namespace berth::build
