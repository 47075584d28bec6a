// Lexing and parsing of Go's text/template syntax into detail::Tree.
#include <fmt/core.h>

#include <set>

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

bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }
bool is_alpha(char ch) { return std::isalpha(static_cast<unsigned char>(ch)) || ch == '_'; }
bool is_alnum(char ch) { return is_alpha(ch) || std::isdigit(static_cast<unsigned char>(ch)); }
bool is_digit(char ch) { return std::isdigit(static_cast<unsigned char>(ch)) != 0; }

enum class Tok {
  field,
  dot,
  variable,
  ident,
  keyword,
  string,
  number,
  boolean,
  nil,
  lparen,
  rparen,
  pipe,
  declare,
  assign,
  comma
};

struct Token {
  Tok type;
  std::string text;  // as written (for strings: the decoded value)
  Pos pos;
  bool space_before = false;
  nlohmann::json value;  // strings, numbers, booleans
};

// A piece of the template: text, or the tokens of one action.
struct Item {
  bool action = false;
  std::string text;
  std::vector<Token> tokens;
  Pos pos;
};

const std::set<std::string, std::less<>> kKeywords = {
    "if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"};

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Result<std::vector<Item>> items() {
    std::vector<Item> out;
    bool trim_next = false;
    while (i_ < s_.size()) {
      size_t open = s_.find("{{", i_);
      std::string text(
          s_.substr(i_, open == std::string_view::npos ? std::string_view::npos : open - i_));
      if (trim_next) text.erase(0, std::min(text.size(), text.find_first_not_of(" \t\r\n")));
      size_t text_at = i_;
      if (open == std::string_view::npos) {
        if (!text.empty()) out.push_back({false, std::move(text), {}, pos_of(text_at)});
        break;
      }
      i_ = open + 2;
      bool trim_before = s_.size() > i_ + 1 && s_[i_] == '-' && is_space(s_[i_ + 1]);
      if (trim_before) {
        size_t last = text.find_last_not_of(" \t\r\n");
        text.erase(last == std::string::npos ? 0 : last + 1);
        i_ += 2;
      }
      if (!text.empty()) out.push_back({false, std::move(text), {}, pos_of(text_at)});
      Item action{true, "", {}, pos_of(open)};
      BERTH_TRY(trim_next, action_tokens(action.tokens, open));
      if (!action.tokens.empty()) out.push_back(std::move(action));
    }
    return out;
  }

 private:
  // Counted on from the last offset asked for: tokens come in order, and counting from the start
  // for each made lexing quadratic (a 64 KiB template of short actions: 10^9 steps). An error's
  // offset may be earlier: then it counts from the start again.
  Pos pos_of(size_t offset) const {
    offset = std::min(offset, s_.size());
    if (offset < counted_to_) {
      counted_to_ = 0;
      counted_ = Pos{};
    }
    for (; counted_to_ < offset; ++counted_to_) {
      if (s_[counted_to_] == '\n') {
        ++counted_.line;
        counted_.col = 1;
      } else if ((static_cast<unsigned char>(s_[counted_to_]) & 0xC0) != 0x80) {
        ++counted_.col;
      }
    }
    return counted_;
  }

  Error error_at(size_t offset, std::string message) const {
    Pos p = pos_of(offset);
    return Error(ErrorKind::invalid_argument,
                 fmt::format("template: {}:{}: {}", p.line, p.col, message));
  }

  // Reads the tokens up to the closing }}; the result says whether it was -}}.
  Result<bool> action_tokens(std::vector<Token>& tokens, size_t open) {
    size_t after_open = i_;
    while (i_ < s_.size() && is_space(s_[i_])) ++i_;
    if (s_.substr(i_, 2) == "/*") {
      size_t end = s_.find("*/", i_ + 2);
      if (end == std::string_view::npos) return error_at(open, "unclosed comment");
      i_ = end + 2;
      if (s_.substr(i_, 2) == "}}") {
        i_ += 2;
        return false;
      }
      if (s_.substr(i_, 4) == " -}}") {
        i_ += 4;
        return true;
      }
      return error_at(i_, "comment ends before closing delimiter");
    }
    i_ = after_open;
    for (;;) {
      size_t before = i_;
      while (i_ < s_.size() && is_space(s_[i_])) ++i_;
      bool space = i_ > before;
      if (i_ >= s_.size()) return error_at(open, "unclosed action");
      if (space && s_.substr(i_, 3) == "-}}") {
        i_ += 3;
        return true;
      }
      if (s_.substr(i_, 2) == "}}") {
        i_ += 2;
        return false;
      }
      BERTH_TRY(Token t, token());
      t.space_before = space;
      tokens.push_back(std::move(t));
    }
  }

  Result<Token> token() {
    size_t start = i_;
    Token t{Tok::ident, "", pos_of(start)};
    char ch = s_[i_];
    auto simple = [&](Tok type, size_t n) {
      t.type = type;
      t.text = std::string(s_.substr(i_, n));
      i_ += n;
      return t;
    };
    if (ch == '(') return simple(Tok::lparen, 1);
    if (ch == ')') return simple(Tok::rparen, 1);
    if (ch == '|') return simple(Tok::pipe, 1);
    if (ch == ',') return simple(Tok::comma, 1);
    if (s_.substr(i_, 2) == ":=") return simple(Tok::declare, 2);
    if (ch == '=') return simple(Tok::assign, 1);
    if (ch == '"' || ch == '`') return quoted(t);
    if (ch == '\'') return character(t);
    if (ch == '$') {
      ++i_;
      while (i_ < s_.size() && is_alnum(s_[i_])) ++i_;
      t.type = Tok::variable;
      t.text = std::string(s_.substr(start, i_ - start));
      return t;
    }
    if (ch == '.' && i_ + 1 < s_.size() && is_alpha(s_[i_ + 1])) {
      ++i_;
      while (i_ < s_.size() && is_alnum(s_[i_])) ++i_;
      t.type = Tok::field;
      t.text = std::string(s_.substr(start + 1, i_ - start - 1));
      return t;
    }
    if (is_digit(ch) ||
        ((ch == '-' || ch == '+' || ch == '.') && i_ + 1 < s_.size() && is_digit(s_[i_ + 1])))
      return number(t);
    if (ch == '.') return simple(Tok::dot, 1);
    if (is_alpha(ch)) {
      while (i_ < s_.size() && is_alnum(s_[i_])) ++i_;
      t.text = std::string(s_.substr(start, i_ - start));
      if (t.text == "true" || t.text == "false") {
        t.type = Tok::boolean;
        t.value = t.text == "true";
      } else if (t.text == "nil") {
        t.type = Tok::nil;
      } else {
        t.type = kKeywords.count(t.text) ? Tok::keyword : Tok::ident;
      }
      return t;
    }
    return error_at(start, fmt::format("unexpected '{}' in action", ch));
  }

  Result<Token> quoted(Token t) {
    size_t start = i_;
    char quote = s_[i_++];
    std::string value;
    while (i_ < s_.size() && s_[i_] != quote) {
      char ch = s_[i_++];
      if (quote == '"' && ch == '\n') break;
      if (quote == '`' || ch != '\\') {
        value += ch;
        continue;
      }
      if (i_ >= s_.size()) break;
      BERTH_TRY_VOID(escape(value));
    }
    if (i_ >= s_.size() || s_[i_] != quote)
      return error_at(
          start, quote == '"' ? "unterminated quoted string" : "unterminated raw quoted string");
    ++i_;
    t.type = Tok::string;
    t.text = std::string(s_.substr(start, i_ - start));
    t.value = value;
    return t;
  }

  // After a backslash in "…" or '…': Go's escapes.
  Result<void> escape(std::string& out) {
    char ch = s_[i_++];
    switch (ch) {
      case 'n':
        out += '\n';
        return {};
      case 't':
        out += '\t';
        return {};
      case 'r':
        out += '\r';
        return {};
      case 'a':
        out += '\a';
        return {};
      case 'b':
        out += '\b';
        return {};
      case 'f':
        out += '\f';
        return {};
      case 'v':
        out += '\v';
        return {};
      case '\\':
      case '"':
      case '\'':
        out += ch;
        return {};
      case 'x':
      case 'u':
      case 'U': {
        size_t n = ch == 'x' ? 2 : ch == 'u' ? 4 : 8;
        if (i_ + n > s_.size()) return error_at(i_ - 2, "bad escape in string");
        std::string hex(s_.substr(i_, n));
        if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
          return error_at(i_ - 2, "bad escape in string");
        i_ += n;
        unsigned long code = std::stoul(hex, nullptr, 16);
        if (ch == 'x') {
          out += static_cast<char>(code);
        } else if (code < 0x80) {
          out += static_cast<char>(code);
        } else if (code < 0x800) {
          out += static_cast<char>(0xC0 | (code >> 6));
          out += static_cast<char>(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
          out += static_cast<char>(0xE0 | (code >> 12));
          out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (code & 0x3F));
        } else {
          out += static_cast<char>(0xF0 | (code >> 18));
          out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
          out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (code & 0x3F));
        }
        return {};
      }
      default:
        return error_at(i_ - 2, fmt::format("unknown escape '\\{}' in string", ch));
    }
  }

  Result<Token> character(Token t) {
    size_t start = i_++;
    std::string value;
    if (i_ < s_.size() && s_[i_] == '\\') {
      ++i_;
      if (i_ < s_.size()) BERTH_TRY_VOID(escape(value));
    } else {
      while (i_ < s_.size() && s_[i_] != '\'') value += s_[i_++];
    }
    if (i_ >= s_.size() || s_[i_] != '\'' || value.empty())
      return error_at(start, "bad character constant");
    ++i_;
    // The code point of a UTF-8 character.
    auto bytes = reinterpret_cast<const unsigned char*>(value.data());
    int64_t code = bytes[0];
    if (bytes[0] >= 0xC0) {
      int extra = bytes[0] >= 0xF0 ? 3 : bytes[0] >= 0xE0 ? 2 : 1;
      code = bytes[0] & (0x3F >> extra);
      for (int k = 1; k <= extra && k < static_cast<int>(value.size()); ++k)
        code = (code << 6) | (bytes[k] & 0x3F);
    }
    t.type = Tok::number;
    t.text = std::string(s_.substr(start, i_ - start));
    t.value = code;
    return t;
  }

  Result<Token> number(Token t) {
    size_t start = i_;
    if (s_[i_] == '-' || s_[i_] == '+') ++i_;
    bool hex = s_.substr(i_, 2) == "0x" || s_.substr(i_, 2) == "0X";
    if (hex) i_ += 2;
    while (i_ < s_.size() &&
           (is_alnum(s_[i_]) || s_[i_] == '.' ||
            ((s_[i_] == '-' || s_[i_] == '+') && !hex && (s_[i_ - 1] == 'e' || s_[i_ - 1] == 'E'))))
      ++i_;
    t.type = Tok::number;
    t.text = std::string(s_.substr(start, i_ - start));
    std::string digits;
    for (char c : t.text)
      if (c != '_') digits += c;
    try {
      size_t used = 0;
      if (hex || digits.find_first_of(".eE") == std::string::npos) {
        t.value = static_cast<int64_t>(std::stoll(digits, &used, 0));
      } else {
        t.value = std::stod(digits, &used);
      }
      if (used != digits.size())
        return error_at(start, fmt::format("bad number syntax: {}", t.text));
    } catch (const std::exception&) {
      return error_at(start, fmt::format("bad number syntax: {}", t.text));
    }
    return t;
  }

  std::string_view s_;
  size_t i_ = 0;
  mutable size_t counted_to_ = 0;  // pos_of's memory: the position at offset counted_to_
  mutable Pos counted_;
};

std::string describe(const Token& t) {
  if (t.type == Tok::field) return "." + t.text;
  return t.text;
}

class Parser {
 public:
  explicit Parser(std::vector<Item> items) : items_(std::move(items)) {}

  Result<NodeList> parse() {
    vars_ = {"$"};
    BERTH_TRY(auto stop, list());
    if (stop.item) {
      const Token& t = stop.item->tokens.front();
      return error(t, fmt::format("unexpected {{{{{}}}}}", t.text));
    }
    return std::move(stop.nodes);
  }

 private:
  struct Stop {
    NodeList nodes;
    const Item* item = nullptr;  // the {{end}} or {{else …}} that ended the list (null at EOF)
  };

  static Error error(const Token& t, std::string message) {
    return Error(ErrorKind::invalid_argument,
                 fmt::format("template: {}:{}: {}", t.pos.line, t.pos.col, message));
  }

  Result<Stop> list() {
    Stop stop;
    while (next_ < items_.size()) {
      const Item& item = items_[next_++];
      if (!item.action) {
        Node n;
        n.kind = Node::Kind::text;
        n.text = item.text;
        n.pos = item.pos;
        stop.nodes.push_back(std::move(n));
        continue;
      }
      const Token& first = item.tokens.front();
      if (first.type == Tok::keyword) {
        if (first.text == "end" || first.text == "else") {
          if (first.text == "end" && item.tokens.size() > 1)
            return error(item.tokens[1], "unexpected token in {{end}}");
          stop.item = &item;
          return stop;
        }
        if (first.text == "if" || first.text == "with" || first.text == "range") {
          BERTH_TRY(Node n, control(item, 1, first.text));
          stop.nodes.push_back(std::move(n));
          continue;
        }
        if (first.text == "break" || first.text == "continue") {
          if (range_depth_ == 0)
            return error(first, fmt::format("{{{{{}}}}} outside {{{{range}}}}", first.text));
          if (item.tokens.size() > 1)
            return error(item.tokens[1], fmt::format("unexpected token in {{{{{}}}}}", first.text));
          Node n;
          n.kind = first.text == "break" ? Node::Kind::break_ : Node::Kind::continue_;
          n.pos = first.pos;
          stop.nodes.push_back(std::move(n));
          continue;
        }
        return error(first, fmt::format("{{{{{}}}}} is not supported", first.text));
      }
      Node n;
      n.kind = Node::Kind::action;
      n.pos = first.pos;
      BERTH_TRY(n.pipe, pipeline(item.tokens, 0, item.tokens.size(), "command", false));
      stop.nodes.push_back(std::move(n));
    }
    return stop;
  }

  // {{if|with|range PIPELINE}} LIST [{{else [if|with …]}} LIST] {{end}}; the tokens start at
  // `at` in `item` (after the keyword).
  Result<Node> control(const Item& item, size_t at, const std::string& keyword) {
    Node n;
    n.kind = keyword == "if"     ? Node::Kind::if_
             : keyword == "with" ? Node::Kind::with
                                 : Node::Kind::range;
    n.pos = item.tokens[at - 1].pos;
    Leave leave{depth_};
    BERTH_TRY_VOID(enter(item.tokens[at - 1]));
    size_t scope = vars_.size();
    BERTH_TRY(n.pipe, pipeline(item.tokens, at, item.tokens.size(), keyword, keyword == "range"));
    size_t with_pipeline_vars = vars_.size();
    if (n.kind == Node::Kind::range) ++range_depth_;
    BERTH_TRY(auto body, list());
    if (n.kind == Node::Kind::range) --range_depth_;
    n.list = std::move(body.nodes);
    if (!body.item)
      return error(item.tokens.front(),
                   fmt::format("unexpected EOF: {{{{{}}}}} without {{{{end}}}}", keyword));
    const Item* stop = body.item;
    if (stop->tokens.front().text == "else") {
      vars_.resize(with_pipeline_vars);
      if (stop->tokens.size() > 1) {
        const Token& chained = stop->tokens[1];
        if (chained.type != Tok::keyword || (chained.text != "if" && chained.text != "with") ||
            n.kind == Node::Kind::range)
          return error(chained, "unexpected token after {{else}}");
        // {{else if …}}: an if alone in the else list, ending at the same {{end}}.
        BERTH_TRY(Node nested, control(*stop, 2, chained.text));
        n.else_list.push_back(std::move(nested));
        vars_.resize(scope);
        return n;
      }
      BERTH_TRY(auto rest, list());
      if (!rest.item)
        return error(stop->tokens.front(), "unexpected EOF: {{else}} without {{end}}");
      if (rest.item->tokens.front().text != "end")
        return error(rest.item->tokens.front(), "expected {{end}}, found {{else}}");
      n.else_list = std::move(rest.nodes);
    }
    vars_.resize(scope);
    return n;
  }

  Result<std::shared_ptr<const Pipeline>> pipeline(const std::vector<Token>& tokens, size_t at,
                                                   size_t end, const std::string& context,
                                                   bool range) {
    auto p = std::make_shared<Pipeline>();
    if (at < end) p->pos = tokens[at].pos;
    for (size_t k = at; k < end; ++k)
      p->text += (k > at && tokens[k].space_before ? " " : "") + describe(tokens[k]);
    // Declarations: $x := …, $x = …, and in range $i, $e := ….
    if (end - at >= 2 && tokens[at].type == Tok::variable) {
      size_t k = at;
      std::vector<std::string> names = {tokens[k].text};
      if (range && end - at >= 4 && tokens[k + 1].type == Tok::comma &&
          tokens[k + 2].type == Tok::variable) {
        names.push_back(tokens[k + 2].text);
        k += 2;
      }
      if (tokens[k + 1].type == Tok::declare || tokens[k + 1].type == Tok::assign) {
        p->assign = tokens[k + 1].type == Tok::assign;
        for (const auto& name : names) {
          if (p->assign && std::find(vars_.begin(), vars_.end(), name) == vars_.end())
            return error(tokens[at], fmt::format("undefined variable \"{}\"", name));
        }
        p->decl = names;
        at = k + 2;
      } else if (tokens[k + 1].type == Tok::comma) {
        return error(tokens[k + 1], "too many declarations");
      }
    }
    if (at >= end)
      return error(tokens.empty() ? Token{} : tokens[end - 1],
                   fmt::format("missing value for {}", context));
    size_t k = at;
    for (;;) {
      Command c;
      c.pos = tokens[k].pos;
      while (k < end && tokens[k].type != Tok::pipe) {
        BERTH_TRY(auto operand, operand_at(tokens, k, end));
        c.args.push_back(std::move(operand));
      }
      if (c.args.empty()) return error(tokens[k < end ? k : end - 1], "missing command");
      p->commands.push_back(std::move(c));
      if (k >= end) break;
      if (++k >= end) return error(tokens[end - 1], "missing command after |");
    }
    if (!p->assign)
      for (const auto& name : p->decl) vars_.push_back(name);
    return std::shared_ptr<const Pipeline>(std::move(p));
  }

  // One operand starting at tokens[k]; advances k past it (and the fields read from it).
  Result<Operand> operand_at(const std::vector<Token>& tokens, size_t& k, size_t end) {
    const Token& t = tokens[k];
    Operand o;
    o.pos = t.pos;
    o.text = describe(t);
    switch (t.type) {
      case Tok::field:
        o.kind = Operand::Kind::field;
        o.chain.push_back(t.text);
        ++k;
        break;
      case Tok::dot:
        o.kind = Operand::Kind::dot;
        ++k;
        if (k < end && tokens[k].type == Tok::field && !tokens[k].space_before)
          return error(tokens[k], "unexpected . after term \".\"");
        return o;
      case Tok::variable:
        if (std::find(vars_.begin(), vars_.end(), t.text) == vars_.end())
          return error(t, fmt::format("undefined variable \"{}\"", t.text));
        o.kind = Operand::Kind::variable;
        o.name = t.text;
        ++k;
        break;
      case Tok::lparen: {
        size_t depth = 0, close = k;
        for (; close < end; ++close) {
          if (tokens[close].type == Tok::lparen) ++depth;
          if (tokens[close].type == Tok::rparen && --depth == 0) break;
        }
        if (close >= end) return error(t, "unclosed left paren");
        o.kind = Operand::Kind::pipeline;
        Leave leave{depth_};
        BERTH_TRY_VOID(enter(t));
        BERTH_TRY(o.pipe, pipeline(tokens, k + 1, close, "parenthesized pipeline", false));
        o.text = "(" + o.pipe->text + ")";
        k = close + 1;
        break;
      }
      case Tok::string:
      case Tok::number:
      case Tok::boolean:
      case Tok::nil:
        o.kind = Operand::Kind::literal;
        o.literal = t.type == Tok::nil ? nlohmann::json(nullptr) : t.value;
        ++k;
        if (k < end && tokens[k].type == Tok::field && !tokens[k].space_before)
          return error(tokens[k], fmt::format("unexpected .{} after {}", tokens[k].text, t.text));
        return o;
      case Tok::ident:
        if (!detail::is_function(t.text))
          return error(t, fmt::format("function \"{}\" not defined", t.text));
        o.kind = Operand::Kind::function;
        o.name = t.text;
        ++k;
        return o;
      case Tok::rparen:
        return error(t, "unexpected right paren");
      default:
        return error(t, fmt::format("unexpected \"{}\" in operand", t.text));
    }
    while (k < end && tokens[k].type == Tok::field && !tokens[k].space_before) {
      o.chain.push_back(tokens[k].text);
      o.text += "." + tokens[k].text;
      ++k;
    }
    return o;
  }

  // Blocks and parentheses nest by recursion, here and when the template runs: a format of
  // 100,000 '(' overflowed the stack. Docker's formats nest two or three deep.
  static constexpr int kMaxNesting = 100;
  Result<void> enter(const Token& t) {
    if (++depth_ > kMaxNesting)
      return error(t, fmt::format("nested more than {} levels deep", kMaxNesting));
    return {};
  }
  struct Leave {  // undoes enter() at the end of the scope
    int& depth;
    ~Leave() { --depth; }
  };

  std::vector<Item> items_;
  size_t next_ = 0;
  std::vector<std::string> vars_;
  int range_depth_ = 0;
  int depth_ = 0;
};

}  // namespace

Result<Template> Template::parse(std::string_view text) {
  BERTH_TRY(auto items, Lexer(text).items());
  BERTH_TRY(auto root, Parser(std::move(items)).parse());
  auto tree = std::make_shared<detail::Tree>();
  tree->root = std::move(root);
  return Template(std::move(tree));
}

}  // namespace berth::cli::tmpl
