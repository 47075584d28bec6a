// engine/container_top.cc — see container_top.h.
#include "engine/container_top.h"

#include <algorithm>
#include <regex>

#include "base/process.h"
#include "base/sys.h"
#include "engine/detail/container_records.h"

namespace berth::engine {

namespace {

// Go's strings.Fields over ASCII blanks, as dockerd splits ps output.
std::vector<std::string> fields_of(std::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.emplace_back(line.substr(start, i - start));
  }
  return out;
}

// The row as dockerd shows it: one cell per title, the command with its spaces in the last.
std::vector<std::string> row_of(const std::vector<std::string>& fields, size_t columns) {
  std::vector<std::string> row(
      fields.begin(), fields.begin() + static_cast<long>(std::min(columns, fields.size())));
  row.resize(columns);
  for (size_t i = columns; i < fields.size(); ++i) row.back() += " " + fields[i];
  return row;
}

}  // namespace

Result<ProcessTable> parse_ps_output(const std::string& output, const std::vector<pid_t>& pids) {
  auto lines = sys::split(output, '\n');
  ProcessTable table;
  if (!lines.empty()) table.titles = fields_of(lines.front());
  auto pid_at = std::find(table.titles.begin(), table.titles.end(), "PID");
  if (pid_at == table.titles.end())
    return Error(ErrorKind::invalid_argument, "Couldn't find PID field in ps output");
  size_t pid_index = static_cast<size_t>(pid_at - table.titles.begin());
  bool in_container = false;  // for the thread lines ("-" as PID) that follow a process (ps m)
  for (size_t i = 1; i < lines.size(); ++i) {
    auto fields = fields_of(lines[i]);
    if (fields.size() <= pid_index) continue;
    const std::string& pid_text = fields[pid_index];
    if (pid_text == "-") {
      if (in_container) table.rows.push_back(row_of(fields, table.titles.size()));
      continue;
    }
    char* end = nullptr;
    long pid = std::strtol(pid_text.c_str(), &end, 10);
    if (pid_text.empty() || *end)
      return Error::make(ErrorKind::invalid_argument, "Unexpected pid '{}' in ps output", pid_text);
    in_container = std::find(pids.begin(), pids.end(), static_cast<pid_t>(pid)) != pids.end();
    if (in_container) table.rows.push_back(row_of(fields, table.titles.size()));
  }
  return table;
}

Result<ProcessTable> container_top(Engine& engine, const std::string& name_or_id,
                                   const std::string& ps_args) {
  std::string args_text = ps_args.empty() ? "-ef" : ps_args;
  // dockerd's check: a renamed PID column ("-o user=PID") would make the filter read another one.
  static const std::regex kRenamedPid(R"(\s+([^\s]*)=\s*(PID[^\s]*))");
  for (std::sregex_iterator it(args_text.begin(), args_text.end(), kRenamedPid), last; it != last;
       ++it)
    if ((*it)[1] != "pid")
      return Error::make(ErrorKind::invalid_argument, "specifying \"{}={}\" is not allowed",
                         (*it)[1].str(), (*it)[2].str());
  BERTH_TRY(auto r, find_container(engine, name_or_id));
  if (!r.running())
    return Error::make(ErrorKind::failed_precondition, "Container {} is not running", r.id);
  BERTH_TRY(auto pids, runtime::processes(detail::runtime_options(engine), r.id));
  auto ps = proc::find_in_path("ps");
  if (!ps)
    return Error(ErrorKind::unsupported, "top needs the host's ps, and there is none in $PATH");
  proc::RunOptions o;
  o.path = *ps;
  o.args = {"ps"};
  for (auto& a : sys::split(args_text, ' '))
    if (!a.empty()) o.args.push_back(a);
  std::string output;
  o.output = &output;
  o.timeout_seconds = 30;
  BERTH_TRY(int code, proc::run(o));
  if (code != 0)
    return Error::make(ErrorKind::invalid_argument, "ps {}: exit status {}", args_text, code);
  return parse_ps_output(output, pids);
}

}  // namespace berth::engine
