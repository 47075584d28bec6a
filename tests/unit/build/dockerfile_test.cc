#include "build/dockerfile.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace berth::build {
namespace {

Dockerfile parse_ok(std::string_view text) {
  auto result = parse_dockerfile(text, "Dockerfile");
  EXPECT_TRUE(result) << (result ? "" : result.error().message());
  return result ? *result : Dockerfile{};
}

std::string parse_error(std::string_view text) {
  auto result = parse_dockerfile(text, "Dockerfile");
  if (result) return "<parsed without error>";
  EXPECT_EQ(result.error().kind(), ErrorKind::invalid_argument);
  return result.error().message();
}

// The single instruction after `FROM scratch`.
Instruction only_step(std::string_view body) {
  auto file = parse_ok("FROM scratch\n" + std::string(body));
  if (file.stages.empty() || file.stages[0].instructions.size() != 1) {
    ADD_FAILURE() << "expected one instruction in: " << body;
    return {};
  }
  return file.stages[0].instructions[0];
}

using Strings = std::vector<std::string>;
using Pairs = std::vector<std::pair<std::string, std::optional<std::string>>>;

// --- structure: stages, locations ---

TEST(Dockerfile, SplitsStagesAndLowerCasesTheirNames) {
  auto file = parse_ok(
      "FROM golang:1.22 AS Build\n"
      "RUN go build\n"
      "from --platform=linux/arm64 alpine as run\n"
      "COPY --from=build /out /bin/app\n");
  ASSERT_EQ(file.stages.size(), 2u);
  EXPECT_EQ(file.stages[0].base, "golang:1.22");
  EXPECT_EQ(file.stages[0].name, "build");
  EXPECT_EQ(file.stages[0].index, 0);
  EXPECT_FALSE(file.stages[0].platform);
  ASSERT_EQ(file.stages[0].instructions.size(), 1u);
  EXPECT_EQ(file.stages[0].instructions[0].keyword, "RUN");
  EXPECT_EQ(file.stages[1].base, "alpine");
  EXPECT_EQ(file.stages[1].name, "run");
  EXPECT_EQ(file.stages[1].index, 1);
  EXPECT_EQ(file.stages[1].platform, "linux/arm64");
  EXPECT_EQ(file.stages[1].from.keyword, "FROM");
  EXPECT_EQ(file.stages[1].from.where.line, 3);
}

TEST(Dockerfile, ArgsBeforeTheFirstFromAreMetaArgs) {
  auto file = parse_ok("ARG BASE=alpine\nARG TAG\nFROM ${BASE}:${TAG}\nARG TAG\n");
  ASSERT_EQ(file.meta_args.size(), 2u);
  EXPECT_EQ(file.meta_args[0].pairs, (Pairs{{"BASE", "alpine"}}));
  EXPECT_EQ(file.meta_args[1].pairs, (Pairs{{"TAG", std::nullopt}}));
  ASSERT_EQ(file.stages.size(), 1u);
  EXPECT_EQ(file.stages[0].base, "${BASE}:${TAG}");
  ASSERT_EQ(file.stages[0].instructions.size(), 1u);
}

TEST(Dockerfile, KeywordsAreCaseInsensitive) {
  auto step = only_step("rUn echo hi\n");
  EXPECT_EQ(step.keyword, "RUN");
  EXPECT_EQ(step.args, Strings{"echo hi"});
}

TEST(Dockerfile, LocationsPointAtTheKeyword) {
  auto file = parse_ok("FROM scratch\n\n   # comment\n   RUN true\n");
  const auto& step = file.stages[0].instructions[0];
  EXPECT_EQ(step.where.file, "Dockerfile");
  EXPECT_EQ(step.where.line, 4);
  EXPECT_EQ(step.where.column, 4);
  EXPECT_EQ(to_string(step.where), "Dockerfile:4:4");
}

TEST(Dockerfile, OriginalIsTheJoinedLogicalLine) {
  auto step = only_step("RUN apt-get update && \\\n    apt-get install -y curl\n");
  EXPECT_EQ(step.original, "RUN apt-get update &&     apt-get install -y curl");
  EXPECT_EQ(step.args, Strings{"apt-get update &&     apt-get install -y curl"});
}

TEST(Dockerfile, ToleratesCarriageReturnsAndByteOrderMark) {
  auto file = parse_ok(
      "\xEF\xBB\xBF"
      "FROM alpine\r\nRUN echo a \\\r\n  b\r\n");
  ASSERT_EQ(file.stages.size(), 1u);
  EXPECT_EQ(file.stages[0].base, "alpine");
  EXPECT_EQ(file.stages[0].instructions[0].args, Strings{"echo a   b"});
}

TEST(Dockerfile, LastLineWithoutNewline) {
  auto file = parse_ok("FROM alpine\nCMD [\"sh\"]");
  EXPECT_EQ(file.stages[0].instructions[0].args, Strings{"sh"});
}

TEST(Dockerfile, KeywordListHasEveryInstruction) {
  const auto& keywords = dockerfile_keywords();
  EXPECT_EQ(keywords.size(), 18u);
  for (std::string_view k : {"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK", "ONBUILD", "SHELL"}) {
    EXPECT_NE(std::find(keywords.begin(), keywords.end(), k), keywords.end()) << k;
  }
}

// --- parser directives ---

TEST(DockerfileDirectives, SyntaxAndEscapeAreRead) {
  auto file = parse_ok("# syntax=docker/dockerfile:1\n# escape=`\nFROM alpine\n");
  EXPECT_EQ(file.syntax, "docker/dockerfile:1");
  EXPECT_EQ(file.escape, '`');
}

TEST(DockerfileDirectives, AreCaseInsensitiveAndAllowBlanksAroundEquals) {
  auto file = parse_ok("#  ESCAPE =  `  \nFROM alpine\n");
  EXPECT_EQ(file.escape, '`');
}

TEST(DockerfileDirectives, BacktickEscapeContinuesLinesAndKeepsBackslashes) {
  auto file = parse_ok("# escape=`\nFROM windows\nRUN dir c:\\ `\n  /b\n");
  EXPECT_EQ(file.stages[0].instructions[0].args, Strings{"dir c:\\   /b"});
}

TEST(DockerfileDirectives, StopAtTheFirstNonDirectiveLine) {
  // After a comment, `# escape=` is an ordinary comment: the backslash stays the escape.
  auto file = parse_ok("# a comment\n# escape=`\nFROM alpine\n");
  EXPECT_EQ(file.escape, '\\');
  file = parse_ok("\n# escape=`\nFROM alpine\n");
  EXPECT_EQ(file.escape, '\\');
  file = parse_ok("FROM alpine\n# escape=`\n");
  EXPECT_EQ(file.escape, '\\');
}

TEST(DockerfileDirectives, UnknownDirectiveIsAComment) {
  auto file = parse_ok("# foo=bar\n# escape=`\nFROM alpine\n");
  EXPECT_EQ(file.escape, '\\');
}

TEST(DockerfileDirectives, RepeatedDirectiveIsAnError) {
  EXPECT_EQ(parse_error("# escape=\\\n# escape=`\nFROM alpine\n"),
            "Dockerfile:2:1: only one escape parser directive can be used");
}

TEST(DockerfileDirectives, BadEscapeTokenIsAnError) {
  EXPECT_EQ(parse_error("# escape=x\nFROM alpine\n"),
            "Dockerfile:1:1: invalid escape token 'x' does not match ` or \\");
}

// --- comments and continuations ---

TEST(DockerfileLines, CommentsInsideContinuationsAreDropped) {
  auto step = only_step(
      "RUN echo a \\\n"
      "# a comment in the middle\n"
      "    # an indented one\n"
      "  && echo b\n");
  EXPECT_EQ(step.args, Strings{"echo a   && echo b"});
}

TEST(DockerfileLines, EmptyContinuationLinesAreSkipped) {
  auto step = only_step("RUN echo a \\\n\n   \n  b\n");
  EXPECT_EQ(step.args, Strings{"echo a   b"});
}

TEST(DockerfileLines, DoubledEscapeAtTheEndDoesNotContinue) {
  auto file = parse_ok("FROM alpine\nRUN echo a\\\\\nRUN echo b\n");
  ASSERT_EQ(file.stages[0].instructions.size(), 2u);
  EXPECT_EQ(file.stages[0].instructions[0].args, Strings{"echo a\\\\"});
}

TEST(DockerfileLines, ContinuationWithTrailingBlanks) {
  auto step = only_step("RUN echo a \\   \t\n b\n");
  EXPECT_EQ(step.args, Strings{"echo a  b"});
}

TEST(DockerfileLines, InstructionsStartAfterLeadingContinuationLines) {
  auto file = parse_ok("FROM alpine\n\\\nRUN x\n");
  const auto& step = file.stages[0].instructions[0];
  EXPECT_EQ(step.keyword, "RUN");
  EXPECT_EQ(step.where.line, 3);
}

TEST(DockerfileLines, ContinuationLocationsFollowTheirLines) {
  auto error = parse_error("FROM alpine\nCOPY \\\n  --form=x a b\n");
  EXPECT_EQ(error, "Dockerfile:3:3: unknown flag for COPY: --form (did you mean --from?)");
}

// --- JSON and shell forms ---

TEST(DockerfileForms, JsonArrayIsExecForm) {
  auto step = only_step("CMD [\"echo\", \"a \\\"b\\\"\", \"\\u00e9\"]\n");
  EXPECT_TRUE(step.json);
  EXPECT_EQ(step.args, (Strings{"echo", "a \"b\"", "\xC3\xA9"}));
}

TEST(DockerfileForms, InvalidJsonFallsBackToShellForm) {
  auto step = only_step("RUN [\"echo\", 'a']\n");
  EXPECT_FALSE(step.json);
  EXPECT_EQ(step.args, Strings{"[\"echo\", 'a']"});
  step = only_step("ENTRYPOINT [\"a\",]\n");
  EXPECT_FALSE(step.json);
}

TEST(DockerfileForms, JsonArrayOfNonStringsIsAnError) {
  EXPECT_EQ(parse_error("FROM alpine\nCMD [\"a\", 1]\n"),
            "Dockerfile:2:1: when using JSON array syntax, arrays must be comprised of strings "
            "only");
}

TEST(DockerfileForms, CopyAndVolumeTakeJsonOrWords) {
  auto step = only_step("COPY [\"a b\", \"/dest dir/\"]\n");
  EXPECT_TRUE(step.json);
  EXPECT_EQ(step.args, (Strings{"a b", "/dest dir/"}));
  step = only_step("VOLUME /a   /b\n");
  EXPECT_FALSE(step.json);
  EXPECT_EQ(step.args, (Strings{"/a", "/b"}));
  step = only_step("VOLUME [\"/data\"]\n");
  EXPECT_TRUE(step.json);
  EXPECT_EQ(step.args, Strings{"/data"});
}

TEST(DockerfileForms, ShellRequiresJson) {
  auto step = only_step("SHELL [\"powershell\", \"-command\"]\n");
  EXPECT_EQ(step.args, (Strings{"powershell", "-command"}));
  EXPECT_EQ(parse_error("FROM alpine\nSHELL /bin/bash -c\n"),
            "Dockerfile:2:1: SHELL requires the arguments to be in JSON form");
  EXPECT_EQ(parse_error("FROM alpine\nSHELL\n"),
            "Dockerfile:2:1: SHELL requires at least one argument");
}

TEST(DockerfileForms, EmptyCmdIsAllowed) {
  auto step = only_step("CMD\n");
  EXPECT_TRUE(step.args.empty());
  step = only_step("ENTRYPOINT []\n");
  EXPECT_TRUE(step.json);
  EXPECT_TRUE(step.args.empty());
}

// --- ENV, LABEL, ARG ---

TEST(DockerfileEnv, NameValuePairsKeepQuotesForExpansion) {
  auto step = only_step("ENV a=b c=\"d e\" f='g h' i=j\\ k\n");
  EXPECT_EQ(step.pairs, (Pairs{{"a", "b"}, {"c", "\"d e\""}, {"f", "'g h'"}, {"i", "j\\ k"}}));
}

TEST(DockerfileEnv, LegacyFormTakesTheRestAsValue) {
  auto step = only_step("ENV PATH /usr/local/bin:$PATH  more words\n");
  EXPECT_EQ(step.pairs, (Pairs{{"PATH", "/usr/local/bin:$PATH  more words"}}));
}

TEST(DockerfileEnv, EmptyValueAndValueWithEquals) {
  auto step = only_step("ENV a= b=c=d\n");
  EXPECT_EQ(step.pairs, (Pairs{{"a", ""}, {"b", "c=d"}}));
}

TEST(DockerfileEnv, Errors) {
  EXPECT_EQ(parse_error("FROM alpine\nENV\n"),
            "Dockerfile:2:1: ENV requires at least one argument");
  EXPECT_EQ(parse_error("FROM alpine\nENV onlyname\n"),
            "Dockerfile:2:1: ENV must have two arguments");
  EXPECT_EQ(parse_error("FROM alpine\nENV =x\n"), "Dockerfile:2:1: ENV names can not be blank");
  EXPECT_EQ(parse_error("FROM alpine\nENV a=b c\n"),
            "Dockerfile:2:1: Syntax error - can't find = in \"c\". Must be of the form: "
            "name=value");
}

TEST(DockerfileEnv, LabelSharesEnvRules) {
  auto step = only_step("LABEL \"com.example.vendor\"=\"ACME Inc\" version=1.0\n");
  EXPECT_EQ(step.keyword, "LABEL");
  EXPECT_EQ(step.pairs, (Pairs{{"\"com.example.vendor\"", "\"ACME Inc\""}, {"version", "1.0"}}));
  EXPECT_EQ(parse_error("FROM alpine\nLABEL\n"),
            "Dockerfile:2:1: LABEL requires at least one argument");
  EXPECT_EQ(parse_error("FROM alpine\nLABEL =x\n"), "Dockerfile:2:1: LABEL names can not be blank");
}

TEST(DockerfileArg, SeveralNamesWithAndWithoutDefaults) {
  auto step = only_step("ARG a b=2 c=\"x y\" d=\n");
  EXPECT_EQ(step.pairs, (Pairs{{"a", std::nullopt}, {"b", "2"}, {"c", "\"x y\""}, {"d", ""}}));
}

TEST(DockerfileArg, Errors) {
  EXPECT_EQ(parse_error("ARG\nFROM alpine\n"),
            "Dockerfile:1:1: ARG requires at least one argument");
  EXPECT_EQ(parse_error("ARG =1\nFROM alpine\n"), "Dockerfile:1:1: ARG names can not be blank");
}

// --- FROM ---

TEST(DockerfileFrom, Errors) {
  EXPECT_EQ(parse_error("FROM\n"), "Dockerfile:1:1: FROM requires either one or three arguments");
  EXPECT_EQ(parse_error("FROM a b\n"),
            "Dockerfile:1:1: FROM requires either one or three arguments");
  EXPECT_EQ(parse_error("FROM a AS 1st\n"),
            "Dockerfile:1:1: invalid name for build stage: \"1st\", name can't start with a "
            "number or contain symbols");
  EXPECT_EQ(parse_error("FROM a AS b$c\n"),
            "Dockerfile:1:1: invalid name for build stage: \"b$c\", name can't start with a "
            "number or contain symbols");
  EXPECT_EQ(parse_error("FROM --platfrom=x a\n"),
            "Dockerfile:1:6: unknown flag for FROM: --platfrom (did you mean --platform?)");
}

TEST(DockerfileFrom, StageNamesMayHoldDashesDotsUnderscores) {
  auto file = parse_ok("FROM a AS my-stage_1.x\n");
  EXPECT_EQ(file.stages[0].name, "my-stage_1.x");
}

TEST(DockerfileFrom, DuplicateStageNameIsAnError) {
  EXPECT_EQ(parse_error("FROM a AS x\nFROM b AS X\n"),
            "Dockerfile:2:1: duplicate stage name 'x': stage names should be unique");
}

TEST(DockerfileFrom, MissingFromAndEmptyFile) {
  EXPECT_EQ(parse_error(""), "Dockerfile:1:1: file with no instructions");
  EXPECT_EQ(parse_error("# only a comment\n\n"), "Dockerfile:1:1: file with no instructions");
  EXPECT_EQ(parse_error("ARG x\n"),
            "Dockerfile:1:1: no FROM instruction: a Dockerfile starts with FROM (or ARG before "
            "FROM)");
  EXPECT_EQ(parse_error("ARG x\nRUN true\nFROM alpine\n"),
            "Dockerfile:2:1: no build stage in current context: RUN comes before the first FROM "
            "(only ARG may)");
}

// --- unknown instructions ---

TEST(DockerfileKeywords, UnknownInstructionSuggestsTheClosest) {
  EXPECT_EQ(parse_error("FROM alpine\n\n\nRUNN true\n"),
            "Dockerfile:4:1: unknown instruction: RUNN (did you mean RUN?)");
  EXPECT_EQ(parse_error("FROM alpine\n  copyy a b\n"),
            "Dockerfile:2:3: unknown instruction: copyy (did you mean copy?)");
  EXPECT_EQ(parse_error("FROM alpine\nFROBNICATE x\n"),
            "Dockerfile:2:1: unknown instruction: FROBNICATE");
  EXPECT_EQ(parse_error("FROM alpine\nWorkDir /x\nExpsoe 80\n"),
            "Dockerfile:3:1: unknown instruction: Expsoe (did you mean expose?)");
}

// --- flags ---

TEST(DockerfileFlags, AreKeptInOrderWithValues) {
  auto step = only_step(
      "RUN --mount=type=cache,target=/root/.cache --network=none --mount=type=secret,id=x "
      "make\n");
  ASSERT_EQ(step.flags.size(), 3u);
  EXPECT_EQ(step.flags[0].name, "mount");
  EXPECT_EQ(step.flags[0].value, "type=cache,target=/root/.cache");
  EXPECT_EQ(step.flags[1].name, "network");
  EXPECT_EQ(step.flags[1].value, "none");
  EXPECT_EQ(step.flags[2].value, "type=secret,id=x");
  EXPECT_EQ(step.args, Strings{"make"});
}

TEST(DockerfileFlags, QuotesInFlagValuesAreRemoved) {
  auto step = only_step("COPY --chown=\"1000:1000\" --exclude='*.md' . /app\n");
  ASSERT_EQ(step.flags.size(), 2u);
  EXPECT_EQ(step.flags[0].value, "1000:1000");
  EXPECT_EQ(step.flags[1].value, "*.md");
}

TEST(DockerfileFlags, BareBooleanFlag) {
  auto step = only_step("COPY --link --parents=true a b /dst/\n");
  ASSERT_EQ(step.flags.size(), 2u);
  EXPECT_EQ(step.flags[0].name, "link");
  EXPECT_FALSE(step.flags[0].has_value);
  EXPECT_TRUE(step.flags[1].has_value);
  EXPECT_EQ(step.args, (Strings{"a", "b", "/dst/"}));
}

TEST(DockerfileFlags, DoubleDashEndsFlags) {
  auto step = only_step("RUN -- --not-a-flag\n");
  EXPECT_TRUE(step.flags.empty());
  EXPECT_EQ(step.args, Strings{"--not-a-flag"});
  step = only_step("RUN -x --y\n");
  EXPECT_TRUE(step.flags.empty());
  EXPECT_EQ(step.args, Strings{"-x --y"});
}

TEST(DockerfileFlags, AddAcceptsItsFlags) {
  auto step = only_step(
      "ADD --chown=a --chmod=644 --link --checksum=sha256:abc --keep-git-dir=false "
      "--exclude=x --exclude=y https://example.com/a.tgz /\n");
  EXPECT_EQ(step.flags.size(), 7u);
}

TEST(DockerfileFlags, UnknownFlagSuggestsTheClosest) {
  EXPECT_EQ(parse_error("FROM alpine\n\n\n\n\n\nCOPY --link --form=build a b\n"),
            "Dockerfile:7:13: unknown flag for COPY: --form (did you mean --from?)");
  EXPECT_EQ(parse_error("FROM alpine\nRUN --mnt=type=cache x\n"),
            "Dockerfile:2:5: unknown flag for RUN: --mnt (did you mean --mount?)");
  EXPECT_EQ(parse_error("FROM alpine\nADD --from=x a b\n"),
            "Dockerfile:2:5: unknown flag for ADD: --from");
  EXPECT_EQ(parse_error("FROM alpine\nWORKDIR --x=1 /a\n"),
            "Dockerfile:2:9: unknown flag for WORKDIR: --x");
}

TEST(DockerfileFlags, FlagGivenTwice) {
  EXPECT_EQ(parse_error("FROM alpine\nCOPY --from=a --from=b x y\n"),
            "Dockerfile:2:15: duplicate flag specified: --from");
  // List flags may repeat.
  auto step = only_step("COPY --exclude=a --exclude=b x y\n");
  EXPECT_EQ(step.flags.size(), 2u);
}

TEST(DockerfileFlags, ValueRules) {
  EXPECT_EQ(parse_error("FROM alpine\nCOPY --from a b\n"),
            "Dockerfile:2:6: missing a value on flag: --from");
  EXPECT_EQ(parse_error("FROM alpine\nCOPY --link= a b\n"),
            "Dockerfile:2:6: missing a value on flag: --link");
  EXPECT_EQ(parse_error("FROM alpine\nCOPY --link=yes a b\n"),
            "Dockerfile:2:6: expecting boolean value for flag --link, not: yes");
}

TEST(DockerfileFlags, RunNetworkAndSecurity) {
  for (std::string mode : {"default", "none", "host"}) {
    auto step = only_step("RUN --network=" + mode + " true\n");
    EXPECT_EQ(step.flags[0].value, mode);
  }
  EXPECT_EQ(parse_error("FROM alpine\nRUN --network=bridge true\n"),
            "Dockerfile:2:1: invalid network mode \"bridge\"");
  EXPECT_EQ(parse_error("FROM alpine\nRUN --security=root true\n"),
            "Dockerfile:2:1: security \"root\" is not valid");
  auto step = only_step("RUN --security=insecure true\n");
  EXPECT_EQ(step.flags[0].value, "insecure");
}

// --- arguments per keyword ---

TEST(DockerfileArgs, CopyAndAddNeedADestination) {
  EXPECT_EQ(parse_error("FROM alpine\nCOPY onlyone\n"),
            "Dockerfile:2:1: COPY requires at least two arguments, but only one was provided. "
            "Destination could not be determined");
  EXPECT_EQ(parse_error("FROM alpine\nADD\n"),
            "Dockerfile:2:1: ADD requires at least two arguments, but only one was provided. "
            "Destination could not be determined");
}

TEST(DockerfileArgs, ExactlyOneArgument) {
  for (std::string k : {"WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER"}) {
    EXPECT_EQ(parse_error("FROM alpine\n" + k + "\n"),
              "Dockerfile:2:1: " + k + " requires exactly one argument");
  }
  // As docker, the rest of the line is the one argument.
  EXPECT_EQ(only_step("WORKDIR /my dir\n").args, Strings{"/my dir"});
  EXPECT_EQ(only_step("USER app:app\n").args, Strings{"app:app"});
  EXPECT_EQ(only_step("STOPSIGNAL SIGKILL\n").args, Strings{"SIGKILL"});
  EXPECT_EQ(only_step("MAINTAINER Jane Doe <jane@example.com>\n").args,
            Strings{"Jane Doe <jane@example.com>"});
}

TEST(DockerfileArgs, AtLeastOneArgument) {
  EXPECT_EQ(parse_error("FROM alpine\nEXPOSE\n"),
            "Dockerfile:2:1: EXPOSE requires at least one argument");
  EXPECT_EQ(parse_error("FROM alpine\nVOLUME\n"),
            "Dockerfile:2:1: VOLUME requires at least one argument");
  EXPECT_EQ(parse_error("FROM alpine\nVOLUME [\"\"]\n"),
            "Dockerfile:2:1: VOLUME specified can not be an empty string");
  EXPECT_EQ(only_step("EXPOSE 80/tcp  443\n").args, (Strings{"80/tcp", "443"}));
}

// --- ONBUILD ---

TEST(DockerfileOnbuild, NestsTheTrigger) {
  auto step = only_step("ONBUILD COPY --chown=app . /src\n");
  EXPECT_EQ(step.keyword, "ONBUILD");
  EXPECT_EQ(step.args, Strings{"COPY --chown=app . /src"});
  ASSERT_EQ(step.nested.size(), 1u);
  EXPECT_EQ(step.nested[0].keyword, "COPY");
  ASSERT_EQ(step.nested[0].flags.size(), 1u);
  EXPECT_EQ(step.nested[0].flags[0].name, "chown");
  EXPECT_EQ(step.nested[0].args, (Strings{".", "/src"}));
  EXPECT_EQ(step.nested[0].original, "COPY --chown=app . /src");
}

TEST(DockerfileOnbuild, JsonTrigger) {
  auto step = only_step("onbuild run [\"make\", \"all\"]\n");
  ASSERT_EQ(step.nested.size(), 1u);
  EXPECT_EQ(step.nested[0].keyword, "RUN");
  EXPECT_TRUE(step.nested[0].json);
  EXPECT_EQ(step.nested[0].args, (Strings{"make", "all"}));
}

TEST(DockerfileOnbuild, ForbiddenTriggers) {
  EXPECT_EQ(parse_error("FROM alpine\nONBUILD ONBUILD RUN x\n"),
            "Dockerfile:2:1: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  EXPECT_EQ(parse_error("FROM alpine\nONBUILD from alpine\n"),
            "Dockerfile:2:1: FROM isn't allowed as an ONBUILD trigger");
  EXPECT_EQ(parse_error("FROM alpine\nONBUILD MAINTAINER me\n"),
            "Dockerfile:2:1: MAINTAINER isn't allowed as an ONBUILD trigger");
  EXPECT_EQ(parse_error("FROM alpine\nONBUILD\n"),
            "Dockerfile:2:1: ONBUILD requires at least one argument");
}

// --- HEALTHCHECK ---

TEST(DockerfileHealthcheck, CmdShellForm) {
  auto step =
      only_step("HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD curl -f http://x/\n");
  EXPECT_EQ(step.args, Strings{"CMD"});
  EXPECT_EQ(step.flags.size(), 3u);
  ASSERT_EQ(step.nested.size(), 1u);
  EXPECT_EQ(step.nested[0].keyword, "CMD");
  EXPECT_FALSE(step.nested[0].json);
  EXPECT_EQ(step.nested[0].args, Strings{"curl -f http://x/"});
}

TEST(DockerfileHealthcheck, CmdJsonForm) {
  auto step = only_step("HEALTHCHECK --start-period=1m30s --start-interval=5s CMD [\"true\"]\n");
  ASSERT_EQ(step.nested.size(), 1u);
  EXPECT_TRUE(step.nested[0].json);
  EXPECT_EQ(step.nested[0].args, Strings{"true"});
}

TEST(DockerfileHealthcheck, None) {
  auto step = only_step("HEALTHCHECK NONE\n");
  EXPECT_EQ(step.args, Strings{"NONE"});
  EXPECT_TRUE(step.nested.empty());
  EXPECT_EQ(parse_error("FROM alpine\nHEALTHCHECK NONE x\n"),
            "Dockerfile:2:1: HEALTHCHECK NONE takes no arguments");
}

TEST(DockerfileHealthcheck, Errors) {
  EXPECT_EQ(parse_error("FROM alpine\nHEALTHCHECK\n"),
            "Dockerfile:2:1: HEALTHCHECK requires at least one argument");
  EXPECT_EQ(parse_error("FROM alpine\nHEALTHCHECK CMD\n"),
            "Dockerfile:2:1: Missing command after HEALTHCHECK CMD");
  EXPECT_EQ(parse_error("FROM alpine\nHEALTHCHECK RUN x\n"),
            "Dockerfile:2:1: Unknown type \"RUN\" in HEALTHCHECK (try CMD)");
  EXPECT_EQ(parse_error("FROM alpine\nHEALTHCHECK --interval=5 CMD x\n"),
            "Dockerfile:2:13: time: missing unit in duration \"5\"");
  EXPECT_EQ(parse_error("FROM alpine\nHEALTHCHECK --timeout=abc CMD x\n"),
            "Dockerfile:2:13: time: invalid duration \"abc\"");
  EXPECT_EQ(parse_error("FROM alpine\nHEALTHCHECK --timeout=10us CMD x\n"),
            "Dockerfile:2:13: Interval \"timeout\" cannot be less than 1ms");
  EXPECT_EQ(parse_error("FROM alpine\nHEALTHCHECK --retries=-1 CMD x\n"),
            "Dockerfile:2:13: --retries cannot be negative (-1)");
  EXPECT_EQ(parse_error("FROM alpine\nHEALTHCHECK --retries=x CMD x\n"),
            "Dockerfile:2:13: strconv.ParseInt: parsing \"x\": invalid syntax");
  EXPECT_EQ(parse_error("FROM alpine\nHEALTHCHECK --intervall=5s CMD x\n"),
            "Dockerfile:2:13: unknown flag for HEALTHCHECK: --intervall (did you mean "
            "--interval?)");
}

TEST(GoDuration, ParsesGoSyntax) {
  EXPECT_EQ(*parse_go_duration("0"), 0);
  EXPECT_EQ(*parse_go_duration("30s"), 30'000'000'000);
  EXPECT_EQ(*parse_go_duration("1m30s"), 90'000'000'000);
  EXPECT_EQ(*parse_go_duration("1.5h"), 5'400'000'000'000);
  EXPECT_EQ(*parse_go_duration(".5ms"), 500'000);
  EXPECT_EQ(*parse_go_duration("-2us"), -2'000);
  EXPECT_EQ(*parse_go_duration("3\xC2\xB5s"), 3'000);
  EXPECT_EQ(parse_go_duration("").error().message(), "time: invalid duration \"\"");
  EXPECT_EQ(parse_go_duration("5x").error().message(),
            "time: unknown unit \"x\" in duration \"5x\"");
  EXPECT_EQ(parse_go_duration("9999999999h").error().message(),
            "time: invalid duration \"9999999999h\"");
}

// --- heredocs ---

TEST(DockerfileHeredoc, RunWithBody) {
  auto file = parse_ok("FROM alpine\nRUN <<EOF\necho hello\necho world\nEOF\nRUN true\n");
  const auto& steps = file.stages[0].instructions;
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].args, Strings{"<<EOF"});
  ASSERT_EQ(steps[0].heredocs.size(), 1u);
  EXPECT_EQ(steps[0].heredocs[0].name, "EOF");
  EXPECT_EQ(steps[0].heredocs[0].content, "echo hello\necho world\n");
  EXPECT_TRUE(steps[0].heredocs[0].expand);
  EXPECT_FALSE(steps[0].heredocs[0].chomp);
  EXPECT_EQ(steps[1].where.line, 6);
}

TEST(DockerfileHeredoc, QuotedNameTurnsExpansionOff) {
  auto step = only_step("RUN <<'EOF'\n$HOME\nEOF\n");
  ASSERT_EQ(step.heredocs.size(), 1u);
  EXPECT_EQ(step.heredocs[0].name, "EOF");
  EXPECT_FALSE(step.heredocs[0].expand);
  step = only_step("RUN <<\"EOF\"\n$HOME\nEOF\n");
  EXPECT_FALSE(step.heredocs[0].expand);
  EXPECT_EQ(step.heredocs[0].content, "$HOME\n");
}

TEST(DockerfileHeredoc, ChompRemovesLeadingTabs) {
  auto step = only_step("RUN <<-EOF\n\techo a\n\t\techo b\n  kept\n\tEOF\n");
  ASSERT_EQ(step.heredocs.size(), 1u);
  EXPECT_TRUE(step.heredocs[0].chomp);
  EXPECT_EQ(step.heredocs[0].content, "echo a\necho b\n  kept\n");
}

TEST(DockerfileHeredoc, SeveralOnOneLineInOrder) {
  auto step = only_step("COPY <<one.txt <<two.txt /dst/\nfirst\none.txt\nsecond\ntwo.txt\n");
  EXPECT_EQ(step.args, (Strings{"<<one.txt", "<<two.txt", "/dst/"}));
  ASSERT_EQ(step.heredocs.size(), 2u);
  EXPECT_EQ(step.heredocs[0].name, "one.txt");
  EXPECT_EQ(step.heredocs[0].content, "first\n");
  EXPECT_EQ(step.heredocs[1].name, "two.txt");
  EXPECT_EQ(step.heredocs[1].content, "second\n");
}

TEST(DockerfileHeredoc, ProgramReadingAHeredoc) {
  auto step = only_step("RUN python3 <<PY > /out\nprint('hi')\nPY\n");
  EXPECT_EQ(step.args, Strings{"python3 <<PY > /out"});
  ASSERT_EQ(step.heredocs.size(), 1u);
  EXPECT_EQ(step.heredocs[0].name, "PY");
  EXPECT_EQ(step.heredocs[0].content, "print('hi')\n");
}

TEST(DockerfileHeredoc, SpaceAfterMarkerAndFileDescriptor) {
  auto step = only_step("RUN cat << EOF 3<<END\na\nEOF\nb\nEND\n");
  ASSERT_EQ(step.heredocs.size(), 2u);
  EXPECT_EQ(step.heredocs[0].name, "EOF");
  EXPECT_EQ(step.heredocs[1].name, "END");
  EXPECT_EQ(step.heredocs[1].content, "b\n");
}

TEST(DockerfileHeredoc, EmptyBody) {
  auto step = only_step("COPY <<EOF /empty\nEOF\n");
  ASSERT_EQ(step.heredocs.size(), 1u);
  EXPECT_EQ(step.heredocs[0].content, "");
}

TEST(DockerfileHeredoc, NotForOtherInstructionsOrJson) {
  // CMD takes no heredoc: the next line is an instruction of its own.
  auto file = parse_ok("FROM alpine\nCMD cat <<EOF\nRUN true\n");
  ASSERT_EQ(file.stages[0].instructions.size(), 2u);
  EXPECT_TRUE(file.stages[0].instructions[0].heredocs.empty());
  file = parse_ok("FROM alpine\nRUN [\"cat\", \"<<EOF\"]\nRUN true\n");
  ASSERT_EQ(file.stages[0].instructions.size(), 2u);
  EXPECT_TRUE(file.stages[0].instructions[0].heredocs.empty());
}

TEST(DockerfileHeredoc, ShiftOperatorIsNoHeredoc) {
  auto step = only_step("RUN echo $((1<<2))\n");
  EXPECT_TRUE(step.heredocs.empty());
}

TEST(DockerfileHeredoc, OnbuildTrigger) {
  auto step = only_step("ONBUILD RUN <<EOF\necho x\nEOF\n");
  ASSERT_EQ(step.nested.size(), 1u);
  ASSERT_EQ(step.nested[0].heredocs.size(), 1u);
  EXPECT_EQ(step.nested[0].heredocs[0].content, "echo x\n");
  EXPECT_EQ(step.heredocs.size(), 1u);
}

TEST(DockerfileHeredoc, Errors) {
  EXPECT_EQ(parse_error("FROM alpine\nRUN <<EOF\necho\n"),
            "Dockerfile:2:1: unterminated heredoc EOF");
  EXPECT_EQ(parse_error("FROM alpine\nCOPY a <<EOF\nx\nEOF\n"),
            "Dockerfile:2:1: COPY cannot accept a heredoc as a destination");
}

TEST(DockerfileHeredoc, BodyLinesKeepEscapesAndComments) {
  auto step = only_step("RUN <<EOF\n# not a comment \\\nline\\\nEOF\n");
  EXPECT_EQ(step.heredocs[0].content, "# not a comment \\\nline\\\n");
}

// --- more edges ---

TEST(DockerfileDirectives, CheckIsADirectiveToo) {
  auto file = parse_ok("# check=skip=all\n# escape=`\nFROM alpine\n");
  EXPECT_EQ(file.escape, '`');
  EXPECT_EQ(parse_error("# syntax=a\n#syntax=b\nFROM alpine\n"),
            "Dockerfile:2:1: only one syntax parser directive can be used");
}

TEST(DockerfileFrom, StageNameCaseIsFolded) {
  auto file = parse_ok("FROM a AS UPPER\nFROM upper\n");
  EXPECT_EQ(file.stages[0].name, "upper");
  EXPECT_EQ(file.stages[1].base, "upper");
  EXPECT_EQ(parse_error("FROM a AS\n"),
            "Dockerfile:1:1: FROM requires either one or three arguments");
  EXPECT_EQ(parse_error("FROM a FOO b\n"),
            "Dockerfile:1:1: FROM requires either one or three arguments");
}

TEST(DockerfileFlags, KeywordsWithoutFlagsRefuseThem) {
  EXPECT_EQ(parse_error("FROM alpine\nONBUILD --x RUN y\n"),
            "Dockerfile:2:9: unknown flag for ONBUILD: --x");
  EXPECT_EQ(parse_error("FROM alpine\nENV --a=b c=d\n"),
            "Dockerfile:2:5: unknown flag for ENV: --a");
  EXPECT_EQ(parse_error("ARG --x=1 y\nFROM alpine\n"), "Dockerfile:1:5: unknown flag for ARG: --x");
  EXPECT_EQ(parse_error("FROM alpine\nCMD --x\n"), "Dockerfile:2:5: unknown flag for CMD: --x");
}

TEST(DockerfileFlags, HealthcheckNoneIgnoresFlags) {
  auto step = only_step("HEALTHCHECK --interval=bogus NONE\n");
  EXPECT_EQ(step.args, Strings{"NONE"});
}

TEST(DockerfileHeredoc, CarriageReturnTerminatorAndEndOfFile) {
  auto step = only_step("RUN <<EOF\r\necho a\r\nEOF\r\n");
  ASSERT_EQ(step.heredocs.size(), 1u);
  EXPECT_EQ(step.heredocs[0].content, "echo a\r\n");
  step = only_step("RUN <<EOF\nlast\nEOF");
  EXPECT_EQ(step.heredocs[0].content, "last\n");
}

TEST(DockerfileHeredoc, QuotedMarkersInTheCommandAreNoHeredocs) {
  auto file = parse_ok("FROM alpine\nRUN echo '<<EOF' \"<<END\"\nRUN true\n");
  ASSERT_EQ(file.stages[0].instructions.size(), 2u);
  EXPECT_TRUE(file.stages[0].instructions[0].heredocs.empty());
}

TEST(DockerfileHeredoc, PartlyQuotedNameDoesNotExpand) {
  auto step = only_step("RUN <<E\"O\"F\nbody\nEOF\n");
  ASSERT_EQ(step.heredocs.size(), 1u);
  EXPECT_EQ(step.heredocs[0].name, "EOF");
  EXPECT_FALSE(step.heredocs[0].expand);
}

TEST(DockerfileRobustness, DeepOnbuildChainsFailWithoutRecursing) {
  std::string text = "FROM alpine\n";
  for (int i = 0; i < 100000; ++i) text += "ONBUILD ";
  text += "RUN x\n";
  EXPECT_EQ(parse_error(text),
            "Dockerfile:2:1: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
}

TEST(DockerfileRobustness, DeeplyNestedJsonIsShellForm) {
  std::string text = "FROM alpine\nCMD " + std::string(100000, '[') + "\n";
  auto file = parse_ok(text);
  EXPECT_FALSE(file.stages[0].instructions[0].json);
}

TEST(DockerfileRobustness, LongLogicalLines) {
  std::string text = "FROM alpine\nRUN a";
  for (int i = 0; i < 20000; ++i) text += " \\\n  b";
  text += "\nRUN c\n";
  auto file = parse_ok(text);
  ASSERT_EQ(file.stages[0].instructions.size(), 2u);
  EXPECT_EQ(file.stages[0].instructions[1].where.line, 20003);
}

TEST(DockerfileHeredoc, MarkerNamesAsBuildKitReadsThem) {
  struct Case {
    const char* line;  // the RUN line; the body is "body\n", then the terminator
    const char* name;
    bool expand;
  };
  const Case cases[] = {
      {"RUN <<eo'f'", "eof", false},
      {"RUN <<eo\\'f", "eo'f", true},
      {"RUN <<'e'o\\'f", "eo'f", false},
      {"RUN <<'one two'", "one two", false},
      {"RUN <<$EOF", "$EOF", true},
      {"RUN <<  EOF  > foo", "EOF", true},
      {"RUN 3<<EOF", "EOF", true},
      {"RUN --mount=type=cache,target=/foo <<MOUNT", "MOUNT", true},
  };
  for (const auto& c : cases) {
    auto step = only_step(std::string(c.line) + "\nbody\n" + c.name + "\n");
    ASSERT_EQ(step.heredocs.size(), 1u) << c.line;
    EXPECT_EQ(step.heredocs[0].name, c.name) << c.line;
    EXPECT_EQ(step.heredocs[0].expand, c.expand) << c.line;
    EXPECT_EQ(step.heredocs[0].content, "body\n") << c.line;
  }
}

TEST(DockerfileHeredoc, BodiesMayHoldTheOtherTerminator) {
  auto step = only_step("COPY <<X <<Y /dest\nY\nX\nX\nY\n");
  ASSERT_EQ(step.heredocs.size(), 2u);
  EXPECT_EQ(step.heredocs[0].content, "Y\n");
  EXPECT_EQ(step.heredocs[1].content, "X\n");
}

TEST(DockerfileHeredoc, NotHeredocs) {
  // USER takes no heredoc (its "body" line is an instruction), a quoted marker is a word.
  auto file = parse_ok("FROM alpine\nUSER <<INVALID\nRUN \"<<NOHEREDOC\"\nRUN <<\n");
  const auto& steps = file.stages[0].instructions;
  ASSERT_EQ(steps.size(), 3u);
  for (const auto& step : steps) EXPECT_TRUE(step.heredocs.empty()) << step.original;
}

TEST(DockerfileOnbuild, ExpressionRoundTripsThroughTheChildBuild) {
  auto step = only_step("ONBUILD COPY --chown=1:1 <<EOF /etc/motd\nhello\nEOF\n");
  EXPECT_EQ(onbuild_expression(step), "COPY --chown=1:1 <<EOF /etc/motd\nhello\nEOF");
  auto trigger = parse_onbuild_trigger(onbuild_expression(step));
  ASSERT_TRUE(trigger) << trigger.error().message();
  EXPECT_EQ(trigger->keyword, "COPY");
  EXPECT_EQ(trigger->args, (Strings{"<<EOF", "/etc/motd"}));
  ASSERT_EQ(trigger->heredocs.size(), 1u);
  EXPECT_EQ(trigger->heredocs[0].content, "hello\n");
  EXPECT_EQ(onbuild_expression(only_step("ONBUILD RUN make\n")), "RUN make");
}

TEST(DockerfileOnbuild, TriggersAreCheckedWhenTheyRun) {
  // Accepted in the parent (docker checks a trigger in the child build) ...
  auto step = only_step("ONBUILD COPY onlyone\n");
  EXPECT_EQ(step.nested.at(0).keyword, "COPY");
  // ... refused there.
  EXPECT_EQ(parse_onbuild_trigger(onbuild_expression(step)).error().message(),
            "ONBUILD:1:1: COPY requires at least two arguments, but only one was provided. "
            "Destination could not be determined");
  EXPECT_EQ(parse_onbuild_trigger("RUNN x").error().message(),
            "ONBUILD:1:1: unknown instruction: RUNN (did you mean RUN?)");
  EXPECT_EQ(parse_onbuild_trigger("FROM alpine").error().message(),
            "ONBUILD:1:1: FROM isn't allowed as an ONBUILD trigger");
  EXPECT_EQ(parse_onbuild_trigger("RUN a\nRUN b").error().message(),
            "ONBUILD:1:1: onbuild trigger should be a single expression");
  EXPECT_EQ(parse_onbuild_trigger("").error().message(),
            "ONBUILD:1:1: onbuild trigger should be a single expression");
  EXPECT_TRUE(parse_onbuild_trigger("MAINTAINER me"));
}

TEST(DockerfileMessages, RemainingErrorsKeepDockersWording) {
  EXPECT_EQ(parse_error("FROM alpine\nLABEL onlyname\n"),
            "Dockerfile:2:1: LABEL must have two arguments");
  EXPECT_EQ(parse_error("FROM alpine\nADD https://x/y <<EOF\nbody\nEOF\n"),
            "Dockerfile:2:1: ADD cannot accept a heredoc as a destination");
  EXPECT_EQ(parse_error("FROM alpine\nHEALTHCHECK --retries=99999999999 CMD x\n"),
            "Dockerfile:2:13: strconv.ParseInt: parsing \"99999999999\": value out of range");
  EXPECT_EQ(parse_error("FROM --platform=a --platform=b alpine\n"),
            "Dockerfile:1:19: duplicate flag specified: --platform");
  EXPECT_EQ(parse_error("FROM alpine\nADD --keep-git-dir=maybe a b\n"),
            "Dockerfile:2:5: expecting boolean value for flag --keep-git-dir, not: maybe");
  EXPECT_EQ(parse_error("FROM alpine\nRUN --network default true\n"),
            "Dockerfile:2:5: missing a value on flag: --network");
}

TEST(HeredocMarker, TellsMarkersFromWords) {
  auto doc = parse_heredoc_marker("<<-\"EOF\"");
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->name, "EOF");
  EXPECT_TRUE(doc->chomp);
  EXPECT_FALSE(doc->expand);
  doc = parse_heredoc_marker("2<< file.txt");
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->name, "file.txt");
  EXPECT_TRUE(doc->expand);
  for (std::string_view word : {"<<", "a<<EOF", "<<a<<b", "'<<EOF'", "<<'a' b", "/path", ""}) {
    EXPECT_FALSE(parse_heredoc_marker(word)) << word;
  }
}

TEST(DockerfileRobustness, ManyRepeatedListFlags) {
  std::string line = "COPY";
  for (int i = 0; i < 50000; ++i) line += " --exclude=x" + std::to_string(i);
  auto step = only_step(line + " a /b/\n");
  EXPECT_EQ(step.flags.size(), 50000u);
}

}  // namespace
}  // namespace berth::build
