// Network verbs: network create, ls, inspect, rm, prune, connect, disconnect.
#include <nlohmann/json.hpp>

#include "cli/berth/command.h"
#include "engine/containers.h"
#include "engine/networks.h"

namespace berth::cli {
namespace {

Result<int> cmd_create(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.size() != 1) return Error(ErrorKind::invalid_argument, "give one network name");
  engine::NetworkOptions o;
  o.name = a.positionals[0];
  o.driver = a.value("driver", "bridge");
  o.subnet = a.value("subnet");
  o.gateway = a.value("gateway");
  o.ip_range = a.value("ip-range");
  o.internal = a.flag("internal");
  BERTH_TRY(o.labels, key_values(a.values_of("label"), "--label"));
  BERTH_TRY(o.options, key_values(a.values_of("opt"), "--opt"));
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto n, engine::create_network(e, o));
  print(n.id + "\n");
  return 0;
}

bool matches(const engine::NetworkRecord& n, const std::vector<std::string>& filters) {
  for (const auto& f : filters) {
    auto eq = f.find('=');
    std::string key = f.substr(0, eq), value = eq == std::string::npos ? "" : f.substr(eq + 1);
    if (key == "name" && n.name.find(value) == std::string::npos) return false;
    if (key == "id" && !n.id.starts_with(value)) return false;
    if (key == "driver" && n.driver != value) return false;
    if (key == "dangling" && (value == "true") != (n.containers == 0)) return false;
    if (key == "label") {
      auto leq = value.find('=');
      auto it = n.labels.find(value.substr(0, leq));
      if (it == n.labels.end() || (leq != std::string::npos && it->second != value.substr(leq + 1))) return false;
    }
  }
  return true;
}

// docker's fields of a network in `network ls --format` (and berth's Subnet and Containers).
const std::vector<tmpl::ListFormat::Column> kNetworkColumns = {
    {"ID", "NETWORK ID"}, {"Name", "NAME"},         {"Driver", "DRIVER"},         {"Scope", "SCOPE"},
    {"IPv6", "IPV6"},     {"Internal", "INTERNAL"}, {"Labels", "LABELS"},         {"Label", "LABEL", true},
    {"CreatedAt", "CREATED AT"}, {"Subnet", "SUBNET"}, {"Containers", "CONTAINERS"}};

Result<int> cmd_ls(const Globals& g, const ParsedArgs& a) {
  for (const auto& f : a.values_of("filter")) {
    std::string key = f.substr(0, f.find('='));
    if (key != "name" && key != "id" && key != "driver" && key != "label" && key != "dangling")
      return Error::make(ErrorKind::invalid_argument, "filter '{}': use name=, id=, driver=, label= or dangling=", f);
  }
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto all, engine::list_networks(e));
  std::vector<engine::NetworkRecord> shown;
  for (auto& n : all)
    if (matches(n, a.values_of("filter"))) shown.push_back(std::move(n));
  bool full = a.flag("no-trunc");
  if (a.flag("quiet")) {
    for (const auto& n : shown) print((full ? n.id : n.id.substr(0, 12)) + "\n");
    return 0;
  }
  std::string format = a.value("format");
  if (tmpl::is_template(format)) {
    std::vector<TemplateRow> rows;
    for (const auto& n : shown)
      rows.push_back({nlohmann::json({{"ID", full ? n.id : n.id.substr(0, 12)},
                                      {"Name", n.name},
                                      {"Driver", n.driver},
                                      {"Scope", "local"},
                                      {"IPv6", "false"},
                                      {"Internal", n.internal ? "true" : "false"},
                                      {"Labels", joined_labels(n.labels)},
                                      {"CreatedAt", go_time(n.created)},
                                      {"Subnet", n.subnet},
                                      {"Containers", std::to_string(n.containers)}})
                          .dump(),
                      {{"Label", label_method(n.labels)}}});
    BERTH_TRY(auto out, format_list(format, "network ls", kNetworkColumns, rows));
    print(out);
    return 0;
  }
  if (format == "json") {
    for (const auto& n : shown)
      print(nlohmann::json({{"ID", n.id}, {"Name", n.name}, {"Driver", n.driver}, {"Scope", "local"},
                            {"Subnet", n.subnet}, {"Gateway", n.gateway}, {"Internal", n.internal},
                            {"Containers", n.containers}, {"Labels", n.labels}})
                .dump() +
            "\n");
    return 0;
  }
  if (!format.empty() && format != "table") return unknown_format(format);
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : shown)
    rows.push_back({full ? n.id : n.id.substr(0, 12), n.name, n.driver, n.subnet, n.internal ? "yes" : "",
                    std::to_string(n.containers)});
  print(render_table({"NETWORK ID", "NAME", "DRIVER", "SUBNET", "INTERNAL", "CONTAINERS"}, rows));
  return 0;
}

Result<int> cmd_inspect(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.empty()) return Error(ErrorKind::invalid_argument, "give at least one network");
  BERTH_TRY(auto e, open_engine(g));
  std::string format = a.value("format");
  std::vector<std::string> documents;
  for (const auto& name : a.positionals) {
    BERTH_TRY(auto n, engine::find_network(e, name));
    documents.push_back(engine::network_inspect_json(e, n));
  }
  if (!format.empty() && format != "json") {
    BERTH_TRY(auto out, format_documents(documents, format, "network inspect"));
    print(out);
    return 0;
  }
  std::string out = "[\n";
  for (size_t i = 0; i < documents.size(); ++i) out += documents[i] + (i + 1 < documents.size() ? ",\n" : "\n");
  print(out + "]\n");
  return 0;
}

Result<int> cmd_rm(const Globals& g, const ParsedArgs& a) {
  return for_each(
      g, a, [](engine::Engine& e, const std::string& name) { return engine::remove_network(e, name); }, true,
      "network", a.flag("force"));
}

Result<int> cmd_prune(const Globals& g, const ParsedArgs&) {
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto removed, engine::prune_networks(e));
  if (!removed.empty()) print("Deleted Networks:\n");
  for (const auto& name : removed) print(name + "\n");
  return 0;
}

Result<int> cmd_connect(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.size() != 2) return Error(ErrorKind::invalid_argument, "give a network and a container");
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY_VOID(engine::join_network(e, a.positionals[1], a.positionals[0], a.values_of("alias"), a.value("ip")));
  return 0;
}

Result<int> cmd_disconnect(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.size() != 2) return Error(ErrorKind::invalid_argument, "give a network and a container");
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY_VOID(engine::leave_network(e, a.positionals[1], a.positionals[0]));
  return 0;
}

}  // namespace

std::vector<Command> network_commands() {
  std::vector<OptionSpec> ls_options = {{"q,quiet", false, "only ids"},
                                        {"f,filter", true, "name=, id=, driver=, label=, dangling=true"},
                                        {"format", true, "table, json, or a Go template: 'table {{.Name}}\\t{{.Driver}}'"},
                                        {"no-trunc", false, "full ids"}};
  return {
      {"network create", "[OPTIONS] NAME", "Create a bridge network",
       {{"d,driver", true, "bridge (the only driver)"},
        {"subnet", true, "the network's subnet, e.g. 10.90.0.0/24 (default: a free /24 of 10.89.0.0/16)"},
        {"gateway", true, "the bridge's address (default: the subnet's first)"},
        {"ip-range", true, "hand out addresses only from this part of the subnet"},
        {"internal", false, "no traffic in or out of the network, but to and from its containers"},
        {"l,label", true, "KEY=VALUE"},
        {"o,opt", true, "driver options: mtu=1400"}},
       SIZE_MAX, cmd_create},
      {"network ls", "[OPTIONS]", "List networks", ls_options, SIZE_MAX, cmd_ls},
      {"network list", "[OPTIONS]", "", ls_options, SIZE_MAX, cmd_ls},
      {"network inspect", "[OPTIONS] NETWORK...", "Show networks in detail (JSON)",
       {{"f,format", true, "a Go template: '{{range .IPAM.Config}}{{.Subnet}}{{end}}'"}}, SIZE_MAX, cmd_inspect},
      {"network rm", "NETWORK...", "Remove networks no container uses", {{"f,force", false, "no error if missing"}},
       SIZE_MAX, cmd_rm},
      {"network prune", "[OPTIONS]", "Remove networks no container uses",
       {{"f,force", false, "do not ask (berth never asks)"}}, SIZE_MAX, cmd_prune},
      {"network connect", "[OPTIONS] NETWORK CONTAINER", "Connect a container to another network",
       {{"alias", true, "another name for the container on that network"}, {"ip", true, "a fixed IPv4 address"}},
       SIZE_MAX, cmd_connect},
      {"network disconnect", "[OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network",
       {{"f,force", false, "accepted for Docker's sake"}}, SIZE_MAX, cmd_disconnect},
  };
}

}  // namespace berth::cli
