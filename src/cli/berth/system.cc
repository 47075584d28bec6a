// System verbs: events, system df, system check, system prune, container prune.
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "build/build.h"
#include "cli/berth/command.h"
#include "project/plan.h"
#include "engine/check.h"
#include "engine/containers.h"
#include "engine/events.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "engine/volumes.h"

namespace berth::cli {
namespace {

std::string event_line(const engine::Event& e) {
  std::string attrs;
  for (const auto& [k, v] : e.attributes) attrs += (attrs.empty() ? "" : ", ") + k + "=" + v;
  return fmt::format("{} {} {} {} ({})\n", clock::rfc3339(e.time), e.type, e.action, e.actor_id, attrs);
}

// An event through `events --format TEMPLATE`: docker's events.Message, whose JSON this is;
// Status, ID and From (set for containers only) read as "" on other events.
Result<std::string> render_event(const tmpl::Template& t, const engine::Event& ev, std::string_view format) {
  std::string status = ev.type == "container" ? ev.action : "", id = ev.type == "container" ? ev.actor_id : "";
  std::string from;
  if (auto it = ev.attributes.find("image"); ev.type == "container" && it != ev.attributes.end()) from = it->second;
  auto constant = [](std::string value) -> tmpl::Method {
    return [value](const std::vector<nlohmann::json>&) -> Result<nlohmann::json> { return nlohmann::json(value); };
  };
  tmpl::Context context;
  context.name = "events";
  context.fields = {"Type", "Action", "Actor", "Scope", "Time", "TimeNano", "Status", "ID", "From"};
  context.methods = {{"Status", constant(status)}, {"ID", constant(id)}, {"From", constant(from)}};
  auto text = t.execute(nlohmann::json::parse(engine::event_json(ev)), context);
  if (!text) return std::move(text).error().context(fmt::format("--format '{}'", format));
  return *text + "\n";
}

}  // namespace

Result<int> stream_events(const Globals& g, const ParsedArgs& a) {
  return stream_events_where(g, a, {});
}

Result<int> stream_events_where(const Globals& g, const ParsedArgs& a,
                                const std::function<bool(const engine::Event&)>& also) {
  std::string format = a.value("format");
  bool json = format == "json";
  std::optional<tmpl::Template> custom;
  if (tmpl::is_template(format)) {
    auto parsed = tmpl::Template::parse(format);
    if (!parsed) return std::move(parsed).error().context(fmt::format("--format '{}'", format));
    // As docker, try it on an empty event first: a misspelt field fails now, not at the first event.
    BERTH_TRY_VOID(render_event(*parsed, engine::Event{}, format));
    custom = std::move(*parsed);
  } else if (!format.empty() && !json) {
    return unknown_format(format);
  }
  // project=P: the containers of a compose project, by docker compose's label.
  std::vector<std::string> filters = a.values_of("filter");
  for (auto& f : filters)
    if (f.starts_with("project=")) f = std::string("label=") + project::kLabelProject + "=" + f.substr(8);
  BERTH_TRY(auto filter, engine::EventFilter::parse(filters));
  if (a.flag("since")) {
    BERTH_TRY(filter.since, parse_time_or_duration(a.value("since")));
  }
  if (a.flag("until")) {
    BERTH_TRY(filter.until, parse_time_or_duration(a.value("until")));
  }
  BERTH_TRY(auto e, open_engine(g));
  // Without --since, docker shows only what happens from now on.
  int64_t after = 0;
  if (!filter.since) {
    BERTH_TRY(auto last, e.db.query_int64("SELECT max(seq) FROM events"));
    after = last.value_or(0);
  }
  bool follow = !filter.until;
  for (;;) {
    BERTH_TRY(auto events, engine::read_events(e.db, after, filter));
    for (const auto& ev : events) {
      if (also && !also(ev)) continue;
      if (custom) {
        BERTH_TRY(auto line, render_event(*custom, ev, format));
        print(line);
      } else {
        print(json ? engine::event_json(ev) + "\n" : event_line(ev));
      }
    }
    BERTH_TRY(auto last, e.db.query_int64("SELECT max(seq) FROM events"));
    after = std::max(after, last.value_or(0));
    if (!follow) return 0;
    // Followers also notice containers whose monitor died (no daemon tells them).
    (void)engine::list_containers(e);
    ::usleep(100'000);
  }
}

namespace {

Result<int> cmd_df(const Globals& g, const ParsedArgs& a) {
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto images, engine::list_images(e));
  BERTH_TRY(auto containers, engine::list_containers(e));
  BERTH_TRY(auto volumes, engine::list_volumes(e));
  int64_t image_size = 0, image_reclaimable = 0, active_images = 0;
  for (const auto& i : images) {
    image_size += i.size;
    if (i.containers > 0) ++active_images;
    else image_reclaimable += i.size;
  }
  int64_t container_size = 0, container_reclaimable = 0, active_containers = 0;
  for (const auto& c : containers) {
    int64_t size = engine::disk_usage(c.layer_dir + "/upper");
    container_size += size;
    if (c.running()) ++active_containers;
    else container_reclaimable += size;
  }
  int64_t volume_size = 0, volume_reclaimable = 0, active_volumes = 0;
  for (const auto& v : volumes) {
    int64_t size = engine::disk_usage(v.mountpoint);
    volume_size += size;
    if (!v.containers.empty()) ++active_volumes;
    else volume_reclaimable += size;
  }
  auto percent = [](int64_t part, int64_t whole) {
    return whole ? fmt::format("{} ({}%)", human_size(part), part * 100 / whole) : human_size(part);
  };
  if (a.value("format") == "json") {
    auto row = [](const char* type, size_t total, int64_t active, int64_t size, int64_t reclaimable) {
      return nlohmann::json({{"Type", type}, {"TotalCount", total}, {"Active", active}, {"Size", size},
                             {"Reclaimable", reclaimable}}).dump() + "\n";
    };
    print(row("Images", images.size(), active_images, image_size, image_reclaimable));
    print(row("Containers", containers.size(), active_containers, container_size, container_reclaimable));
    print(row("Local Volumes", volumes.size(), active_volumes, volume_size, volume_reclaimable));
    return 0;
  }
  print(render_table({"TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"},
                     {{"Images", std::to_string(images.size()), std::to_string(active_images), human_size(image_size),
                       percent(image_reclaimable, image_size)},
                      {"Containers", std::to_string(containers.size()), std::to_string(active_containers),
                       human_size(container_size), percent(container_reclaimable, container_size)},
                      {"Local Volumes", std::to_string(volumes.size()), std::to_string(active_volumes),
                       human_size(volume_size), percent(volume_reclaimable, volume_size)}}));
  return 0;
}

Result<int> cmd_check(const Globals& g, const ParsedArgs& a) {
  BERTH_TRY(auto e, open_engine(g));
  bool repair = !a.flag("dry-run");
  // First what killed builds left (their snapshots are mounted under the root): the build layer
  // sits above the engine, so the engine's check cannot see them.
  BERTH_TRY(auto builds, build::clean_stale_builds(e, repair));
  BERTH_TRY(auto findings, engine::check_system(e, repair));
  for (const auto& dir : builds)
    findings.push_back({fmt::format("work directory '{}' of a build that was cut short: removed with its mounts", dir),
                        repair});
  if (findings.empty()) {
    print("nothing to repair\n");
    return 0;
  }
  for (const auto& f : findings) print((f.repaired ? "repaired: " : "found: ") + f.what + "\n");
  return 0;
}

Result<int> cmd_container_prune(const Globals& g, const ParsedArgs&) {
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto containers, engine::list_containers(e));
  std::vector<std::string> removed;
  for (const auto& c : containers) {
    if (c.running()) continue;
    BERTH_TRY_VOID(engine::remove_container(e, c.id, false, false));
    removed.push_back(c.id);
  }
  if (!removed.empty()) print("Deleted Containers:\n");
  for (const auto& id : removed) print(id + "\n");
  return 0;
}

Result<int> cmd_system_prune(const Globals& g, const ParsedArgs& a) {
  BERTH_TRY(int status, cmd_container_prune(g, a));
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto images, engine::prune_images(e, a.flag("all")));
  for (const auto& d : images.deleted) print("deleted image: " + d + "\n");
  int64_t reclaimed = images.reclaimed;
  if (a.flag("volumes")) {
    BERTH_TRY(auto volumes, engine::prune_volumes(e, false, &reclaimed));
    for (const auto& v : volumes) print("deleted volume: " + v + "\n");
  }
  BERTH_TRY(auto networks, engine::prune_networks(e));
  for (const auto& n : networks) print("deleted network: " + n + "\n");
  // The build cache goes too, as `docker system prune` removes it.
  BERTH_TRY(auto cache, build::prune_cache(e));
  if (cache.entries > 0) print(fmt::format("deleted build cache objects: {}\n", cache.entries));
  reclaimed += cache.bytes;
  print("\nTotal reclaimed space: " + human_size(reclaimed) + "\n");
  return status;
}

Result<int> cmd_system_reset(const Globals& g, const ParsedArgs& a) {
  if (!a.flag("force"))
    return Error(ErrorKind::failed_precondition, "this removes every container, network, volume and image")
        .with_hint("run `berth system reset --force` if that is what you want");
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto containers, engine::list_containers(e));
  for (const auto& c : containers) BERTH_TRY_VOID(engine::remove_container(e, c.id, true, true));
  BERTH_TRY_VOID(engine::remove_all_networks(e));
  int64_t reclaimed = 0;
  BERTH_TRY(auto volumes, engine::prune_volumes(e, true, &reclaimed));
  if (auto cache = build::prune_cache(e); !cache) return std::move(cache).error();
  BERTH_TRY(auto images, engine::prune_images(e, true));
  print(fmt::format("removed {} container(s), {} volume(s), {} image(s) and every network\n", containers.size(),
                    volumes.size(), images.deleted.size()));
  return 0;
}

}  // namespace

std::vector<Command> system_commands() {
  return {
      {"events", "[OPTIONS]", "Show what happens to containers, images and volumes",
       {{"f,filter", true, "type=, event=, container=, image=, volume=, label=, project="},
        {"since", true, "from this time or duration ago (10m)"},
        {"until", true, "up to this time, then exit (without it: follow)"},
        {"format", true, "json, or a Go template: '{{.Time}} {{.Action}} {{.Actor.Attributes.name}}'"}},
       SIZE_MAX, stream_events},
      {"system events", "[OPTIONS]", "", {{"f,filter", true, ""}, {"since", true, ""}, {"until", true, ""}, {"format", true, ""}},
       SIZE_MAX, stream_events},
      {"system df", "[OPTIONS]", "Show disk usage of images, containers and volumes",
       {{"format", true, "table or json"}}, SIZE_MAX, cmd_df},
      {"system check", "[OPTIONS]", "Find and repair leftovers of crashes (mounts, monitors, half-written files)",
       {{"dry-run", false, "only report"}}, SIZE_MAX, cmd_check},
      {"system prune", "[OPTIONS]", "Remove stopped containers, dangling images and the build cache",
       {{"a,all", false, "all unused images"}, {"volumes", false, "also unused anonymous volumes"},
        {"f,force", false, "do not ask (berth never asks)"}},
       SIZE_MAX, cmd_system_prune},
      {"system reset", "--force", "Remove every container, network, volume and image of this root",
       {{"f,force", false, "yes, remove everything"}}, SIZE_MAX, cmd_system_reset},
      {"container prune", "[OPTIONS]", "Remove stopped containers", {{"f,force", false, "do not ask"}}, SIZE_MAX,
       cmd_container_prune},
  };
}

}  // namespace berth::cli
