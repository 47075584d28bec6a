#include "engine/events.h"

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/sys.h"

namespace berth::engine {

namespace {
constexpr int64_t kKeptEvents = 10000;
}  // namespace

Result<void> record_event(state::Database& db, std::string_view type, std::string_view action,
                          std::string_view actor_id, const std::map<std::string, std::string>& attributes,
                          int64_t time_ns) {
  BERTH_TRY(auto insert, db.prepare("INSERT INTO events(time, type, action, actor_id, attributes) "
                                    "VALUES (?1, ?2, ?3, ?4, ?5)"));
  nlohmann::json attrs = attributes;
  insert.bind_all(time_ns ? time_ns : clock::now_ns(), type, action, actor_id, attrs.dump());
  BERTH_TRY_VOID(insert.run());
  // The log keeps the last kKeptEvents; trimming every 1000th insert keeps the cost off most.
  if (int64_t seq = db.last_insert_rowid(); seq % 1000 == 0) {
    BERTH_TRY(auto trim, db.prepare("DELETE FROM events WHERE seq <= ?1"));
    trim.bind(1, seq - kKeptEvents);
    BERTH_TRY_VOID(trim.run());
  }
  return {};
}

Result<EventFilter> EventFilter::parse(const std::vector<std::string>& filters) {
  static const char* kKeys[] = {"type", "event", "container", "image", "volume", "label"};
  EventFilter f;
  for (const auto& text : filters) {
    auto eq = text.find('=');
    std::string key = text.substr(0, eq);
    if (eq == std::string::npos || std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys))
      return Error::make(ErrorKind::invalid_argument, "filter '{}': use KEY=VALUE with KEY one of type, event, "
                         "container, image, volume, label", text);
    f.filters.emplace(key, text.substr(eq + 1));
  }
  return f;
}

bool EventFilter::matches(const Event& e) const {
  if (since && e.time < *since) return false;
  if (until && e.time > *until) return false;
  auto attr = [&](const char* name) {
    auto it = e.attributes.find(name);
    return it == e.attributes.end() ? std::string() : it->second;
  };
  for (auto it = filters.begin(); it != filters.end();) {
    auto range = filters.equal_range(it->first);
    // As docker: several values of a key match any, except label=, where each must hold.
    if (it->first == "label") {
      for (auto v = range.first; v != range.second; ++v) {
        auto eq = v->second.find('=');
        auto found = e.attributes.find(v->second.substr(0, eq));
        if (found == e.attributes.end() ||
            (eq != std::string::npos && found->second != v->second.substr(eq + 1)))
          return false;
      }
      it = range.second;
      continue;
    }
    bool any = false;
    for (auto v = range.first; v != range.second && !any; ++v) {
      const std::string& key = v->first;
      const std::string& value = v->second;
      if (key == "type") any = e.type == value;
      else if (key == "event") any = e.action == value || e.action.starts_with(value + ":");
      else if (key == "container" || key == "volume")
        any = e.type == key && (e.actor_id.starts_with(value) || attr("name") == value);
      else if (key == "image")
        any = attr("image") == value || (e.type == "image" && (e.actor_id == value || attr("name") == value));
    }
    if (!any) return false;
    it = range.second;
  }
  return true;
}

Result<std::vector<Event>> read_events(state::Database& db, int64_t after_seq, const EventFilter& filter,
                                       int64_t limit) {
  BERTH_TRY(auto query, db.prepare("SELECT seq, time, type, action, actor_id, attributes FROM events "
                                   "WHERE seq > ?1 AND time >= ?2 AND time <= ?3 ORDER BY seq LIMIT ?4"));
  query.bind_all(after_seq, filter.since.value_or(0), filter.until.value_or(INT64_MAX), limit);
  std::vector<Event> events;
  for (;;) {
    BERTH_TRY(bool row, query.step());
    if (!row) break;
    Event e{query.column_int64(0), query.column_int64(1), query.column_text(2), query.column_text(3),
            query.column_text(4), {}};
    auto attrs = nlohmann::json::parse(query.column_text(5), nullptr, false);
    if (attrs.is_object())
      for (auto& [k, v] : attrs.items())
        if (v.is_string()) e.attributes[k] = v.get<std::string>();
    if (filter.matches(e)) events.push_back(std::move(e));
  }
  return events;
}

std::string event_json(const Event& e) {
  nlohmann::json j = {{"Type", e.type},
                      {"Action", e.action},
                      {"Actor", {{"ID", e.actor_id}, {"Attributes", e.attributes}}},
                      {"scope", "local"},
                      {"time", e.time / 1'000'000'000},
                      {"timeNano", e.time}};
  if (e.type == "container") {
    j["status"] = e.action;
    j["id"] = e.actor_id;
    if (auto it = e.attributes.find("image"); it != e.attributes.end()) j["from"] = it->second;
  }
  return j.dump();
}

}  // namespace berth::engine
