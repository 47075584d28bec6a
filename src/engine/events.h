// engine/events.h — the event log behind `berth events`: what happened to which object, when.
// Writers record events inside the transaction that makes the change, so the log and the state
// never disagree.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"

namespace berth::engine {

struct Event {
  int64_t seq = 0;
  int64_t time = 0;  // ns
  std::string type;     // container, image, volume
  std::string action;   // create, start, die, oom, destroy, health_status, tag, untag, delete, …
  std::string actor_id;
  std::map<std::string, std::string> attributes;  // name, image, exitCode, …
};

Result<void> record_event(state::Database& db, std::string_view type, std::string_view action,
                          std::string_view actor_id,
                          const std::map<std::string, std::string>& attributes = {},
                          int64_t time_ns = 0);

// `--filter` as Docker spells it: type=, event=, container=, image=, volume=, label=k[=v].
// Several values of one key match any (label= excepted: every label given must be there, as
// docker has it); different keys must all match.
struct EventFilter {
  std::optional<int64_t> since, until;  // ns
  std::multimap<std::string, std::string> filters;
  static Result<EventFilter> parse(const std::vector<std::string>& filters);
  bool matches(const Event& event) const;
};

// Events with seq > after_seq, oldest first, that pass the filter (at most `limit`).
Result<std::vector<Event>> read_events(state::Database& db, int64_t after_seq,
                                       const EventFilter& filter, int64_t limit = 100000);

std::string event_json(const Event& event);  // Docker's events JSON line

}  // namespace berth::engine
