// Image verbs: images, image import/inspect/prune/rm, tag, rmi, load, save, history.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/sys.h"
#include "cli/berth/command.h"
#include "engine/images.h"
#include "image/archive.h"
#include "image/import.h"
#include "image/reference.h"
#include "state/lock.h"

namespace berth::cli {
namespace {

using engine::ImageRecord;

std::pair<std::string, std::string> repo_and_tag(const std::string& reference) {
  auto colon = reference.rfind(':');
  if (colon == std::string::npos || reference.find('/', colon) != std::string::npos) return {reference, "<none>"};
  return {reference.substr(0, colon), reference.substr(colon + 1)};
}

std::string short_image_id(const std::string& digest) { return digest.substr(7, 12); }

// docker's fields of an image in `images --format`, with their table headers.
const std::vector<tmpl::ListFormat::Column> kImageColumns = {
    {"ID", "IMAGE ID"},     {"Repository", "REPOSITORY"}, {"Tag", "TAG"},   {"Digest", "DIGEST"},
    {"CreatedSince", "CREATED"}, {"CreatedAt", "CREATED AT"}, {"Size", "SIZE"}, {"Containers", "CONTAINERS"}};

Result<int> cmd_images(const Globals& g, const ParsedArgs& a) {
  bool dangling_only = false;
  std::string reference_filter;
  for (const auto& f : a.values_of("filter")) {
    if (f == "dangling=true") dangling_only = true;
    else if (f.starts_with("reference=")) reference_filter = f.substr(10);
    else
      return Error::make(ErrorKind::invalid_argument, "filter '{}': use dangling=true or reference=NAME", f);
  }
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto images, engine::list_images(e));
  struct Row {
    const ImageRecord* image;
    std::string repository, tag;
  };
  std::vector<Row> rows;
  for (const auto& image : images) {
    if (dangling_only && !image.tags.empty()) continue;
    if (image.tags.empty()) {
      if (reference_filter.empty()) rows.push_back({&image, "<none>", "<none>"});
      continue;
    }
    for (const auto& tag : image.tags) {
      auto [repo, t] = repo_and_tag(tag);
      if (!reference_filter.empty() && repo.find(reference_filter) == std::string::npos && tag != reference_filter)
        continue;
      rows.push_back({&image, repo, t});
    }
  }
  if (!a.positionals.empty()) {
    std::erase_if(rows, [&](const Row& r) {
      return r.repository.find(a.positionals[0]) == std::string::npos;
    });
  }
  if (a.flag("quiet")) {
    std::vector<std::string> seen;
    for (const auto& r : rows) {
      std::string id = a.flag("no-trunc") ? r.image->config_digest : short_image_id(r.image->config_digest);
      if (std::find(seen.begin(), seen.end(), id) == seen.end()) seen.push_back(id);
    }
    for (const auto& id : seen) print(id + "\n");
    return 0;
  }
  std::string format = a.value("format");
  if (tmpl::is_template(format)) {
    bool full = a.flag("no-trunc");
    std::vector<TemplateRow> table;
    for (const auto& r : rows)
      table.push_back({nlohmann::json({{"ID", full ? r.image->config_digest : short_image_id(r.image->config_digest)},
                                       {"Repository", r.repository},
                                       {"Tag", r.tag},
                                       {"Digest", r.image->id.empty() ? "<none>" : r.image->id},
                                       {"CreatedSince", human_ago(r.image->created)},
                                       {"CreatedAt", go_time(r.image->created)},
                                       {"Size", human_size(r.image->size)},
                                       {"Containers", std::to_string(r.image->containers)}})
                           .dump()});
    BERTH_TRY(auto out, format_list(format, "images", kImageColumns, table));
    print(out);
    return 0;
  }
  if (format == "json") {
    for (const auto& r : rows)
      print(nlohmann::json({{"ID", r.image->config_digest}, {"Repository", r.repository}, {"Tag", r.tag},
                            {"Digest", r.image->id}, {"CreatedAt", clock::rfc3339(r.image->created)},
                            {"Size", r.image->size}, {"Containers", r.image->containers}})
                .dump() + "\n");
    return 0;
  }
  if (!format.empty() && format != "table") return unknown_format(format);
  std::vector<std::vector<std::string>> table;
  for (const auto& r : rows)
    table.push_back({r.repository, r.tag, a.flag("no-trunc") ? r.image->config_digest : short_image_id(r.image->config_digest),
                     human_ago(r.image->created), human_size(r.image->size)});
  print(render_table({"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"}, table));
  return 0;
}

// `--change 'CMD ["sh"]'` as docker import takes them: CMD, ENTRYPOINT, ENV, WORKDIR, USER,
// EXPOSE, LABEL, STOPSIGNAL; JSON or shell form.
Result<void> apply_change(image::ConfigChanges& changes, const std::string& text) {
  auto space = text.find_first_of(" \t");
  std::string keyword = text.substr(0, space);
  for (auto& ch : keyword) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  std::string rest = space == std::string::npos ? "" : text.substr(text.find_first_not_of(" \t", space));
  auto words = [&]() -> std::vector<std::string> {
    auto j = nlohmann::json::parse(rest, nullptr, false);
    if (j.is_array()) {
      std::vector<std::string> out;
      for (const auto& v : j)
        if (v.is_string()) out.push_back(v.get<std::string>());
      return out;
    }
    return {"/bin/sh", "-c", rest};
  };
  auto pairs = [&](auto&& add) {
    for (const auto& word : sys::split(rest, ' '))
      if (!word.empty()) add(word);
  };
  if (keyword == "CMD") changes.cmd = words();
  else if (keyword == "ENTRYPOINT") changes.entrypoint = words();
  else if (keyword == "WORKDIR") changes.working_dir = rest;
  else if (keyword == "USER") changes.user = rest;
  else if (keyword == "STOPSIGNAL") changes.stop_signal = rest;
  else if (keyword == "EXPOSE") pairs([&](const std::string& p) { changes.exposed_ports.push_back(p); });
  else if (keyword == "ENV") {
    if (rest.find('=') == std::string::npos) {
      auto sp = rest.find(' ');
      if (sp == std::string::npos) return Error::make(ErrorKind::invalid_argument, "--change '{}': ENV needs NAME=value", text);
      changes.env.push_back(rest.substr(0, sp) + "=" + rest.substr(sp + 1));
    } else {
      pairs([&](const std::string& p) { changes.env.push_back(p); });
    }
  } else if (keyword == "LABEL") {
    pairs([&](const std::string& p) {
      auto eq = p.find('=');
      changes.labels[p.substr(0, eq)] = eq == std::string::npos ? "" : p.substr(eq + 1);
    });
  } else {
    return Error::make(ErrorKind::invalid_argument,
                       "--change '{}': use CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL or STOPSIGNAL", text);
  }
  return {};
}

Result<int> cmd_import(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.empty() || a.positionals.size() > 2)
    return Error(ErrorKind::invalid_argument, "give a tar file (or - for stdin, or a directory) and a name")
        .with_hint("berth image import rootfs.tar myimage:1");
  image::ImportOptions o;
  for (const auto& change : a.values_of("change")) BERTH_TRY_VOID(apply_change(o.changes, change));
  o.comment = a.value("message");
  std::string source = a.positionals[0];
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto gc, state::ObjectLock::acquire(e.layout.locks(), "gc", "images", state::ObjectLock::Mode::shared));
  Result<image::ImportResult> imported = Error(ErrorKind::internal, "unset");
  struct stat st;
  if (source != "-" && ::stat(source.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    imported = image::import_directory(e.store, source, o);
  } else {
    int fd = 0;
    UniqueFd file;
    if (source != "-") {
      BERTH_TRY(file, sys::open(source, O_RDONLY | O_CLOEXEC));
      fd = file.get();
    }
    imported = image::import_tar(e.store, fd, o);
  }
  if (!imported) return std::move(imported).error().context("import '" + source + "'");
  for (const auto& w : imported->warnings) std::fprintf(stderr, "WARNING: %s\n", w.c_str());
  std::vector<std::string> names;
  if (a.positionals.size() == 2) names.push_back(a.positionals[1]);
  BERTH_TRY(auto image, engine::register_image(e, imported->manifest, names));
  print(image.config_digest + "\n");
  return 0;
}

Result<int> cmd_load(const Globals& g, const ParsedArgs& a) {
  std::string input = a.value("input", "-");
  if (input == "-" && ::isatty(0))
    return Error(ErrorKind::invalid_argument, "no archive given: stdin is a terminal")
        .with_hint("berth load -i image.tar   or   berth load < image.tar");
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto gc, state::ObjectLock::acquire(e.layout.locks(), "gc", "images", state::ObjectLock::Mode::shared));
  image::LoadOptions o;
  bool quiet = a.flag("quiet");
  bool tty = ::isatty(2);
  if (!quiet && tty)
    o.progress = [](std::string_view what, int64_t bytes) {
      std::fprintf(stderr, "\r\033[K%.*s: %s", static_cast<int>(what.size()), what.data(), human_size(bytes).c_str());
    };
  BERTH_TRY(auto loaded, image::load_archive(e.store, input, o));
  if (!quiet && tty) std::fputs("\r\033[K", stderr);
  for (const auto& w : loaded.warnings) std::fprintf(stderr, "WARNING: %s\n", w.c_str());
  for (const auto& item : loaded.images) {
    BERTH_TRY(auto image, engine::register_image(e, item.manifest, item.names));
    if (item.names.empty()) print("Loaded image ID: " + image.config_digest + "\n");
    for (const auto& name : image.tags)
      if (std::find(item.names.begin(), item.names.end(), name) != item.names.end() || item.names.empty())
        print("Loaded image: " + name + "\n");
    for (const auto& name : item.names)
      if (std::find(image.tags.begin(), image.tags.end(), name) == image.tags.end()) print("Loaded image: " + name + "\n");
  }
  return 0;
}

Result<int> cmd_save(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.empty()) return Error(ErrorKind::invalid_argument, "give at least one image");
  BERTH_TRY(auto format, image::parse_archive_format(a.value("format", "docker-archive")));
  std::string output = a.value("output", "-");
  if (output == "-" && ::isatty(1))
    return Error(ErrorKind::invalid_argument, "refusing to write an archive to a terminal")
        .with_hint("berth save -o image.tar IMAGE   or   berth save IMAGE > image.tar");
  BERTH_TRY(auto e, open_engine(g));
  std::vector<image::SaveItem> items;
  for (const auto& name : a.positionals) {
    BERTH_TRY(auto image, engine::find_image(e, name));
    oci::Descriptor d;
    d.media_type = image.media_type;
    d.digest = image.id;
    BERTH_TRY(auto digest, image::Digest::parse(image.id));
    BERTH_TRY(d.size, e.store.size(digest));
    std::vector<std::string> names;
    auto ref = image::Reference::parse(name);
    if (ref && std::find(image.tags.begin(), image.tags.end(), ref->to_string()) != image.tags.end())
      names.push_back(ref->to_string());
    else
      names = image.tags;
    items.push_back({d, names});
  }
  if (output == "-") {
    BERTH_TRY_VOID(image::save_archive_to_fd(e.store, items, format, 1));
    return 0;
  }
  BERTH_TRY_VOID(image::save_archive(e.store, items, format, output));
  return 0;
}

const std::vector<tmpl::ListFormat::Column> kHistoryColumns = {
    {"ID", "IMAGE"}, {"CreatedSince", "CREATED"}, {"CreatedAt", "CREATED AT"}, {"CreatedBy", "CREATED BY"},
    {"Size", "SIZE"}, {"Comment", "COMMENT"}};

// `history`: newest step first, as docker prints it; each step that made a layer shows that
// layer's size, the others 0B; only the top row names the image.
Result<int> cmd_history(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.size() != 1) return Error(ErrorKind::invalid_argument, "give one image").with_hint("berth history IMAGE");
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto image, engine::find_image(e, a.positionals[0]));
  BERTH_TRY(auto content, engine::read_image(e, image));
  bool full = a.flag("no-trunc");
  struct Row {
    std::string id, created_by, comment;
    int64_t created = 0, size = 0;
  };
  std::vector<Row> rows;
  size_t layer = 0;
  const auto& history = content.config.history;
  for (size_t i = 0; i < history.size(); ++i) {
    Row r;
    r.created_by = history[i].created_by;
    r.comment = history[i].comment;
    r.created = clock::parse_rfc3339(history[i].created).value_or(0);
    if (!history[i].empty_layer && layer < content.manifest.layers.size()) r.size = content.manifest.layers[layer++].size;
    r.id = "<missing>";
    rows.push_back(r);
  }
  if (rows.empty()) rows.push_back({"", "", "", image.created, image.size});
  rows.back().id = full ? image.config_digest : short_image_id(image.config_digest);
  std::reverse(rows.begin(), rows.end());
  if (a.flag("quiet")) {
    for (const auto& r : rows) print(r.id + "\n");
    return 0;
  }
  std::string format = a.value("format");
  auto shown_by = [&](const std::string& text) {
    return full || text.size() <= 45 ? text : text.substr(0, 44) + "…";
  };
  if (tmpl::is_template(format) || format == "json") {
    std::vector<TemplateRow> table;
    for (const auto& r : rows)
      table.push_back({nlohmann::json({{"ID", r.id},
                                       {"CreatedSince", human_ago(r.created)},
                                       {"CreatedAt", clock::rfc3339(r.created)},
                                       {"CreatedBy", format == "json" ? r.created_by : shown_by(r.created_by)},
                                       {"Size", format == "json" ? nlohmann::json(r.size) : nlohmann::json(human_size(r.size))},
                                       {"Comment", r.comment}})
                           .dump()});
    if (format == "json") {
      for (const auto& row : table) print(row.json + "\n");
      return 0;
    }
    BERTH_TRY(auto out, format_list(format, "history", kHistoryColumns, table));
    print(out);
    return 0;
  }
  if (!format.empty() && format != "table") return unknown_format(format);
  std::vector<std::vector<std::string>> table;
  for (const auto& r : rows)
    table.push_back({r.id, human_ago(r.created), shown_by(r.created_by), human_size(r.size), r.comment});
  print(render_table({"IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"}, table));
  return 0;
}

Result<int> cmd_image_inspect(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.empty()) return Error(ErrorKind::invalid_argument, "give at least one image");
  BERTH_TRY(auto e, open_engine(g));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& name : a.positionals) {
    BERTH_TRY(auto image, engine::find_image(e, name));
    BERTH_TRY(auto content, engine::read_image(e, image));
    BERTH_TRY(auto config_digest, image::Digest::parse(image.config_digest));
    BERTH_TRY(auto config_json, e.store.read(config_digest));
    auto config = nlohmann::json::parse(config_json, nullptr, false);
    nlohmann::json repo_digests = nlohmann::json::array();
    for (const auto& tag : image.tags) repo_digests.push_back(repo_and_tag(tag).first + "@" + image.id);
    out.push_back({{"Id", image.config_digest},
                   {"RepoTags", image.tags},
                   {"RepoDigests", repo_digests},
                   {"Created", clock::rfc3339(image.created)},
                   {"Size", image.size},
                   {"Architecture", content.config.architecture},
                   {"Os", content.config.os},
                   {"Config", config.value("config", nlohmann::json::object())},
                   {"RootFS", {{"Type", "layers"}, {"Layers", content.config.diff_ids}}},
                   {"Manifest", {{"Digest", image.id}, {"MediaType", image.media_type}}}});
  }
  std::string format = a.value("format");
  if (!format.empty() && format != "json") {
    std::vector<std::string> documents;
    for (const auto& item : out) documents.push_back(item.dump());
    BERTH_TRY(auto text, format_documents(documents, format, "image inspect"));
    print(text);
    return 0;
  }
  print(out.dump(4) + "\n");
  return 0;
}

Result<int> cmd_rmi(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.empty()) return Error(ErrorKind::invalid_argument, "give at least one image");
  BERTH_TRY(auto e, open_engine(g));
  int status = 0;
  for (const auto& name : a.positionals) {
    auto removed = engine::remove_image(e, name, a.flag("force"));
    if (!removed) {
      report(removed.error());
      status = 1;
      continue;
    }
    for (const auto& r : removed->untagged) print("Untagged: " + r + "\n");
    for (const auto& d : removed->deleted) print("Deleted: " + d + "\n");
  }
  return status;
}

Result<int> cmd_image_prune(const Globals& g, const ParsedArgs& a) {
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY(auto removed, engine::prune_images(e, a.flag("all")));
  if (!removed.deleted.empty() || !removed.untagged.empty()) print("Deleted Images:\n");
  for (const auto& r : removed.untagged) print("untagged: " + r + "\n");
  for (const auto& d : removed.deleted) print("deleted: " + d + "\n");
  print("\nTotal reclaimed space: " + human_size(removed.reclaimed) + "\n");
  return 0;
}

Result<int> cmd_tag(const Globals& g, const ParsedArgs& a) {
  if (a.positionals.size() != 2) return Error(ErrorKind::invalid_argument, "give a source image and a new name");
  BERTH_TRY(auto e, open_engine(g));
  BERTH_TRY_VOID(engine::tag_image(e, a.positionals[0], a.positionals[1]));
  return 0;
}

}  // namespace

std::vector<Command> image_commands() {
  std::vector<OptionSpec> list_options = {{"a,all", false, "show all images (the default)"},
                                          {"q,quiet", false, "only image ids"},
                                          {"f,filter", true, "dangling=true, reference=NAME"},
                                          {"format", true, "table, json, or a Go template: 'table {{.Repository}}\\t{{.Tag}}'"},
                                          {"no-trunc", false, "full image ids"}};
  std::vector<OptionSpec> import_options = {{"c,change", true, "apply a Dockerfile instruction (CMD, ENV, ...)"},
                                            {"m,message", true, "a history comment"}};
  std::vector<OptionSpec> history_options = {{"no-trunc", false, "show whole ids and commands"},
                                             {"q,quiet", false, "print only the image id"},
                                             {"format", true, "table, json or a Go template"},
                                             {"H,human", false, "human sizes and times (the default)"}};
  std::vector<OptionSpec> load_options = {{"i,input", true, "read this archive or OCI layout directory (default stdin)"},
                                          {"q,quiet", false, "no progress"}};
  std::vector<OptionSpec> save_options = {{"o,output", true, "write here (default stdout)"},
                                          {"format", true, "docker-archive (default), oci-archive or oci-dir"}};
  std::vector<OptionSpec> rmi_options = {{"f,force", false, "also images used by containers (removes only their names)"}};
  std::vector<OptionSpec> prune_options = {{"a,all", false, "every image no container uses, not only dangling ones"},
                                           {"f,force", false, "do not ask (berth never asks)"}};
  std::vector<OptionSpec> inspect_options = {{"f,format", true, "a Go template: '{{.Id}}', '{{json .Config}}'"}};
  std::vector<Command> c = {
      {"images", "[OPTIONS] [REPOSITORY]", "List images", list_options, SIZE_MAX, cmd_images},
      {"image ls", "[OPTIONS] [REPOSITORY]", "", list_options, SIZE_MAX, cmd_images},
      {"image import", "FILE|DIR|- [NAME[:TAG]]", "Make an image from a root file system (tar or directory)",
       import_options, SIZE_MAX, cmd_import},
      {"import", "FILE|DIR|- [NAME[:TAG]]", "", import_options, SIZE_MAX, cmd_import},
      {"load", "[OPTIONS]", "Load images from a docker-archive, OCI archive or OCI layout", load_options, SIZE_MAX,
       cmd_load},
      {"image load", "[OPTIONS]", "", load_options, SIZE_MAX, cmd_load},
      {"save", "[OPTIONS] IMAGE...", "Save images to an archive", save_options, SIZE_MAX, cmd_save},
      {"image save", "[OPTIONS] IMAGE...", "", save_options, SIZE_MAX, cmd_save},
      {"image inspect", "IMAGE...", "Show images in detail (JSON)", inspect_options, SIZE_MAX, cmd_image_inspect},
      {"tag", "SOURCE TARGET", "Give an image another name", {}, SIZE_MAX, cmd_tag},
      {"image tag", "SOURCE TARGET", "", {}, SIZE_MAX, cmd_tag},
      {"rmi", "[OPTIONS] IMAGE...", "Remove images", rmi_options, SIZE_MAX, cmd_rmi},
      {"image rm", "[OPTIONS] IMAGE...", "", rmi_options, SIZE_MAX, cmd_rmi},
      {"image prune", "[OPTIONS]", "Remove unused images", prune_options, SIZE_MAX, cmd_image_prune},
      {"history", "[OPTIONS] IMAGE", "Show the steps an image was built with", history_options, SIZE_MAX, cmd_history},
      {"image history", "[OPTIONS] IMAGE", "", history_options, SIZE_MAX, cmd_history},
  };
  return c;
}

}  // namespace berth::cli
