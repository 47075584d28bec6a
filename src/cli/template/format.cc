// docker's --format for lists: table headers, escapes, and Go's tabwriter alignment.
#include "cli/template/format.h"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

namespace berth::cli::tmpl {
namespace {

constexpr size_t kMinWidth = 10;  // docker's tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
constexpr size_t kPadding = 3;

size_t columns(std::string_view text) {
  size_t n = 0;
  for (unsigned char ch : text) n += (ch & 0xC0) != 0x80;
  return n;
}

struct Aligner {
  // Each line is its cells; every cell but the last was ended by a tab.
  std::vector<std::vector<std::string>> lines;
  std::vector<size_t> widths;
  std::string out;

  void write_lines(size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      const auto& line = lines[i];
      for (size_t j = 0; j < line.size(); ++j) {
        out += line[j];
        if (j < widths.size())
          out += std::string(widths[j] - std::min(widths[j], columns(line[j])), ' ');
      }
      if (i + 1 < lines.size()) out += '\n';
    }
  }

  // Go's tabwriter.format: a column block is the run of lines that have a cell in column
  // `widths.size()`; its width is the widest cell plus padding (at least the minimum). Go
  // recurses once per column; here the blocks are a stack of our own, for a line of 100,000
  // tabs (a label's value can hold them) would overflow the thread's.
  void format(size_t first, size_t last) {
    struct Block {
      size_t line0, line1, i;  // written up to line0; looking at line i
    };
    std::vector<Block> blocks{{first, last, first}};
    while (!blocks.empty()) {
      Block& b = blocks.back();
      const size_t column = widths.size();
      while (b.i < b.line1 && column + 1 >= lines[b.i].size()) ++b.i;
      if (b.i == b.line1) {
        write_lines(b.line0, b.line1);
        blocks.pop_back();
        if (!blocks.empty()) widths.pop_back();
        continue;
      }
      write_lines(b.line0, b.i);
      const size_t start = b.i;
      size_t end = start, width = kMinWidth;
      for (; end < b.line1 && column + 1 < lines[end].size(); ++end)
        width = std::max(width, columns(lines[end][column]) + kPadding);
      widths.push_back(width);
      b.line0 = b.i = end;  // once the block is written: on from the line that ended it
      blocks.push_back({start, end, start});
    }
  }
};

}  // namespace

bool is_template(std::string_view format) { return format.find("{{") != std::string_view::npos; }

std::string align_columns(std::string_view text) {
  Aligner a;
  a.lines.emplace_back();
  std::string cell;
  for (char ch : text) {
    if (ch == '\t') {
      a.lines.back().push_back(std::move(cell));
      cell.clear();
    } else if (ch == '\n') {
      a.lines.back().push_back(std::move(cell));
      cell.clear();
      a.lines.emplace_back();
    } else {
      cell += ch;
    }
  }
  a.lines.back().push_back(std::move(cell));
  a.format(0, a.lines.size());
  return a.out;
}

Result<ListFormat> ListFormat::parse(std::string_view format, std::string command,
                                     std::vector<Column> columns) {
  std::string text(format);
  bool table = text.starts_with("table");
  if (table) text.erase(0, 5);
  // docker trims spaces, then turns the two characters \t and \n into a tab and a newline.
  size_t first = text.find_first_not_of(' ');
  text =
      first == std::string::npos ? "" : text.substr(first, text.find_last_not_of(' ') - first + 1);
  std::string unescaped;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == 't' || text[i + 1] == 'n')) {
      unescaped += text[++i] == 't' ? '\t' : '\n';
    } else {
      unescaped += text[i];
    }
  }
  auto parsed = Template::parse(unescaped);
  if (!parsed) return std::move(parsed).error().context(fmt::format("--format '{}'", format));
  Context context;
  context.name = std::move(command);
  for (auto& column : columns) context.fields.push_back(column.field);
  ListFormat out(std::string(format), std::move(*parsed), table, std::move(context));
  out.columns_ = std::move(columns);
  return out;
}

Error ListFormat::in_format(Error error) const {
  return std::move(error).context(fmt::format("--format '{}'", format_));
}

Result<void> ListFormat::add(const nlohmann::json& row,
                             const std::map<std::string, Method>& methods) {
  Context context = context_;
  context.methods = methods;
  auto text = template_.execute(row, context);
  if (!text) return in_format(std::move(text).error());
  rows_ += *text + "\n";
  ++count_;
  return {};
}

Result<std::string> ListFormat::finish() const {
  // The header: the template run on the column names, methods answering with their own name.
  nlohmann::json names = nlohmann::json::object();
  Context context = context_;
  context.header = true;
  for (const auto& column : columns_) {
    if (!column.method) {
      names[column.field] = column.header;
      continue;
    }
    context.methods[column.field] =
        [header = column.header](const std::vector<nlohmann::json>&) -> Result<nlohmann::json> {
      return nlohmann::json(header);
    };
  }
  auto header = template_.execute(names, context);
  if (count_ == 0 && !header && header.error().message().starts_with("template: no field"))
    return in_format(std::move(header).error());
  if (!table_) return rows_;
  // A header that fails to render (a function that wants a list) is left empty, as docker does.
  return align_columns((header ? *header : "") + "\n" + rows_);
}

}  // namespace berth::cli::tmpl
