// Volume verbs: volume create, ls, inspect, rm, prune.
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "cli/berth/command.h"
#include "engine/volumes.h"

namespace berth::cli {
namespace {

nlohmann::json volume_json(const engine::VolumeRecord& v) {
  return {{"Name", v.name}, {"Driver", v.driver}, {"Mountpoint", v.mountpoint}, {"Labels", v.labels},
          {"Options", v.options}, {"Scope", "local"}, {"CreatedAt", clock::rfc3339(v.created)},
          {"UsedBy", v.containers}};
}

// docker's fields of a volume in `volume ls --format`, with their table headers.
const std::vector<tmpl::ListFormat::Column> kVolumeColumns = {
    {"Name", "VOLUME NAME"}, {"Driver", "DRIVER"}, {"Scope", "SCOPE"}, {"Mountpoint", "MOUNTPOINT"},
    {"Labels", "LABELS"},    {"Label", "LABEL", true}, {"Links", "LINKS"}, {"Size", "SIZE"}};

Result<int> cmd_create(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.size() > 1) return Error(ErrorKind::invalid_argument, "give at most one volume name");
  BERTH_TRY(auto labels, key_values(a.values_of("label"), "--label"));
  BERTH_TRY(auto options, key_values(a.values_of("opt"), "--opt"));
  if (a.flag("driver") && a.value("driver") != "local")
    return Error::make(ErrorKind::invalid_argument, "volume driver '{}': only 'local' exists", a.value("driver"));
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto v, engine::create_volume(e, a.positionals.empty() ? "" : a.positionals[0], labels, options));
  print(v.name + "\n");
  return 0;
}

Result<int> cmd_ls(const Globals& g, const ParsedArgs& a) {
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto volumes, engine::list_volumes(e));
  for (const auto& f : a.values_of("filter")) {
    if (f == "dangling=true") std::erase_if(volumes, [](const auto& v) { return !v.containers.empty(); });
    else if (f == "dangling=false") std::erase_if(volumes, [](const auto& v) { return v.containers.empty(); });
    else if (f.starts_with("name=")) std::erase_if(volumes, [&](const auto& v) { return v.name.find(f.substr(5)) == std::string::npos; });
    else if (f.starts_with("label=")) {
      std::string label = f.substr(6);
      auto eq = label.find('=');
      std::erase_if(volumes, [&](const auto& v) {
        auto it = v.labels.find(label.substr(0, eq));
        return it == v.labels.end() || (eq != std::string::npos && it->second != label.substr(eq + 1));
      });
    } else {
      return Error::make(ErrorKind::invalid_argument, "filter '{}': use dangling=true|false, name= or label=", f);
    }
  }
  if (a.flag("quiet")) {
    for (const auto& v : volumes) print(v.name + "\n");
    return 0;
  }
  std::string format = a.value("format");
  if (tmpl::is_template(format)) {
    std::vector<TemplateRow> rows;
    for (const auto& v : volumes)
      rows.push_back({nlohmann::json({{"Name", v.name},
                                      {"Driver", v.driver},
                                      {"Scope", "local"},
                                      {"Mountpoint", v.mountpoint},
                                      {"Labels", joined_labels(v.labels)},
                                      {"Links", "N/A"},
                                      {"Size", "N/A"}})
                          .dump(),
                      {{"Label", label_method(v.labels)}}});
    BERTH_TRY(auto out, format_list(format, "volume ls", kVolumeColumns, rows));
    print(out);
    return 0;
  }
  if (format == "json") {
    for (const auto& v : volumes) print(volume_json(v).dump() + "\n");
    return 0;
  }
  if (!format.empty() && format != "table") return unknown_format(format);
  std::vector<std::vector<std::string>> rows;
  for (const auto& v : volumes) rows.push_back({v.driver, v.name});
  print(render_table({"DRIVER", "VOLUME NAME"}, rows));
  return 0;
}

Result<int> cmd_inspect(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.empty()) return Error(ErrorKind::invalid_argument, "give at least one volume");
  BERTH_TRY(auto e, open_engine(g));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& name : a.positionals) {
    BERTH_TRY(auto v, engine::get_volume(e, name));
    out.push_back(volume_json(v));
  }
  std::string format = a.value("format");
  if (!format.empty() && format != "json") {
    std::vector<std::string> documents;
    for (const auto& v : out) documents.push_back(v.dump());
    BERTH_TRY(auto text, format_documents(documents, format, "volume inspect"));
    print(text);
    return 0;
  }
  print(out.dump(4) + "\n");
  return 0;
}

Result<int> cmd_rm(const Globals& g, const ParsedArgs& a) {
  bool force = a.flag("force");
  return for_each(
      g, a, [&](engine::Engine& e, const std::string& name) { return engine::remove_volume(e, name, force); }, true,
      "volume", force);
}

Result<int> cmd_prune(const Globals& g, const ParsedArgs& a) {
  BERTH_TRY(auto e, open_engine(g));
  int64_t reclaimed = 0;
  BERTH_TRY(auto removed, engine::prune_volumes(e, a.flag("all"), &reclaimed));
  if (!removed.empty()) print("Deleted Volumes:\n");
  for (const auto& name : removed) print(name + "\n");
  print("\nTotal reclaimed space: " + human_size(reclaimed) + "\n");
  return 0;
}

}  // namespace

std::vector<Command> volume_commands() {
  std::vector<OptionSpec> ls_options = {{"q,quiet", false, "only names"},
                                        {"f,filter", true, "dangling=true|false, name=, label="},
                                        {"format", true, "table, json, or a Go template: 'table {{.Name}}\\t{{.Mountpoint}}'"}};
  std::vector<OptionSpec> rm_options = {{"f,force", false, "no error for volumes that do not exist"}};
  return {
      {"volume create", "[OPTIONS] [NAME]", "Create a volume",
       {{"d,driver", true, "local (the only driver)"}, {"l,label", true, "KEY=VALUE"}, {"o,opt", true, "driver options"}},
       SIZE_MAX, cmd_create},
      {"volume ls", "[OPTIONS]", "List volumes", ls_options, SIZE_MAX, cmd_ls},
      {"volume list", "[OPTIONS]", "", ls_options, SIZE_MAX, cmd_ls},
      {"volume inspect", "[OPTIONS] VOLUME...", "Show volumes in detail (JSON)",
       {{"f,format", true, "a Go template: '{{.Mountpoint}}'"}}, SIZE_MAX, cmd_inspect},
      {"volume rm", "[OPTIONS] VOLUME...", "Remove volumes no container uses", rm_options, SIZE_MAX, cmd_rm},
      {"volume prune", "[OPTIONS]", "Remove unused anonymous volumes (all unused with -a)",
       {{"a,all", false, "named volumes too"}, {"f,force", false, "do not ask (berth never asks)"}}, SIZE_MAX,
       cmd_prune},
  };
}

}  // namespace berth::cli
