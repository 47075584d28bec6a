// Running a parsed template on JSON values: Go's text/template semantics, fmt's %v printing and
// the functions docker adds.
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cli/template/detail/tree.h"
#include "cli/template/template.h"

namespace berth::cli::tmpl {
namespace {

using detail::Command;
using detail::Node;
using detail::NodeList;
using detail::Operand;
using detail::Pipeline;
using detail::Pos;
using nlohmann::json;

json no_value() { return json(json::value_t::discarded); }

Error exec_error(Pos pos, std::string_view where, std::string_view message) {
  return Error(ErrorKind::invalid_argument,
               fmt::format("template: {}:{}: <{}>: {}", pos.line, pos.col, where, message));
}

// Go's notion of a value being true: not false, 0, nil, or empty.
bool truth(const json& v) {
  switch (v.type()) {
    case json::value_t::boolean:
      return v.get<bool>();
    case json::value_t::number_integer:
      return v.get<int64_t>() != 0;
    case json::value_t::number_unsigned:
      return v.get<uint64_t>() != 0;
    case json::value_t::number_float:
      return v.get<double>() != 0;
    case json::value_t::string:
      return !v.get_ref<const std::string&>().empty();
    case json::value_t::array:
    case json::value_t::object:
      return !v.empty();
    default:
      return false;
  }
}

// Go's %v (and strconv's 'g' with the shortest precision) for a float64.
std::string go_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  if (d == 0) return std::signbit(d) ? "-0" : "0";
  std::string e = fmt::format("{:e}", d);  // only to learn the exponent
  std::string shortest = fmt::format("{}", d);
  int exponent = std::stoi(e.substr(e.find('e') + 1));
  if (exponent < -4 || exponent >= 6) {  // strconv's 'g' at the shortest precision
    // d.ddde±XX with at least two exponent digits.
    std::string digits;
    for (char c : shortest) {
      if (c == 'e') break;
      if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
    }
    digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size()));
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    std::string mantissa = digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "");
    return fmt::format("{}{}e{}{:02}", d < 0 ? "-" : "", mantissa, exponent < 0 ? '-' : '+',
                       std::abs(exponent));
  }
  if (shortest.find('e') != std::string::npos)
    return fmt::format("{:f}", d);  // not reached for sane values
  return shortest;
}

// A Go struct marshals to keys that are identifiers, some of them exported (upper case).
bool is_struct_like(const json& object) {
  bool exported = false;
  for (const auto& [key, value] : object.items()) {
    (void)value;
    if (key.empty() || !std::isalpha(static_cast<unsigned char>(key[0]))) return false;
    for (char c : key)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    exported = exported || std::isupper(static_cast<unsigned char>(key[0]));
  }
  return exported;
}

std::string lower_ascii(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string upper_ascii(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// strings.Title: the first letter of each word upper-cased (words separated by what is not a
// letter, digit, underscore or non-ASCII).
std::string title(std::string s) {
  bool previous_separates = true;
  for (auto& c : s) {
    auto u = static_cast<unsigned char>(c);
    if (previous_separates) c = static_cast<char>(std::toupper(u));
    previous_separates = u < 0x80 && !std::isalnum(u) && u != '_';
  }
  return s;
}

size_t runes(std::string_view s) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}

std::string json_text(const json& v) {
  if (v.is_discarded()) return "null";
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string go_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (ch < 0x20 || ch == 0x7F)
          out += fmt::format("\\x{:02x}", ch);
        else
          out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

// Go's type name for a JSON value, for messages like "%!d(string=abc)".
std::string go_type(const json& v) {
  switch (v.type()) {
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "bool";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "int";
    case json::value_t::number_float:
      return "float64";
    case json::value_t::array:
      return "[]interface {}";
    case json::value_t::object:
      return "map[string]interface {}";
    default:
      return "<nil>";
  }
}

std::string pad_to(std::string text, int width, bool left, char fill = ' ') {
  size_t n = runes(text);
  if (width <= 0 || n >= static_cast<size_t>(width)) return text;
  std::string padding(static_cast<size_t>(width) - n, fill);
  if (left) return text + padding;
  if (fill == '0' && !text.empty() && (text[0] == '-' || text[0] == '+'))
    return text[0] + padding + text.substr(1);
  return padding + text;
}

// fmt.Sprintf for the verbs scripts use: v s q d x X o b c t f F e E g G and %%.
std::string go_sprintf(const std::string& format, const std::vector<json>& args) {
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i >= format.size()) {
      out += "%!(NOVERB)";
      break;
    }
    bool minus = false, plus = false, zero = false, sharp = false, space = false;
    for (; i < format.size(); ++i) {
      char f = format[i];
      if (f == '-')
        minus = true;
      else if (f == '+')
        plus = true;
      else if (f == '0')
        zero = true;
      else if (f == '#')
        sharp = true;
      else if (f == ' ')
        space = true;
      else
        break;
    }
    // Go's fmt refuses a width or precision over 10^6 (%!(BADWIDTH), %!(BADPREC)) rather than
    // overflowing or allocating it.
    constexpr int kMaxWidth = 1'000'000;
    auto number = [&](int& value) {
      bool too_large = false;
      while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) {
        if (value <= kMaxWidth) value = std::max(value, 0) * 10 + (format[i] - '0');
        too_large = too_large || value > kMaxWidth;
        ++i;
      }
      return !too_large;
    };
    int width = -1, precision = -1;
    if (!number(width)) {
      out += "%!(BADWIDTH)";
      width = -1;
    }
    if (i < format.size() && format[i] == '.') {
      precision = 0;
      ++i;
      if (!number(precision)) {
        out += "%!(BADPREC)";
        precision = -1;
      }
    }
    if (i >= format.size()) {
      out += "%!(NOVERB)";
      break;
    }
    char verb = format[i];
    if (verb == '%') {
      out += '%';
      continue;
    }
    if (next >= args.size()) {
      out += fmt::format("%!{}(MISSING)", verb);
      continue;
    }
    const json& v = args[next++];
    std::string text;
    bool numeric = v.is_number();
    auto bad = [&] { return fmt::format("%!{}({}={})", verb, go_type(v), to_text(v)); };
    switch (verb) {
      case 'v':
        text = sharp && v.is_string() ? go_quote(v.get<std::string>()) : to_text(v);
        break;
      case 's':
        text = to_text(v);
        if (precision >= 0 && v.is_string()) {
          // At most `precision` runes.
          size_t bytes = 0, count = 0;
          while (bytes < text.size() && count < static_cast<size_t>(precision)) {
            ++bytes;
            while (bytes < text.size() && (static_cast<unsigned char>(text[bytes]) & 0xC0) == 0x80)
              ++bytes;
            ++count;
          }
          text.resize(bytes);
        }
        break;
      case 'q':
        if (v.is_string())
          text = go_quote(v.get<std::string>());
        else if (v.is_number_integer())
          text = "'" + std::string(1, static_cast<char>(v.get<int64_t>())) + "'";
        else
          text = bad();
        break;
      case 't':
        text = v.is_boolean() ? to_text(v) : bad();
        break;
      case 'd':
      case 'x':
      case 'X':
      case 'o':
      case 'b':
      case 'c':
        if (v.is_number_integer()) {
          int64_t n = v.get<int64_t>();
          uint64_t magnitude = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
          std::string digits;
          if (verb == 'd')
            digits = fmt::format("{}", magnitude);
          else if (verb == 'x')
            digits = fmt::format("{:x}", magnitude);
          else if (verb == 'X')
            digits = fmt::format("{:X}", magnitude);
          else if (verb == 'o')
            digits = fmt::format("{:o}", magnitude);
          else if (verb == 'b')
            digits = fmt::format("{:b}", magnitude);
          if (verb == 'c') {
            text = std::string(1, static_cast<char>(n));
          } else {
            if (sharp && verb == 'x') digits = "0x" + digits;
            if (sharp && verb == 'X') digits = "0X" + digits;
            text = (n < 0 ? "-" : plus ? "+" : space ? " " : "") + digits;
          }
        } else if (v.is_string() && (verb == 'x' || verb == 'X')) {
          for (unsigned char ch : v.get<std::string>())
            text += verb == 'x' ? fmt::format("{:02x}", ch) : fmt::format("{:02X}", ch);
          numeric = false;
        } else {
          text = bad();
          numeric = false;
        }
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
        if (v.is_number()) {
          double d = v.get<double>();
          int p = precision >= 0 ? precision : 6;
          if (verb == 'f' || verb == 'F')
            text = fmt::format("{:.{}f}", d, p);
          else if (verb == 'e')
            text = fmt::format("{:.{}e}", d, p);
          else if (verb == 'E')
            text = fmt::format("{:.{}E}", d, p);
          else
            text = precision >= 0 ? fmt::format("{:.{}g}", d, precision) : go_float(d);
          if (verb == 'G') text = upper_ascii(text);
          if (plus && d >= 0) text = "+" + text;
        } else {
          text = bad();
          numeric = false;
        }
        break;
      default:
        text = bad();
        numeric = false;
    }
    out += pad_to(text, width, minus, zero && !minus && numeric ? '0' : ' ');
  }
  if (next < args.size()) {
    out += "%!(EXTRA ";
    for (size_t k = next; k < args.size(); ++k)
      out += (k > next ? ", " : "") + go_type(args[k]) + "=" + to_text(args[k]);
    out += ")";
  }
  return out;
}

std::string sprint(const std::vector<json>& args, bool line) {
  std::string out;
  for (size_t k = 0; k < args.size(); ++k) {
    // Sprint puts spaces between operands when neither is a string; Sprintln always.
    if (k > 0 && (line || (!args[k - 1].is_string() && !args[k].is_string()))) out += ' ';
    out += to_text(args[k]);
  }
  return line ? out + "\n" : out;
}

std::optional<int64_t> integer(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (!v.is_number_float()) return std::nullopt;
  // Whole and within int64 (2^63 is exact as a double): converting anything else is undefined.
  const double d = v.get<double>();
  if (std::floor(d) == d && d >= -0x1p63 && d < 0x1p63) return static_cast<int64_t>(d);
  return std::nullopt;
}

// Go's eq/lt on basic values. Numbers compare as numbers whatever their type.
Result<int> compare(const json& a, const json& b, std::string_view fn) {
  auto incompatible = [&] {
    return Error(ErrorKind::invalid_argument,
                 fmt::format("{}: incompatible types for comparison ({} and {})", fn, go_type(a),
                             go_type(b)));
  };
  if (a.is_number() && b.is_number()) {
    if (a.is_number_float() || b.is_number_float()) {
      double x = a.get<double>(), y = b.get<double>();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    int64_t x = a.get<int64_t>(), y = b.get<int64_t>();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_boolean() && b.is_boolean()) {
    if (fn != "eq" && fn != "ne")
      return Error(ErrorKind::invalid_argument, fmt::format("{}: invalid type for comparison", fn));
    return a.get<bool>() == b.get<bool>() ? 0 : 1;
  }
  bool a_nil = a.is_null() || a.is_discarded(), b_nil = b.is_null() || b.is_discarded();
  if ((a_nil || b_nil) && (fn == "eq" || fn == "ne")) return a_nil && b_nil ? 0 : 1;
  if (a.is_structured() || b.is_structured())
    return Error(ErrorKind::invalid_argument,
                 fmt::format("{}: non-comparable type {}", fn, go_type(a.is_structured() ? a : b)));
  return incompatible();
}

using Function = Result<json> (*)(std::vector<json>& args, bool header);

Result<json> want(const std::vector<json>& args, size_t n, std::string_view fn) {
  if (args.size() != n)
    return Error(ErrorKind::invalid_argument,
                 fmt::format("wrong number of args for {}: want {} got {}", fn, n, args.size()));
  return json();
}

Result<std::string> string_arg(const json& v, std::string_view fn) {
  if (v.is_string()) return v.get<std::string>();
  return Error(ErrorKind::invalid_argument,
               fmt::format("{}: expected a string, got {} {}", fn, go_type(v), to_text(v)));
}

Result<int64_t> int_arg(const json& v, std::string_view fn) {
  if (auto n = integer(v)) return *n;
  return Error(ErrorKind::invalid_argument,
               fmt::format("{}: expected an integer, got {} {}", fn, go_type(v), to_text(v)));
}

// A text function in a table's header returns the column name it is given (docker's
// HeaderFunctions).
#define BERTH_HEADER_PASSTHROUGH(fn)                            \
  if (header) {                                                 \
    if (args.empty()) return want(args, 1, fn);                 \
    BERTH_TRY(auto passthrough_, string_arg(args.front(), fn)); \
    return json(passthrough_);                                  \
  }

Result<json> fn_len(std::vector<json>& args, bool) {
  BERTH_TRY_VOID(want(args, 1, "len"));
  const json& v = args[0];
  if (v.is_string()) return json(v.get_ref<const std::string&>().size());
  if (v.is_structured()) return json(v.size());
  return Error(ErrorKind::invalid_argument, fmt::format("len of {}", go_type(v)));
}

Result<json> fn_index(std::vector<json>& args, bool) {
  if (args.empty()) return want(args, 1, "index");
  json v = args[0];
  for (size_t k = 1; k < args.size(); ++k) {
    const json& key = args[k];
    if (v.is_array() || v.is_string()) {
      auto n = integer(key);
      if (!n)
        return Error(ErrorKind::invalid_argument,
                     fmt::format("index: cannot index slice with {}", go_type(key)));
      size_t size = v.is_string() ? v.get_ref<const std::string&>().size() : v.size();
      if (*n < 0 || static_cast<size_t>(*n) >= size)
        return Error(ErrorKind::invalid_argument, fmt::format("index: index out of range: {}", *n));
      v = v.is_string() ? json(static_cast<unsigned char>(v.get_ref<const std::string&>()[*n]))
                        : json(v[*n]);
    } else if (v.is_object()) {
      if (!key.is_string())
        return Error(ErrorKind::invalid_argument,
                     fmt::format("index: cannot index map with {}", go_type(key)));
      auto it = v.find(key.get<std::string>());
      if (it != v.end()) {
        v = *it;
        continue;
      }
      // A map of strings (labels) gives "" for a missing key, as Go's map[string]string does.
      bool strings = std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); });
      v = strings ? json("") : no_value();
    } else if (v.is_null() || v.is_discarded()) {
      return Error(ErrorKind::invalid_argument, "index of untyped nil");
    } else {
      return Error(ErrorKind::invalid_argument,
                   fmt::format("index: can't index item of type {}", go_type(v)));
    }
  }
  return v;
}

Result<json> fn_slice(std::vector<json>& args, bool) {
  if (args.empty() || args.size() > 3) return want(args, 2, "slice");
  const json& v = args[0];
  if (!v.is_string() && !v.is_array())
    return Error(ErrorKind::invalid_argument,
                 fmt::format("slice: can't slice item of type {}", go_type(v)));
  size_t size = v.is_string() ? v.get_ref<const std::string&>().size() : v.size();
  int64_t from = 0, to = static_cast<int64_t>(size);
  if (args.size() > 1) {
    BERTH_TRY(from, int_arg(args[1], "slice"));
  }
  if (args.size() > 2) {
    BERTH_TRY(to, int_arg(args[2], "slice"));
  }
  if (from < 0 || to < from || static_cast<size_t>(to) > size)
    return Error(ErrorKind::invalid_argument,
                 fmt::format("slice: index out of range: {}:{}", from, to));
  if (v.is_string()) return json(v.get_ref<const std::string&>().substr(from, to - from));
  return json(std::vector<json>(v.begin() + from, v.begin() + to));
}

Result<json> fn_not(std::vector<json>& args, bool) {
  BERTH_TRY_VOID(want(args, 1, "not"));
  return json(!truth(args[0]));
}

template <int kWant>
Result<json> fn_compare(std::vector<json>& args, std::string_view name) {
  BERTH_TRY_VOID(want(args, 2, name));
  BERTH_TRY(int c, compare(args[0], args[1], name));
  if (kWant == -2) return json(c <= 0);
  if (kWant == 2) return json(c >= 0);
  return json(c == kWant);
}

Result<json> fn_eq(std::vector<json>& args, bool) {
  if (args.size() < 2)
    return Error(ErrorKind::invalid_argument,
                 fmt::format("wrong number of args for eq: want at least 2 got {}", args.size()));
  for (size_t k = 1; k < args.size(); ++k) {
    BERTH_TRY(int c, compare(args[0], args[k], "eq"));
    if (c == 0) return json(true);
  }
  return json(false);
}

Result<json> fn_ne(std::vector<json>& args, bool) {
  BERTH_TRY_VOID(want(args, 2, "ne"));
  BERTH_TRY(int c, compare(args[0], args[1], "ne"));
  return json(c != 0);
}
Result<json> fn_lt(std::vector<json>& args, bool) { return fn_compare<-1>(args, "lt"); }
Result<json> fn_le(std::vector<json>& args, bool) { return fn_compare<-2>(args, "le"); }
Result<json> fn_gt(std::vector<json>& args, bool) { return fn_compare<1>(args, "gt"); }
Result<json> fn_ge(std::vector<json>& args, bool) { return fn_compare<2>(args, "ge"); }

Result<json> fn_print(std::vector<json>& args, bool) { return json(sprint(args, false)); }
Result<json> fn_println(std::vector<json>& args, bool) { return json(sprint(args, true)); }
Result<json> fn_printf(std::vector<json>& args, bool) {
  if (args.empty()) return want(args, 1, "printf");
  BERTH_TRY(auto format, string_arg(args[0], "printf"));
  return json(go_sprintf(format, std::vector<json>(args.begin() + 1, args.end())));
}

Result<json> fn_json(std::vector<json>& args, bool header) {
  BERTH_HEADER_PASSTHROUGH("json");
  BERTH_TRY_VOID(want(args, 1, "json"));
  return json(json_text(args[0]));
}

Result<json> fn_split(std::vector<json>& args, bool header) {
  BERTH_HEADER_PASSTHROUGH("split");
  BERTH_TRY_VOID(want(args, 2, "split"));
  BERTH_TRY(auto s, string_arg(args[0], "split"));
  BERTH_TRY(auto sep, string_arg(args[1], "split"));
  json out = json::array();
  if (sep.empty()) {  // Go splits into UTF-8 characters
    for (size_t k = 0; k < s.size();) {
      size_t n = 1;
      while (k + n < s.size() && (static_cast<unsigned char>(s[k + n]) & 0xC0) == 0x80) ++n;
      out.push_back(s.substr(k, n));
      k += n;
    }
    return out;
  }
  for (size_t from = 0;;) {
    size_t at = s.find(sep, from);
    out.push_back(s.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) break;
    from = at + sep.size();
  }
  return out;
}

Result<json> fn_join(std::vector<json>& args, bool header) {
  BERTH_HEADER_PASSTHROUGH("join");
  BERTH_TRY_VOID(want(args, 2, "join"));
  BERTH_TRY(auto sep, string_arg(args[1], "join"));
  if (args[0].is_null()) return json("");
  if (!args[0].is_array())
    return Error(ErrorKind::invalid_argument, fmt::format("join: expected a list, got {} {}",
                                                          go_type(args[0]), to_text(args[0])));
  std::string out;
  for (size_t k = 0; k < args[0].size(); ++k) out += (k ? sep : "") + to_text(args[0][k]);
  return json(out);
}

// lower, upper, title: one string in, one out.
Result<json> on_string(std::vector<json>& args, bool header, const char* fn,
                       std::string (*apply)(std::string)) {
  BERTH_HEADER_PASSTHROUGH(fn);
  BERTH_TRY_VOID(want(args, 1, fn));
  BERTH_TRY(auto s, string_arg(args[0], fn));
  return json(apply(std::move(s)));
}

Result<json> fn_truncate(std::vector<json>& args, bool header) {
  BERTH_HEADER_PASSTHROUGH("truncate");
  BERTH_TRY_VOID(want(args, 2, "truncate"));
  BERTH_TRY(auto s, string_arg(args[0], "truncate"));
  BERTH_TRY(int64_t n, int_arg(args[1], "truncate"));
  if (n < 0) return Error(ErrorKind::invalid_argument, "truncate: negative length");
  return json(static_cast<size_t>(n) < s.size() ? s.substr(0, n) : s);  // bytes, as docker's
}

Result<json> fn_pad(std::vector<json>& args, bool) {
  BERTH_TRY_VOID(want(args, 3, "pad"));
  BERTH_TRY(auto s, string_arg(args[0], "pad"));
  BERTH_TRY(int64_t before, int_arg(args[1], "pad"));
  BERTH_TRY(int64_t after, int_arg(args[2], "pad"));
  if (s.empty()) return json(s);
  // Go would try to allocate it; a width no terminal shows is an error, not an abort.
  constexpr int64_t kMaxPad = 1 << 20;
  if (before > kMaxPad || after > kMaxPad)
    return Error(ErrorKind::invalid_argument, fmt::format("pad: width over {}", kMaxPad));
  return json(std::string(std::max<int64_t>(before, 0), ' ') + s +
              std::string(std::max<int64_t>(after, 0), ' '));
}

#undef BERTH_HEADER_PASSTHROUGH

// and/or are evaluated lazily by the executor; they are listed for the parser.
const std::map<std::string, Function, std::less<>> kFunctions = {
    {"and", nullptr},
    {"or", nullptr},
    {"not", fn_not},
    {"len", fn_len},
    {"index", fn_index},
    {"slice", fn_slice},
    {"eq", fn_eq},
    {"ne", fn_ne},
    {"lt", fn_lt},
    {"le", fn_le},
    {"gt", fn_gt},
    {"ge", fn_ge},
    {"print", fn_print},
    {"printf", fn_printf},
    {"println", fn_println},
    {"json", fn_json},
    {"split", fn_split},
    {"join", fn_join},
    {"lower", [](std::vector<json>& a, bool h) { return on_string(a, h, "lower", lower_ascii); }},
    {"upper", [](std::vector<json>& a, bool h) { return on_string(a, h, "upper", upper_ascii); }},
    {"title", [](std::vector<json>& a, bool h) { return on_string(a, h, "title", title); }},
    {"truncate", fn_truncate},
    {"pad", fn_pad},
};

enum class Flow { normal, break_, continue_ };

class Executor {
 public:
  Executor(const json& root, const Context& context) : root_(root), context_(context) {}

  Result<std::string> run(const NodeList& list) {
    vars_.push_back({"$", root_});
    BERTH_TRY(auto flow, walk(root_, list));
    (void)flow;
    return std::move(out_);
  }

 private:
  Result<Flow> walk(const json& dot, const NodeList& list) {
    for (const auto& node : list) {
      BERTH_TRY(Flow flow, walk_node(dot, node));
      if (flow != Flow::normal) return flow;
    }
    return Flow::normal;
  }

  static std::string where(const Node& node) {
    if (!node.pipe) return "text";
    return node.kind == Node::Kind::range ? "range " + node.pipe->text : node.pipe->text;
  }

  std::string too_many_steps() const {
    return fmt::format("stopped after {} steps (ranges over long or nested lists)",
                       context_.max_steps);
  }

  Result<void> emit(Pos pos, std::string_view where, std::string_view text) {
    if (out_.size() + text.size() > context_.max_text)
      return exec_error(pos, where, fmt::format("output over {} bytes", context_.max_text));
    out_ += text;
    return {};
  }

  Result<Flow> walk_node(const json& dot, const Node& node) {
    if (++steps_ > context_.max_steps) return exec_error(node.pos, where(node), too_many_steps());
    switch (node.kind) {
      case Node::Kind::text:
        BERTH_TRY_VOID(emit(node.pos, "text", node.text));
        return Flow::normal;
      case Node::Kind::action: {
        BERTH_TRY(json value, pipeline(dot, *node.pipe));
        if (node.pipe->decl.empty()) BERTH_TRY_VOID(emit(node.pos, node.pipe->text, to_text(value)));
        return Flow::normal;
      }
      case Node::Kind::break_:
        return Flow::break_;
      case Node::Kind::continue_:
        return Flow::continue_;
      case Node::Kind::if_:
      case Node::Kind::with: {
        size_t scope = vars_.size();
        BERTH_TRY(json value, pipeline(dot, *node.pipe));
        Result<Flow> flow = Flow::normal;
        if (truth(value))
          flow = walk(node.kind == Node::Kind::with ? value : dot, node.list);
        else
          flow = walk(dot, node.else_list);
        vars_.resize(scope);
        return flow;
      }
      case Node::Kind::range:
        return range(dot, node);
    }
    return Flow::normal;
  }

  Result<Flow> range(const json& dot, const Node& node) {
    size_t scope = vars_.size();
    // The declarations name the key and element, not the pipeline's value.
    Pipeline undeclared = *node.pipe;
    undeclared.decl.clear();
    BERTH_TRY(json value, pipeline(dot, undeclared));
    const auto& decl = node.pipe->decl;
    auto each = [&](const json& key, const json& element) -> Result<Flow> {
      vars_.resize(scope);
      if (decl.size() == 1) vars_.push_back({decl[0], element});
      if (decl.size() == 2) {
        vars_.push_back({decl[0], key});
        vars_.push_back({decl[1], element});
      }
      return walk(element, node.list);
    };
    bool any = false;
    auto step = [&](const json& key, const json& element) -> Result<bool> {
      any = true;
      BERTH_TRY(Flow flow, each(key, element));
      return flow != Flow::break_;
    };
    if (value.is_array()) {
      for (size_t k = 0; k < value.size(); ++k) {
        BERTH_TRY(bool go_on, step(json(k), value[k]));
        if (!go_on) break;
      }
    } else if (value.is_object()) {
      for (const auto& [key, element] : value.items()) {  // sorted keys, as Go ranges over maps
        BERTH_TRY(bool go_on, step(json(key), element));
        if (!go_on) break;
      }
    } else if (value.is_number_integer()) {
      // Go would spin for ever on {{range 777777777777776}}; the step budget stops it here.
      if (value.get<int64_t>() > static_cast<int64_t>(context_.max_steps))
        return exec_error(node.pos, where(node), too_many_steps());
      for (int64_t k = 0; k < value.get<int64_t>(); ++k) {
        BERTH_TRY(bool go_on, step(json(k), json(k)));
        if (!go_on) break;
      }
    } else if (!value.is_null() && !value.is_discarded()) {
      return exec_error(node.pos, node.pipe->text,
                        fmt::format("range can't iterate over {}", to_text(value)));
    }
    vars_.resize(scope);
    if (!any) {
      BERTH_TRY(Flow flow, walk(dot, node.else_list));
      vars_.resize(scope);
      return flow == Flow::break_ || flow == Flow::continue_ ? Flow::normal : flow;
    }
    return Flow::normal;
  }

  Result<json> pipeline(const json& dot, const Pipeline& p) {
    json value;
    bool has_final = false;
    for (const auto& command : p.commands) {
      BERTH_TRY(value, this->command(dot, command, has_final ? &value : nullptr));
      has_final = true;
    }
    for (const auto& name : p.decl) {
      if (p.assign) {
        for (auto it = vars_.rbegin(); it != vars_.rend(); ++it)
          if (it->first == name) {
            it->second = value;
            break;
          }
      } else {
        vars_.push_back({name, value});
      }
    }
    return value;
  }

  Result<json> command(const json& dot, const Command& c, const json* final) {
    const Operand& first = c.args.front();
    std::vector<const Operand*> rest;
    for (size_t k = 1; k < c.args.size(); ++k) rest.push_back(&c.args[k]);
    switch (first.kind) {
      case Operand::Kind::function:
        return call(dot, first, rest, final);
      case Operand::Kind::field:
        return chain(dot, dot, &dot == &root_, first, rest, final);
      case Operand::Kind::variable: {
        const json& start = variable(first.name);
        return chain(dot, start, first.name == "$", first, rest, final);
      }
      case Operand::Kind::pipeline: {
        BERTH_TRY(json start, pipeline(dot, *first.pipe));
        return chain(dot, start, false, first, rest, final);
      }
      default:
        if (!rest.empty() || final)
          return exec_error(first.pos, first.text,
                            fmt::format("can't give argument to non-function {}", first.text));
        return first.kind == Operand::Kind::dot ? dot : first.literal;
    }
  }

  Result<json> argument(const json& dot, const Operand& o) {
    return command(dot, Command{{o}, o.pos}, nullptr);
  }

  const json& variable(const std::string& name) {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it)
      if (it->first == name) return it->second;
    return root_;  // the parser rejects undefined variables
  }

  Result<json> call(const json& dot, const Operand& fn, const std::vector<const Operand*>& operands,
                    const json* final) {
    if (fn.name == "and" || fn.name == "or") {
      if (operands.empty() && !final)
        return exec_error(
            fn.pos, fn.name,
            fmt::format("wrong number of args for {}: want at least 1 got 0", fn.name));
      json value;
      for (const auto* o : operands) {
        BERTH_TRY(value, argument(dot, *o));
        if (truth(value) != (fn.name == "and")) return value;
      }
      return final ? *final : value;
    }
    std::vector<json> args;
    for (const auto* o : operands) {
      BERTH_TRY(json v, argument(dot, *o));
      args.push_back(std::move(v));
    }
    if (final) args.push_back(*final);
    auto r = kFunctions.at(fn.name)(args, context_.header);
    auto where = [&] {
      std::string text = fn.name;
      for (const auto* o : operands) text += " " + o->text;
      return text;
    };
    if (!r) return exec_error(fn.pos, where(), r.error().message());
    // A value that doubles on each iteration ({{$x = printf "%s%s" $x $x}}) is stopped here,
    // before it is used; split's pieces count as bytes, each costing at least that.
    if ((r->is_string() && r->get_ref<const std::string&>().size() > context_.max_text) ||
        (r->is_array() && r->size() > context_.max_text / 16))
      return exec_error(fn.pos, where(), fmt::format("value over {} bytes", context_.max_text));
    return r;
  }

  // Reads the operand's fields from `start`; the last one gets the arguments (a method).
  Result<json> chain(const json& dot, const json& start, bool start_is_root, const Operand& o,
                     const std::vector<const Operand*>& operands, const json* final) {
    if (o.chain.empty()) {
      if (!operands.empty() || final)
        return exec_error(o.pos, o.text,
                          fmt::format("can't give argument to non-function {}", o.text));
      return start;
    }
    json receiver = start;
    std::string path;
    for (size_t k = 0; k < o.chain.size(); ++k) {
      bool last = k + 1 == o.chain.size();
      bool root = k == 0 && start_is_root;
      std::vector<json> args;
      if (last) {
        for (const auto* arg : operands) {
          BERTH_TRY(json v, argument(dot, *arg));
          args.push_back(std::move(v));
        }
        if (final) args.push_back(*final);
      }
      BERTH_TRY(receiver, field(receiver, root, o.chain[k], path, args, o));
      path += "." + o.chain[k];
    }
    return receiver;
  }

  Result<json> field(const json& receiver, bool root, const std::string& name,
                     const std::string& path, const std::vector<json>& args, const Operand& o) {
    if (root) {
      if (auto m = context_.methods.find(name); m != context_.methods.end()) {
        auto r = m->second(args);
        if (!r) return exec_error(o.pos, o.text, r.error().message());
        return r;
      }
    }
    auto takes_no_arguments = [&]() -> Result<json> {
      return exec_error(
          o.pos, o.text,
          fmt::format("{}.{} is a field, not a method: it takes no arguments", path, name));
    };
    if (receiver.is_object()) {
      auto it = receiver.find(name);
      bool structure = root || is_struct_like(receiver);
      if (it == receiver.end() && structure) {
        // docker's structs answer to their Go names; the JSON may spell them otherwise.
        std::string wanted = lower_ascii(name);
        for (auto candidate = receiver.begin(); candidate != receiver.end(); ++candidate)
          if (lower_ascii(candidate.key()) == wanted) it = candidate;
      }
      if (it != receiver.end()) {
        if (!args.empty()) return takes_no_arguments();
        return *it;
      }
      if (!structure && !root) {
        if (!args.empty()) return takes_no_arguments();
        return no_value();
      }
      std::vector<std::string> fields =
          root && !context_.fields.empty() ? context_.fields : std::vector<std::string>{};
      if (fields.empty()) {
        for (const auto& [key, value] : receiver.items()) fields.push_back(key);
        if (root)
          for (const auto& [method, fn] : context_.methods) fields.push_back(method);
      }
      std::string owner =
          root ? (context_.name.empty() ? "." : context_.name) : path.substr(path.rfind('.') + 1);
      std::string list;
      for (const auto& f : fields) list += (list.empty() ? "" : ", ") + f;
      return Error(ErrorKind::invalid_argument,
                   fmt::format("template: no field '{}'{} ({} has: {})", name,
                               root ? "" : " in " + path, owner, list));
    }
    if (receiver.is_null() || receiver.is_discarded()) return no_value();
    return exec_error(
        o.pos, o.text,
        fmt::format("can't read field {} of {} {}", name, go_type(receiver), to_text(receiver)));
  }

  const json& root_;
  const Context& context_;
  std::vector<std::pair<std::string, json>> vars_;
  std::string out_;
  size_t steps_ = 0;
};

}  // namespace

bool detail::is_function(const std::string& name) { return kFunctions.count(name) > 0; }

std::string to_text(const json& v) {
  switch (v.type()) {
    case json::value_t::string:
      return v.get<std::string>();
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
      return std::to_string(v.get<int64_t>());
    case json::value_t::number_unsigned:
      return std::to_string(v.get<uint64_t>());
    case json::value_t::number_float:
      return go_float(v.get<double>());
    case json::value_t::null:
      return "<nil>";
    case json::value_t::discarded:
      return "<no value>";
    case json::value_t::array: {
      std::string out = "[";
      for (size_t k = 0; k < v.size(); ++k) out += (k ? " " : "") + to_text(v[k]);
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "map[";
      bool first = true;
      for (const auto& [key, value] : v.items()) {
        out += (first ? "" : " ") + key + ":" + to_text(value);
        first = false;
      }
      return out + "]";
    }
    default:
      return "";
  }
}

Result<std::string> Template::execute(const json& dot, const Context& context) const {
  return Executor(dot, context).run(tree_->root);
}

}  // namespace berth::cli::tmpl
