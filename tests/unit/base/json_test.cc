#include "base/json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace berth {
namespace {

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(BoundedJson, NestingUpToTheLimitParsesAndOneLevelMoreIsMalformed) {
  EXPECT_TRUE(parse_json(nested(kMaxJsonDepth), false).is_array());
  EXPECT_TRUE(parse_json(nested(kMaxJsonDepth + 1), false).is_discarded());
  EXPECT_EQ(json_too_deep_at(nested(kMaxJsonDepth + 1)), kMaxJsonDepth);
  try {
    (void)parse_json(R"({"a": )" + nested(200000) + "}");
    FAIL() << "no exception";
  } catch (const nlohmann::json::parse_error& e) {
    EXPECT_EQ(e.id, 101);
    EXPECT_EQ(e.byte, 6 + kMaxJsonDepth);  // 1-based: the '[' at offset 6 + 511
    EXPECT_NE(std::string(e.what()).find("nested more than 512 deep"), std::string::npos) << e.what();
  }
}

TEST(BoundedJson, BracketsInStringsDoNotCount) {
  const std::string deep_text = "\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"";
  EXPECT_EQ(parse_json("[" + deep_text + "]", false), nlohmann::json::array({deep_text.substr(1, deep_text.size() - 2).replace(1000, 2, "\"")}));
  EXPECT_EQ(json_too_deep_at(R"({"a": "]]]]", "b": [[1]]})", 3), std::string::npos);
  EXPECT_EQ(json_too_deep_at(R"({"a": "]]]]", "b": [[1]]})", 2), 20u);
  // Malformed text stays malformed: nlohmann's own errors are unchanged.
  EXPECT_TRUE(parse_json("[1,", false).is_discarded());
  EXPECT_THROW((void)parse_json("{"), nlohmann::json::parse_error);
}

}  // namespace
}  // namespace berth
