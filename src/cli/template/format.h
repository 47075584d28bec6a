// cli/template/format.h — docker's `--format` for list commands (ps, images, network ls,
// volume ls, stats): `table TEMPLATE` prints a header row of column names and aligns the
// columns as docker's tabwriter does; a bare TEMPLATE prints one line per object. `\t` and
// `\n` written in the format become a tab and a newline. "", "table" and "json" are each
// command's own output and are not handled here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cli/template/template.h"

namespace berth::cli::tmpl {

// Whether `format` is a Go template (`{{.ID}}`, `table {{.ID}}`), rather than "", "table" or
// "json". Text without an action is taken for a mistake, not for a template.
bool is_template(std::string_view format);

// Lines of tab-terminated cells aligned like docker's tables: Go's text/tabwriter with minimal
// width 10, padding 3, spaces; a column runs over contiguous lines that have a cell in it.
std::string align_columns(std::string_view text);

class ListFormat {
 public:
  struct Column {
    std::string field;    // "Names"
    std::string header;   // "NAMES"
    bool method = false;  // called with arguments: {{.Label "k"}}
  };

  // `command` names the objects in errors ("ps"); `columns` lists every field of a row with
  // its header, in the order errors list them. An error names the format:
  // "--format '{{.Nmae}}': template: no field 'Nmae' (ps has: ID, Image, …)".
  [[nodiscard]] static Result<ListFormat> parse(std::string_view format, std::string command,
                                                std::vector<Column> columns);

  // Renders one object; `methods` are the row's methods with arguments ({{.Label "k"}}).
  [[nodiscard]] Result<void> add(const nlohmann::json& row,
                                 const std::map<std::string, Method>& methods = {});

  // Everything to print. With no rows, the template is still checked against the fields, so a
  // misspelt field is an error whether or not anything is listed.
  [[nodiscard]] Result<std::string> finish() const;

 private:
  ListFormat(std::string format, Template tmpl, bool table, Context context)
      : format_(std::move(format)),
        template_(std::move(tmpl)),
        table_(table),
        context_(std::move(context)) {}
  Error in_format(Error error) const;

  std::string format_;
  Template template_;
  bool table_;
  Context context_;
  std::vector<Column> columns_;
  std::string rows_;
  size_t count_ = 0;
};

}  // namespace berth::cli::tmpl
