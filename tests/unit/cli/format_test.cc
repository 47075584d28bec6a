// docker's --format for lists: table headers, \t and \n, tabwriter alignment
// (cli/template/format.h).
#include "cli/template/format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace berth::cli::tmpl {
namespace {

using nlohmann::json;

const std::vector<ListFormat::Column> kColumns = {
    {"ID", "CONTAINER ID"}, {"Names", "NAMES"}, {"Status", "STATUS"}, {"Label", "LABEL", true}};

std::map<std::string, Method> labels(std::map<std::string, std::string> values) {
  return {{"Label", [values](const std::vector<json>& args) -> Result<json> {
             auto it = args.size() == 1 && args[0].is_string()
                           ? values.find(args[0].get<std::string>())
                           : values.end();
             return json(it == values.end() ? "" : it->second);
           }}};
}

std::string render(std::string_view format, const std::vector<json>& rows) {
  auto f = ListFormat::parse(format, "ps", kColumns);
  if (!f) return "ERROR: " + f.error().message();
  for (const auto& row : rows)
    if (auto added = f->add(row, labels({{"tier", "front"}})); !added)
      return "ERROR: " + added.error().message();
  auto out = f->finish();
  return out ? *out : "ERROR: " + out.error().message();
}

const std::vector<json> kRows = {
    json{{"ID", "4f1c2a"}, {"Names", "web"}, {"Status", "Up 2 seconds"}},
    json{{"ID", "77aa00"}, {"Names", "a-much-longer-name"}, {"Status", "Created"}}};

TEST(ListFormat, TemplatePrintsALinePerRow) {
  EXPECT_EQ(render("{{.Names}} {{.Status}}", kRows),
            "web Up 2 seconds\na-much-longer-name Created\n");
}

TEST(ListFormat, EscapedTabsAndNewlinesBecomeCharacters) {
  EXPECT_EQ(render("{{.Names}}\\t{{.ID}}\\n", kRows),
            "web\t4f1c2a\n\na-much-longer-name\t77aa00\n\n");
}

TEST(ListFormat, TablePrintsHeadersAndAlignsLikeDocker) {
  EXPECT_EQ(render("table {{.ID}}\\t{{.Names}}\\t{{.Status}}", kRows),
            "CONTAINER ID   NAMES                STATUS\n"
            "4f1c2a         web                  Up 2 seconds\n"
            "77aa00         a-much-longer-name   Created\n");
}

TEST(ListFormat, NarrowColumnsAreTenWide) {
  EXPECT_EQ(render("table {{.Names}}\\t{{.Label \"tier\"}}", {kRows[0]}),
            "NAMES     LABEL\n"
            "web       front\n");
}

TEST(ListFormat, TableWithoutRowsPrintsTheHeader) {
  EXPECT_EQ(render("table {{.Names}}\\t{{upper .Status}}", {}), "NAMES     STATUS\n");
}

TEST(ListFormat, UnknownFieldIsAnErrorEvenWithoutRows) {
  const char* want =
      "ERROR: --format '{{.Nmae}}': template: no field 'Nmae' (ps has: ID, Names, Status, Label)";
  EXPECT_EQ(render("{{.Nmae}}", kRows), want);
  EXPECT_EQ(render("{{.Nmae}}", {}), want);
}

TEST(ListFormat, SyntaxErrorsNameTheFormat) {
  EXPECT_EQ(render("table {{.Names", kRows),
            "ERROR: --format 'table {{.Names': template: 1:1: unclosed action");
}

TEST(ListFormat, JsonOfTheRow) {
  EXPECT_EQ(render("{{json .}}", {kRows[0]}),
            R"({"ID":"4f1c2a","Names":"web","Status":"Up 2 seconds"})"
            "\n");
}

TEST(ListFormat, TheBuiltInFormatsAreNotTemplates) {
  EXPECT_FALSE(is_template(""));
  EXPECT_FALSE(is_template("table"));
  EXPECT_FALSE(is_template("json"));
  EXPECT_TRUE(is_template("{{json .}}"));
  EXPECT_TRUE(is_template("table {{.ID}}"));
  EXPECT_FALSE(is_template("yaml"));
}

TEST(AlignColumns, FollowsGoTabwriterBlocks) {
  // A line without a cell in a column ends that column's block (Go's elastic tabstops).
  EXPECT_EQ(align_columns("aaaa\tbbb\td\naa\tb\tdd\na\naa\tcccc\teee\n"),
            "aaaa      bbb       d\n"
            "aa        b         dd\n"
            "a\n"
            "aa        cccc      eee\n");
  EXPECT_EQ(align_columns("a-rather-long-cell\tx\n"), "a-rather-long-cell   x\n");
  EXPECT_EQ(align_columns("é\tx\n"), "é         x\n");
  // Blocks inside blocks: column 2's blocks end where lines have fewer cells.
  EXPECT_EQ(align_columns("a\tb\tc\td\nee\tf\ngggggggggggg\th\ti\tj\tk\nl\tm\tn\n\to\tp\n"),
            "a              b         c         d\n"
            "ee             f\n"
            "gggggggggggg   h         i         j         k\n"
            "l              m         n\n"
            "               o         p\n");
}

TEST(AlignColumns, ALineOfAHundredThousandTabsIsAligned) {
  // Go's tabwriter recurses once per column; a recursion of ours overflowed the stack on this.
  std::string line;
  for (int i = 0; i < 100000; ++i) line += "x\t";
  const std::string out = align_columns(line + "\n" + line + "y\n");
  EXPECT_EQ(out.size(), 2 * 100000 * 10 + 2 + 1);
  EXPECT_EQ(out.substr(0, 20), "x         x         ");
}

}  // namespace
}  // namespace berth::cli::tmpl
