// Go's text/template as docker's --format speaks it (cli/template/template.h).
#include "cli/template/template.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace berth::cli::tmpl {
namespace {

using nlohmann::json;

const json kContainer = json::parse(R"({
  "Id": "4f1c", "Name": "/web", "RestartCount": 0, "Ratio": 0.5,
  "State": {"Status": "running", "Running": true, "Pid": 42, "ExitCode": 0},
  "Config": {"Cmd": ["echo", "hi"], "Env": [], "Labels": {"com.example.tier": "front", "owner": "ops"}},
  "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "10.0.0.2"}, "back": {"IPAddress": "10.1.0.2"}}},
  "Mounts": null
})");

// Runs `text` on `dot`; a parse or execution error becomes "ERROR: message".
std::string run(std::string_view text, const json& dot = kContainer, const Context& context = {}) {
  auto t = Template::parse(text);
  if (!t) return "ERROR: " + t.error().message();
  auto out = t->execute(dot, context);
  if (!out) return "ERROR: " + out.error().message();
  return *out;
}

// Found by the go_template fuzz target: a whole float beyond int64 was converted (undefined).
TEST(Template, AFloatBeyondInt64IsNotAnIndex) {
  EXPECT_EQ(run("{{index .Config.Cmd 1e300}}"), "ERROR: template: 1:3: <index .Config.Cmd 1e300>: index: cannot index slice with float64");
  EXPECT_EQ(run("{{index .Config.Cmd 1.0}}"), "hi");
}

TEST(Template, TextWithoutActionsIsCopied) { EXPECT_EQ(run("plain {text}\n"), "plain {text}\n"); }

TEST(Template, FieldChainsReadNestedObjects) {
  EXPECT_EQ(run("{{.Name}} {{.State.Status}} {{.State.Pid}}"), "/web running 42");
}

TEST(Template, ValuesPrintAsGoPrintsThem) {
  EXPECT_EQ(run("{{.Config.Cmd}}"), "[echo hi]");
  EXPECT_EQ(run("{{.Config.Env}}"), "[]");
  EXPECT_EQ(run("{{.Config.Labels}}"), "map[com.example.tier:front owner:ops]");
  EXPECT_EQ(run("{{.State.Running}} {{.Ratio}} {{.Mounts}}"), "true 0.5 <nil>");
  EXPECT_EQ(run("{{1000000.0}} {{123456.0}} {{0.00001}} {{-7}} {{0x1F}} {{'a'}}"),
            "1e+06 123456 1e-05 -7 31 97");
}

TEST(Template, MissingMapKeyPrintsNoValue) {
  EXPECT_EQ(run("{{.Config.Labels.nope}}"), "<no value>");
  EXPECT_EQ(run("{{.Actor.Attributes.nope}}",
                json::parse(R"({"Actor": {"Attributes": {"exitCode": "0"}}})")),
            "<no value>");
}

TEST(Template, UnknownStructFieldIsAnErrorListingTheFields) {
  EXPECT_EQ(
      run("{{.Nmae}}"),
      "ERROR: template: no field 'Nmae' (. has: Config, Id, Mounts, Name, NetworkSettings, Ratio, "
      "RestartCount, State)");
  Context context;
  context.name = "ps";
  context.fields = {"ID", "Names"};
  EXPECT_EQ(run("{{.Nmae}}", json{{"ID", "1"}, {"Names", "a"}}, context),
            "ERROR: template: no field 'Nmae' (ps has: ID, Names)");
  EXPECT_EQ(
      run("{{.State.Stauts}}"),
      "ERROR: template: no field 'Stauts' in .State (State has: ExitCode, Pid, Running, Status)");
}

TEST(Template, StructFieldsAnswerToTheirGoNamesWhateverTheJsonCase) {
  EXPECT_EQ(run("{{.ID}}"), "4f1c");
  EXPECT_EQ(run("{{.TimeNano}}", json{{"Type", "container"}, {"timeNano", 5}}), "5");
}

TEST(Template, DotAndDollar) {
  EXPECT_EQ(run("{{.}}", json("x")), "x");
  EXPECT_EQ(run("{{with .State}}{{.Status}} of {{$.Name}}{{end}}"), "running of /web");
}

TEST(Template, TrimMarkersEatSurroundingWhitespace) {
  EXPECT_EQ(run("a  \n {{- .State.Pid -}} \n  b"), "a42b");
  EXPECT_EQ(run("a {{- /* a comment */ -}} b"), "ab");
  EXPECT_EQ(run("a {{/* a comment */}} b"), "a  b");
  EXPECT_EQ(run("{{-3}}"), "-3");  // a negative number, not a trim marker
}

TEST(Template, VariablesDeclareAndAssign) {
  EXPECT_EQ(run("{{$n := .Name}}{{$n}}"), "/web");
  EXPECT_EQ(run("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}"), "2");
  EXPECT_EQ(run("{{$s := .State}}{{$s.Pid}}"), "42");
}

TEST(Template, PipelinesPassTheValueAsTheLastArgument) {
  EXPECT_EQ(run("{{.Name | upper}}"), "/WEB");
  EXPECT_EQ(run("{{.State.Status | printf \"%s!\" | upper}}"), "RUNNING!");
  EXPECT_EQ(run("{{(index .Config.Cmd 1) | upper}}"), "HI");
}

TEST(Template, ParenthesisedPipelinesAndTheirFields) {
  EXPECT_EQ(run("{{(index .NetworkSettings.Networks \"bridge\").IPAddress}}"), "10.0.0.2");
}

TEST(Template, RangeOverArraysMapsAndNumbers) {
  EXPECT_EQ(run("{{range .Config.Cmd}}<{{.}}>{{end}}"), "<echo><hi>");
  EXPECT_EQ(run("{{range $i, $e := .Config.Cmd}}{{$i}}={{$e}} {{end}}"), "0=echo 1=hi ");
  EXPECT_EQ(run("{{range $k, $v := .NetworkSettings.Networks}}{{$k}}:{{$v.IPAddress}} {{end}}"),
            "back:10.1.0.2 bridge:10.0.0.2 ");
  EXPECT_EQ(run("{{range $e := .Config.Cmd}}{{$e}}{{end}}"), "echohi");
  EXPECT_EQ(run("{{range .Config.Env}}x{{else}}empty{{end}}"), "empty");
  EXPECT_EQ(run("{{range .Mounts}}x{{else}}none{{end}}"), "none");
  EXPECT_EQ(run("{{range 3}}{{.}}{{end}}"), "012");
  EXPECT_EQ(run("{{range .Config.Cmd}}{{if eq . \"hi\"}}{{break}}{{end}}{{.}}{{end}}"), "echo");
  EXPECT_EQ(run("{{range .Config.Cmd}}{{if eq . \"echo\"}}{{continue}}{{end}}{{.}}{{end}}"), "hi");
}

TEST(Template, NestedRangesAndGrowingValuesStopAtTheBudget) {
  Context small;
  small.max_steps = 1000;
  small.max_text = 1000;
  // Each range is short; together they would walk 10^12 nodes.
  EXPECT_EQ(run("{{range 30}}{{range 30}}{{range 30}}x{{end}}{{end}}{{end}}", kContainer, small),
            "ERROR: template: 1:37: <text>: stopped after 1000 steps (ranges over long or nested lists)");
  EXPECT_EQ(run("{{range 777777777777776}}{{end}}", kContainer, small),
            "ERROR: template: 1:3: <range 777777777777776>: stopped after 1000 steps (ranges over long or nested lists)");
  // A value that doubles on each iteration, and output that grows past the bound.
  EXPECT_EQ(run("{{$x := \"ab\"}}{{range 20}}{{$x = printf \"%s%s\" $x $x}}{{end}}", kContainer, small),
            "ERROR: template: 1:34: <printf \"%s%s\" $x $x>: value over 1000 bytes");
  EXPECT_EQ(run("{{range 900}}ab{{end}}", kContainer, small),
            "ERROR: template: 1:14: <text>: output over 1000 bytes");
  // Within the budget, the default one included, nothing changes.
  EXPECT_EQ(run("{{range 10}}{{range 10}}x{{end}}{{end}}", kContainer, small), std::string(100, 'x'));
  EXPECT_EQ(run("{{range 1000}}{{range 1000}}{{end}}{{end}}"), "");
}

TEST(Template, NestingPastAHundredLevelsIsASyntaxError) {
  // 100,000 '(' overflowed the stack of the recursive parser (go_template, a larger input).
  const std::string parens = "{{" + std::string(100000, '(') + ".Name" + std::string(100000, ')') + "}}";
  EXPECT_EQ(run(parens), "ERROR: template: 1:103: nested more than 100 levels deep");
  std::string ifs;
  for (int i = 0; i < 30000; ++i) ifs += "{{if .Name}}";
  EXPECT_EQ(run(ifs), "ERROR: template: 1:1203: nested more than 100 levels deep");
  EXPECT_EQ(run("{{" + std::string(100, '(') + ".Name" + std::string(100, ')') + "}}"), "/web");
}

TEST(Template, IfElseIfElse) {
  const char* t =
      "{{if eq .State.Status \"exited\"}}down{{else if .State.Running}}up{{else}}?{{end}}";
  EXPECT_EQ(run(t), "up");
  EXPECT_EQ(run("{{if .Config.Env}}yes{{else}}no{{end}}"), "no");
  EXPECT_EQ(run("{{if $p := .State.Pid}}pid {{$p}}{{end}}"), "pid 42");
}

TEST(Template, WithSetsDotAndHasElse) {
  EXPECT_EQ(run("{{with .Config.Labels.owner}}owner={{.}}{{end}}"), "owner=ops");
  EXPECT_EQ(run("{{with .Config.Env}}x{{else}}no env{{end}}"), "no env");
  EXPECT_EQ(run("{{with .Mounts}}x{{else with .Name}}{{.}}{{end}}"), "/web");
}

TEST(Template, Comparisons) {
  EXPECT_EQ(run("{{eq .State.ExitCode 0}} {{eq 0.0 .State.ExitCode}} {{ne .Name \"/db\"}}"),
            "true true true");
  EXPECT_EQ(run("{{eq .State.Status \"exited\" \"running\"}}"), "true");
  EXPECT_EQ(run("{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge \"b\" \"a\"}}"), "true true false true");
  EXPECT_EQ(
      run("{{lt .Name 1}}"),
      "ERROR: template: 1:3: <lt .Name 1>: lt: incompatible types for comparison (string and int)");
  EXPECT_NE(run("{{eq .Config.Cmd 1}}").find("non-comparable"), std::string::npos);
}

TEST(Template, LogicShortCircuits) {
  EXPECT_EQ(run("{{and 1 0 (index .Config.Cmd 9)}}"), "0");
  EXPECT_EQ(run("{{or 0 \"\" \"x\"}}"), "x");
  EXPECT_EQ(run("{{and 1 2}} {{or 0 false}} {{not .Config.Env}}"), "2 false true");
}

TEST(Template, LenIndexSlice) {
  EXPECT_EQ(run("{{len .Config.Cmd}} {{len .Name}} {{len .Config.Labels}}"), "2 4 2");
  EXPECT_EQ(run("{{index .Config.Cmd 0}} {{index .Config.Labels \"owner\"}} [{{index "
                ".Config.Labels \"x\"}}]"),
            "echo ops []");
  EXPECT_EQ(run("{{slice .Name 1 3}} {{slice .Config.Cmd 1}}"), "we [hi]");
  EXPECT_NE(run("{{index .Config.Cmd 5}}").find("index out of range: 5"), std::string::npos);
  EXPECT_NE(run("{{len 3}}").find("len of int"), std::string::npos);
}

TEST(Template, PrintFunctions) {
  EXPECT_EQ(run("{{print \"a\" \"b\" 1 2 \"c\"}}"), "ab1 2c");
  EXPECT_EQ(run("{{println \"a\" 1}}"), "a 1\n");
  EXPECT_EQ(run("{{printf \"%-6s|%5d|%05.1f|%q|%v|%x|%t|%%\" \"ab\" 42 3.14159 \"q\" .Config.Cmd "
                "255 true}}"),
            "ab    |   42|003.1|\"q\"|[echo hi]|ff|true|%");
  EXPECT_EQ(run("{{printf \"%d %s\" 1}}"), "1 %!s(MISSING)");
  EXPECT_EQ(run("{{printf \"%d\" \"x\"}}"), "%!d(string=x)");
}

TEST(Template, DockerFunctions) {
  EXPECT_EQ(run("{{json .Config.Cmd}} {{json .Name}} {{json .State.Pid}}"),
            R"(["echo","hi"] "/web" 42)");
  EXPECT_EQ(run("{{json .Config.Labels}}"), R"({"com.example.tier":"front","owner":"ops"})");
  EXPECT_EQ(run("{{join .Config.Cmd \", \"}}"), "echo, hi");
  EXPECT_EQ(run("{{split \"a:b:c\" \":\"}} {{index (split \"img:tag\" \":\") 1}}"), "[a b c] tag");
  EXPECT_EQ(run("{{lower \"ABC\"}} {{upper \"abc\"}} {{title \"hello big-world\"}}"),
            "abc ABC Hello Big-World");
  EXPECT_EQ(run("{{truncate \"abcdef\" 3}} {{truncate \"ab\" 3}}"), "abc ab");
  EXPECT_EQ(run("[{{pad \"ab\" 1 2}}] [{{pad \"\" 1 2}}]"), "[ ab  ] []");
}

TEST(Template, HeaderModeKeepsColumnNames) {
  Context header;
  header.header = true;
  json names = {{"Names", "NAMES"}, {"Image", "IMAGE"}};
  EXPECT_EQ(run("{{upper .Names}}\t{{truncate .Image 2}}\t{{pad .Names 1 1}}", names, header),
            "NAMES\tIMAGE\t NAMES ");
}

TEST(Template, MethodsOfTheDot) {
  Context context;
  context.methods["Label"] = [](const std::vector<json>& args) -> Result<json> {
    if (args.size() != 1) return Error(ErrorKind::invalid_argument, "Label takes one name");
    return json(args[0] == "tier" ? "front" : "");
  };
  context.methods["Status"] = [](const std::vector<json>&) -> Result<json> { return json("up"); };
  json row = {{"Names", "web"}};
  EXPECT_EQ(
      run("{{.Label \"tier\"}}|{{.Label \"nope\"}}|{{.Status}}|{{$.Label \"tier\"}}", row, context),
      "front||up|front");
  EXPECT_EQ(run("{{\"tier\" | .Label}}", row, context), "front");
  // Arguments are read from the dot where the call is, not from the receiver.
  EXPECT_EQ(run("{{range .Keys}}{{$.Label .}};{{end}}", json{{"Keys", {"tier", "x"}}}, context),
            "front;;");
  EXPECT_NE(run("{{.Label}}", row, context).find("Label takes one name"), std::string::npos);
  EXPECT_NE(run("{{.Names \"x\"}}", row, context).find("takes no arguments"), std::string::npos);
}

TEST(Template, SyntaxErrorsNameTheirPlace) {
  EXPECT_EQ(run("{{.Name"), "ERROR: template: 1:1: unclosed action");
  EXPECT_EQ(run("ab\n  {{if .X}}"), "ERROR: template: 2:5: unexpected EOF: {{if}} without {{end}}");
  EXPECT_EQ(run("{{end}}"), "ERROR: template: 1:3: unexpected {{end}}");
  EXPECT_EQ(run("{{nosuch .Name}}"), "ERROR: template: 1:3: function \"nosuch\" not defined");
  EXPECT_EQ(run("{{$x}}"), "ERROR: template: 1:3: undefined variable \"$x\"");
  EXPECT_EQ(run("{{break}}"), "ERROR: template: 1:3: {{break}} outside {{range}}");
  EXPECT_EQ(run("{{\"abc}}"), "ERROR: template: 1:3: unterminated quoted string");
  EXPECT_EQ(run("{{.A | }}"), "ERROR: template: 1:6: missing command after |");
  EXPECT_EQ(run("{{template \"x\"}}"), "ERROR: template: 1:3: {{template}} is not supported");
  EXPECT_EQ(run("{{(.A}}"), "ERROR: template: 1:3: unclosed left paren");
}

TEST(Template, StringLiteralsAndEscapes) {
  EXPECT_EQ(run("{{\"a\\tb\\n\\u00e9\\\"\"}}"), "a\tb\né\"");
  EXPECT_EQ(run("{{`raw\\t`}}"), "raw\\t");
  EXPECT_EQ(run("{{\"}}\"}}"), "}}");
}

TEST(Template, ArgumentsToNonFunctionsAreErrors) {
  EXPECT_NE(run("{{. 1}}").find("can't give argument to non-function ."), std::string::npos);
  EXPECT_NE(run("{{\"x\" | 3}}").find("can't give argument to non-function 3"), std::string::npos);
}

TEST(Template, FieldsOfStringsAreErrors) {
  EXPECT_NE(run("{{.Name.Length}}").find("can't read field Length of string"), std::string::npos);
}

}  // namespace
}  // namespace berth::cli::tmpl
