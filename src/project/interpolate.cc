// Variables: Compose's ${VAR...} forms, JSON project files' $name, .env files, project names.
#include <cctype>

#include "project/load.h"

namespace berth::project {
namespace {

bool name_char(char c, bool first) {
  return c == '_' || std::isalpha(static_cast<unsigned char>(c)) ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// The end of a ${...} starting at `open` (the '{'), honouring nested ${...} in defaults.
size_t closing_brace(std::string_view text, size_t open) {
  int depth = 0;
  for (size_t i = open; i < text.size(); ++i) {
    if (text[i] == '{')
      ++depth;
    else if (text[i] == '}' && --depth == 0)
      return i;
  }
  return std::string_view::npos;
}

}  // namespace

Result<std::string> interpolate(std::string_view text,
                                const std::map<std::string, std::string>& vars,
                                std::string_view where) {
  std::string out;
  auto lookup = [&](const std::string& name) -> const std::string* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : &it->second;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '$') {
      out += c;
      continue;
    }
    if (i + 1 >= text.size()) {
      out += '$';
      continue;
    }
    char next = text[i + 1];
    if (next == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (name_char(next, true)) {
      size_t end = i + 1;
      while (end < text.size() && name_char(text[end], false)) ++end;
      std::string name(text.substr(i + 1, end - i - 1));
      if (const auto* v = lookup(name)) out += *v;
      i = end - 1;
      continue;
    }
    if (next != '{') {
      return Error::make(ErrorKind::invalid_argument,
                         "{}: \"{}\": invalid interpolation format (use $$ for a dollar)", where,
                         text);
    }
    size_t close = closing_brace(text, i + 1);
    if (close == std::string_view::npos)
      return Error::make(ErrorKind::invalid_argument, "{}: \"{}\": '${{' without its '}}'", where,
                         text);
    std::string_view body = text.substr(i + 2, close - i - 2);
    size_t n = 0;
    while (n < body.size() && name_char(body[n], n == 0)) ++n;
    std::string name(body.substr(0, n));
    std::string_view op = body.substr(n);
    if (name.empty())
      return Error::make(ErrorKind::invalid_argument, "{}: \"{}\": invalid interpolation format",
                         where, text);
    const std::string* value = lookup(name);
    bool set = value != nullptr, non_empty = set && !value->empty();
    if (op.empty()) {
      if (set) out += *value;
    } else {
      bool colon = op[0] == ':';
      std::string_view rest = op.substr(colon ? 1 : 0);
      if (rest.empty())
        return Error::make(ErrorKind::invalid_argument, "{}: \"{}\": invalid interpolation format",
                           where, text);
      char kind = rest[0];
      std::string_view arg = rest.substr(1);
      bool present = colon ? non_empty : set;
      if (kind == '-') {
        if (present) {
          out += *value;
        } else {
          BERTH_TRY(auto d, interpolate(arg, vars, where));
          out += d;
        }
      } else if (kind == '?') {
        if (!present) {
          BERTH_TRY(auto msg, interpolate(arg, vars, where));
          return Error::make(ErrorKind::invalid_argument, "{}: required variable {} is {}: {}",
                             where, name, set ? "empty" : "missing",
                             msg.empty() ? "no message" : msg);
        }
        out += *value;
      } else if (kind == '+') {
        if (present) {
          BERTH_TRY(auto d, interpolate(arg, vars, where));
          out += d;
        }
      } else {
        return Error::make(ErrorKind::invalid_argument, "{}: \"{}\": invalid interpolation format",
                           where, text);
      }
    }
    i = close;
  }
  return out;
}

std::string substitute_vars(std::string_view text, const std::map<std::string, std::string>& vars,
                            std::vector<std::string>& unknown) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out += text[i];
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    size_t start = i + 1, end;
    bool braced = text[start] == '{';
    if (braced) ++start;
    end = start;
    while (end < text.size() && name_char(text[end], end == start)) ++end;
    if (end == start || (braced && (end >= text.size() || text[end] != '}'))) {
      out += '$';
      continue;
    }
    std::string name(text.substr(start, end - start));
    if (auto it = vars.find(name); it != vars.end()) {
      out += it->second;
    } else {
      if (std::find(unknown.begin(), unknown.end(), name) == unknown.end()) unknown.push_back(name);
    }
    i = braced ? end : end - 1;
  }
  return out;
}

Result<std::map<std::string, std::string>> parse_env_file(std::string_view text,
                                                          std::string_view file) {
  std::map<std::string, std::string> out;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line(
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    line = line.substr(start);
    if (line.starts_with("export ")) line = line.substr(7);
    auto eq = line.find('=');
    std::string name = line.substr(0, eq);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    bool valid = !name.empty();
    for (size_t k = 0; k < name.size(); ++k)
      valid &= name_char(name[k], k == 0) || name[k] == '.' || name[k] == '-';
    if (!valid || eq == std::string::npos)
      return Error::make(ErrorKind::invalid_argument, "{}:{}: \"{}\" is not NAME=value", file,
                         line_no, line);
    std::string value = line.substr(eq + 1);
    size_t vstart = value.find_first_not_of(" \t");
    value = vstart == std::string::npos ? "" : value.substr(vstart);
    if (value.size() >= 2 && (value[0] == '"' || value[0] == '\'') && value.back() == value[0]) {
      char q = value[0];
      value = value.substr(1, value.size() - 2);
      if (q == '"') {
        std::string unescaped;
        for (size_t k = 0; k < value.size(); ++k) {
          if (value[k] == '\\' && k + 1 < value.size()) {
            char e = value[++k];
            unescaped += e == 'n' ? '\n' : e == 't' ? '\t' : e;
          } else {
            unescaped += value[k];
          }
        }
        value = unescaped;
      }
    } else if (auto hash = value.find(" #"); hash != std::string::npos) {
      value = value.substr(0, hash);
      while (!value.empty() && value.back() == ' ') value.pop_back();
    }
    out[name] = value;
  }
  return out;
}

std::string normalise_project_name(std::string_view text) {
  std::string out;
  for (char c : text) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (std::isalnum(static_cast<unsigned char>(l)) || ((l == '_' || l == '-') && !out.empty()))
      out += l;
  }
  return out;
}

}  // namespace berth::project
