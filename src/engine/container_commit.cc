// engine/container_commit.cc — see container_commit.h. The writable layer is packed as `berth
// diff` sees it (overlay whiteouts become OCI ones) by the same packer the builder uses.
#include "engine/container_commit.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/sys.h"
#include "engine/detail/container_records.h"
#include "engine/events.h"
#include "image/import.h"
#include "runtime/runtime.h"

namespace berth::engine {

using namespace detail;

namespace {

// CMD ["a","b"] (JSON) or CMD a b (shell form, as docker: /bin/sh -c).
std::vector<std::string> command_words(const std::string& args) {
  auto j = nlohmann::json::parse(args, nullptr, false);
  if (j.is_array()) {
    std::vector<std::string> words;
    for (const auto& w : j)
      if (w.is_string()) words.push_back(w.get<std::string>());
    if (words.size() == j.size()) return words;
  }
  return {"/bin/sh", "-c", args};
}

// "K=V" or "K V" (ENV, LABEL): the pair.
std::pair<std::string, std::string> key_value(const std::string& args) {
  auto at = args.find_first_of("= ");
  if (at == std::string::npos) return {args, ""};
  std::string value = args.substr(at + 1);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
  return {args.substr(0, at), value};
}

Result<void> apply_change(oci::ContainerConfig& c, const std::string& change) {
  std::string text = change;
  auto space = text.find(' ');
  std::string keyword = text.substr(0, space), args = space == std::string::npos ? "" : text.substr(space + 1);
  for (auto& ch : keyword) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (args.empty()) return Error::make(ErrorKind::invalid_argument, "change '{}': {} needs an argument", change, keyword);
  if (keyword == "CMD") {
    c.cmd = command_words(args);
  } else if (keyword == "ENTRYPOINT") {
    c.entrypoint = command_words(args);
  } else if (keyword == "ENV") {
    auto [k, v] = key_value(args);
    // A named prefix, not the binding: clang 14 cannot capture structured bindings.
    const std::string prefix = k + "=";
    std::erase_if(c.env, [&prefix](const std::string& e) { return e.starts_with(prefix); });
    c.env.push_back(k + "=" + v);
  } else if (keyword == "LABEL") {
    auto [k, v] = key_value(args);
    c.labels[k] = v;
  } else if (keyword == "EXPOSE") {
    c.exposed_ports.insert(args.find('/') == std::string::npos ? args + "/tcp" : args);
  } else if (keyword == "WORKDIR") {
    c.working_dir = args;
  } else if (keyword == "USER") {
    c.user = args;
  } else if (keyword == "STOPSIGNAL") {
    c.stop_signal = args;
  } else {
    return Error::make(ErrorKind::invalid_argument,
                       "change '{}': {} is not supported by commit (CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, "
                       "WORKDIR, USER, STOPSIGNAL are)",
                       change, keyword);
  }
  return {};
}

// The container's settings become the image's defaults, as docker commit does.
void take_container_defaults(oci::ContainerConfig& image, const ContainerConfig& c) {
  if (c.entrypoint) image.entrypoint = *c.entrypoint;
  if (!c.command.empty() || c.entrypoint) image.cmd = c.command;
  for (const auto& e : c.env) {
    std::string key = e.substr(0, e.find('='));
    std::erase_if(image.env, [&key](const std::string& x) { return x.substr(0, x.find('=')) == key; });
    image.env.push_back(e);
  }
  if (!c.workdir.empty()) image.working_dir = c.workdir;
  if (!c.user.empty()) image.user = c.user;
  for (const auto& [k, v] : c.labels) image.labels[k] = v;
  if (!c.stop_signal.empty()) image.stop_signal = c.stop_signal;
}

// dockerd's merge (daemon/commit.go): `user` keeps what it sets, takes the rest from `from`.
void merge_config(oci::ContainerConfig& user, const oci::ContainerConfig& from) {
  if (user.user.empty()) user.user = from.user;
  user.exposed_ports.insert(from.exposed_ports.begin(), from.exposed_ports.end());
  for (const auto& e : from.env) {
    std::string key = e.substr(0, e.find('='));
    bool set = std::any_of(user.env.begin(), user.env.end(),
                           [&key](const std::string& x) { return x.substr(0, x.find('=')) == key; });
    if (!set) user.env.push_back(e);
  }
  for (const auto& [k, v] : from.labels) user.labels.emplace(k, v);
  if (!user.entrypoint || user.entrypoint->empty()) {
    if (!user.cmd || user.cmd->empty()) user.cmd = from.cmd;
    if (!user.entrypoint) user.entrypoint = from.entrypoint;
  }
  if (!user.healthcheck) user.healthcheck = from.healthcheck;
  if (user.working_dir.empty()) user.working_dir = from.working_dir;
  user.volumes.insert(from.volumes.begin(), from.volumes.end());
  if (user.stop_signal.empty()) user.stop_signal = from.stop_signal;
  if (user.on_build.empty()) user.on_build = from.on_build;
  if (user.shell.empty()) user.shell = from.shell;
}

}  // namespace

Result<ImageRecord> commit_container(Engine& engine, const CommitOptions& o) {
  BERTH_TRY(auto r, find_container(engine, o.container));
  BERTH_TRY(auto base, get_image(engine, r.image_id));
  BERTH_TRY(auto content, read_image(engine, base));
  oci::ImageConfig config = content.config;
  take_container_defaults(config.config, r.config);
  oci::ContainerConfig wanted = o.config;
  for (const auto& change : o.changes) BERTH_TRY_VOID(apply_change(wanted, change));
  merge_config(wanted, config.config);
  config.config = std::move(wanted);

  // Paused, the container cannot change files while they are packed.
  bool paused = false;
  if (o.pause && r.state == "running") {
    BERTH_TRY_VOID(pause_container(engine, r.id, true).context(fmt::format("commit container '{}'", r.name)));
    paused = true;
  }
  image::PackOptions pack;
  pack.overlay_upper = true;
  // Uncompressed, as the builder stores its layers: compressing is for the push.
  pack.compression = image::LayerCompression::none;
  std::string upper = r.layer_dir + "/upper";
  bool empty = sys::list_dir(upper).empty();
  Result<image::PackedLayer> packed = image::PackedLayer{};
  if (!empty) packed = image::pack_layer(engine.store, upper, pack);
  if (paused) (void)pause_container(engine, r.id, false);
  if (!packed) return std::move(packed).error().context(fmt::format("commit container '{}'", r.name));

  std::vector<oci::Descriptor> layers = content.manifest.layers;
  oci::History h;
  h.created = clock::rfc3339_now();
  h.created_by = fmt::format("berth commit {}", r.name);
  h.author = o.author;
  h.comment = o.comment;
  h.empty_layer = empty;
  if (!empty) {
    layers.push_back(packed->layer);
    config.diff_ids.push_back(packed->diff_id.str());
  }
  config.history.push_back(h);
  config.created = h.created;
  if (!o.author.empty()) config.author = o.author;
  BERTH_TRY(auto written, write_image_manifest(engine, config, layers));
  BERTH_TRY(auto image, register_image(engine, written.manifest, o.names));
  auto attrs = event_attributes(r);
  attrs["comment"] = o.comment;
  (void)record_event(engine.db, "container", "commit", r.id, attrs);
  return image;
}

}  // namespace berth::engine
