#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/sys.h"
#include "cli/berth/command.h"

namespace berth::cli {

Result<engine::Engine> open_engine(const Globals& globals) {
  return engine::Engine::open(globals.layout, engine::programs_beside_self());
}

namespace {
// Display width of UTF-8 text: continuation bytes take no column.
size_t columns(const std::string& text) {
  size_t n = 0;
  for (unsigned char ch : text) n += (ch & 0xC0) != 0x80;
  return n;
}
}  // namespace

std::string render_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) widths[i] = columns(headers[i]);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], columns(row[i]));
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(widths[i] - columns(cells[i]) + 3, ' ');
    }
    return out + "\n";
  };
  std::string out = line(headers);
  for (const auto& row : rows) out += line(row);
  return out;
}

std::string human_size(int64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1000 && unit < 4) {
    value /= 1000;
    ++unit;
  }
  if (unit == 0) return fmt::format("{}B", bytes);
  return fmt::format("{:.3g}{}", value, units[unit]);
}

std::string human_duration(int64_t ns) {
  int64_t seconds = ns / 1'000'000'000;
  if (seconds < 1) return "Less than a second";
  if (seconds == 1) return "1 second";
  if (seconds < 60) return fmt::format("{} seconds", seconds);
  int64_t minutes = seconds / 60;
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return fmt::format("{} minutes", minutes);
  int64_t hours = minutes / 60;
  if (hours == 1) return "About an hour";
  if (hours < 48) return fmt::format("{} hours", hours);
  int64_t days = hours / 24;
  if (days < 14) return fmt::format("{} days", days);
  if (days < 60) return fmt::format("{} weeks", days / 7);
  if (days < 730) return fmt::format("{} months", days / 30);
  return fmt::format("{} years", days / 365);
}

std::string human_ago(int64_t unix_ns) { return human_duration(clock::now_ns() - unix_ns) + " ago"; }

Result<int64_t> parse_time_or_duration(std::string_view text) {
  if (auto t = clock::parse_rfc3339(text)) return *t;
  std::string s(text);
  bool all_digits = !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  if (all_digits) return std::stoll(s) * 1'000'000'000;  // Unix seconds, as docker takes them
  int64_t total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (start == i || i == s.size()) return Error::make(ErrorKind::invalid_argument,
        "time '{}': use a duration like 10m, 1h30m or 45s, or an RFC 3339 time", text);
    double amount = std::stod(s.substr(start, i - start));
    char unit = s[i++];
    double scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 0;
    if (scale == 0) return Error::make(ErrorKind::invalid_argument,
        "time '{}': unknown unit '{}' (use s, m or h)", text, unit);
    total += static_cast<int64_t>(amount * scale * 1e9);
  }
  return clock::now_ns() - total;
}

Result<int64_t> parse_duration_ms(std::string_view text) {
  std::string s(text);
  int64_t total = 0;
  size_t i = 0;
  auto bad = [&] {
    return Error::make(ErrorKind::invalid_argument, "duration '{}': use a number with a unit: 500ms, 30s, 1m30s, 2h", text);
  };
  if (s.empty()) return bad();
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (start == i || i == s.size()) return bad();
    double amount = std::stod(s.substr(start, i - start));
    double scale;
    if (s.compare(i, 2, "ms") == 0) scale = 1, i += 2;
    else if (s[i] == 's') scale = 1000, ++i;
    else if (s[i] == 'm') scale = 60'000, ++i;
    else if (s[i] == 'h') scale = 3'600'000, ++i;
    else return bad();
    total += static_cast<int64_t>(amount * scale);
  }
  return total;
}

Result<std::string> format_documents(const std::vector<std::string>& documents, std::string_view format,
                                     std::string_view command) {
  auto in_format = [&](Error e) { return std::move(e).context(fmt::format("--format '{}'", format)); };
  auto t = tmpl::Template::parse(format);
  if (!t) return in_format(std::move(t).error());
  tmpl::Context context;
  context.name = command;
  std::string out;
  for (const auto& document : documents) {
    auto j = nlohmann::json::parse(document, nullptr, false);
    auto text = t->execute(j, context);
    if (!text) return in_format(std::move(text).error());
    out += *text + "\n";
  }
  return out;
}

Result<std::string> format_list(std::string_view format, std::string command,
                                std::vector<tmpl::ListFormat::Column> columns, const std::vector<TemplateRow>& rows) {
  BERTH_TRY(auto f, tmpl::ListFormat::parse(format, std::move(command), std::move(columns)));
  for (const auto& row : rows) BERTH_TRY_VOID(f.add(nlohmann::json::parse(row.json), row.methods));
  return f.finish();
}

Error unknown_format(std::string_view format) {
  return Error::make(ErrorKind::invalid_argument, "--format '{}': use table, json or a Go template", format)
      .with_hint("berth ps --format 'table {{.Names}}\\t{{.Status}}'");
}

std::string go_time(int64_t unix_ns) {
  time_t seconds = static_cast<time_t>(unix_ns / 1'000'000'000);
  struct tm local {};
  ::localtime_r(&seconds, &local);
  char text[64];
  size_t n = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S %z %Z", &local);
  return std::string(text, n);
}

std::string joined_labels(const std::map<std::string, std::string>& labels) {
  std::string out;
  for (const auto& [key, value] : labels) out += (out.empty() ? "" : ",") + key + "=" + value;
  return out;
}

tmpl::Method label_method(std::map<std::string, std::string> labels) {
  return [labels = std::move(labels)](const std::vector<nlohmann::json>& args) -> Result<nlohmann::json> {
    if (args.size() != 1 || !args[0].is_string())
      return Error(ErrorKind::invalid_argument, "Label takes one label name: {{.Label \"com.example.key\"}}");
    auto it = labels.find(args[0].get<std::string>());
    return nlohmann::json(it == labels.end() ? "" : it->second);
  };
}

int report(const Error& error) {
  std::string text = "berth: " + error.message() + "\n";
  std::string hint = error.hint();
  if (hint.empty() && (error.sys_errno() == ENOSPC || error.message().find("no space left on device") != std::string::npos))
    hint = full_disk_hint("");
  if (!hint.empty()) text += "hint: " + hint + "\n";
  (void)sys::write_all(2, text);
  return 125;  // docker's status for errors of the engine rather than of the container
}

void print(std::string_view text) { (void)sys::write_all(1, text); }

Result<std::map<std::string, std::string>> key_values(const std::vector<std::string>& items, const char* what) {
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == 0) return Error::make(ErrorKind::invalid_argument, "{} '{}': use KEY=VALUE", what, item);
    out[item.substr(0, eq)] = eq == std::string::npos ? "" : item.substr(eq + 1);
  }
  return out;
}

Result<int> for_each(const Globals& g, const ParsedArgs& a,
                     const std::function<Result<void>(engine::Engine&, const std::string&)>& action, bool echo,
                     std::string_view what, bool skip_missing) {
  if (a.positionals.empty()) return Error::make(ErrorKind::invalid_argument, "give at least one {}", what);
  BERTH_TRY(auto e, open_engine(g));
  int status = 0;
  for (const auto& name : a.positionals) {
    if (auto r = action(e, name); !r) {
      if (skip_missing && r.error().kind() == ErrorKind::not_found) continue;
      report(r.error());
      status = 1;
    } else if (echo) {
      print(name + "\n");
    }
  }
  return status;
}

}  // namespace berth::cli
