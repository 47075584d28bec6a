// The one place yaml-cpp is called: its exceptions end here.
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <yaml-cpp/depthguard.h>

#include "base/json.h"
#include "project/detail/json.h"

namespace berth::project::detail {

nlohmann::json plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  bool digits = true;
  size_t start = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (start == s.size()) digits = false;
  for (size_t i = start; i < s.size(); ++i)
    digits &= std::isdigit(static_cast<unsigned char>(s[i])) != 0;
  // "0755"-style octal and huge numbers stay strings; so do "80:80" and friends.
  if (digits && !(s.size() - start > 1 && s[start] == '0') && s.size() < 19)
    return std::strtoll(s.c_str(), nullptr, 10);
  if (s.find_first_of(".eE") != std::string::npos &&
      s.find_first_not_of("+-0123456789.eE") == std::string::npos) {
    char* end = nullptr;
    errno = 0;
    double d = std::strtod(s.c_str(), &end);
    if (end && *end == 0 && errno == 0 && std::isdigit(static_cast<unsigned char>(s.back())))
      return d;
  }
  return s;
}

namespace {

nlohmann::json scalar(const YAML::Node& node) {
  if (node.Tag() == "!") return node.Scalar();  // quoted: always a string
  return plain_scalar(node.Scalar());
}

// Aliases are expanded into copies: an alias inside its own anchor is a cycle, and nested aliases
// grow exponentially ("billion laughs"). Both stop at these bounds, far beyond any project.
constexpr int kMaxDepth = 256;
constexpr size_t kMaxValues = 200'000;

struct Walk {
  size_t values = 0;
  bool too_big = false;
};

nlohmann::json convert(const YAML::Node& node, Walk& walk, int depth) {
  if (walk.too_big || ++walk.values > kMaxValues || depth > kMaxDepth) {
    walk.too_big = true;
    return nullptr;
  }
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar(node);
    case YAML::NodeType::Sequence: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : node) {
        out.push_back(convert(item, walk, depth + 1));
        if (walk.too_big) return nullptr;
      }
      return out;
    }
    case YAML::NodeType::Map: {
      nlohmann::json out = nlohmann::json::object();
      nlohmann::json merged = nlohmann::json::object();
      for (const auto& kv : node) {
        // A key that is a mapping or a list (no Compose field is) shows as JSON; YAML::Dump
        // would recurse without end on a cyclic one.
        std::string key =
            kv.first.IsScalar()
                ? kv.first.Scalar()
                : convert(kv.first, walk, depth + 1)
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        if (key == "<<") {
          nlohmann::json base = convert(kv.second, walk, depth + 1);
          if (base.is_object()) base = nlohmann::json::array({base});
          if (base.is_array())
            for (auto it = base.rbegin(); it != base.rend(); ++it)
              if (it->is_object())
                for (auto& [k, v] : it->items()) merged[k] = v;
          continue;
        }
        out[key] = convert(kv.second, walk, depth + 1);
        if (walk.too_big) return nullptr;
      }
      for (auto& [k, v] : merged.items())
        if (!out.contains(k)) out[k] = v;
      return out;
    }
  }
  return nullptr;
}

}  // namespace

Result<nlohmann::json> yaml_to_json(std::string_view text, std::string_view file) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    Walk walk;
    nlohmann::json tree = convert(root, walk, 0);
    if (walk.too_big)
      return Error::make(ErrorKind::invalid_argument,
                         "{}: more than {} values or {} levels once aliases are expanded (an alias "
                         "inside its own anchor?)",
                         file, kMaxValues, kMaxDepth);
    return tree;
  } catch (const YAML::DeepRecursion& e) {  // yaml-cpp's message for it is "bad file"
    return Error::make(ErrorKind::invalid_argument, "{}:{}:{}: nested too deep", file,
                       e.mark.line + 1, e.mark.column + 1);
  } catch (const YAML::Exception& e) {
    return Error::make(ErrorKind::invalid_argument, "{}:{}:{}: {}", file, e.mark.line + 1,
                       e.mark.column + 1, e.msg);
  } catch (const std::exception& e) {
    return Error::make(ErrorKind::invalid_argument, "{}: {}", file, e.what());
  }
}

Result<nlohmann::json> parse_json(std::string_view text, std::string_view file) {
  try {
    return berth::parse_json(text);
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    return Error::make(ErrorKind::invalid_argument, "{}: {}", file, what);
  }
}

}  // namespace berth::project::detail
