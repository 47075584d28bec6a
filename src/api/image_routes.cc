// api/image_routes.cc — /build and /images/...
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "api/routes.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sys.h"
#include "build/build.h"
#include "engine/images.h"
#include "engine/networks.h"

namespace berth::api::detail {

// --- build --------------------------------------------------------------------------------

http::Dispatch DockerApi::build(const ServerRequest& request) {
  http::Dispatch d;
  auto query = build_query_from(request.query);
  if (!query) {
    d.response = error_response(query.error());
    return d;
  }
  // Named as the CLI names a context from stdin, so a build killed half-way has it removed
  // by the next one (build::clean_stale_builds).
  std::string scratch =
      fmt::format("{}/build/context-{}-{}", options_.layout.root, ::getpid(), sys::random_hex(6));
  if (auto made = sys::mkdir_all(scratch + "/context", 0700); !made) {
    d.response = error_response(made.error());
    return d;
  }
  auto file = sys::open(scratch + "/context.tar", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (!file) {
    (void)sys::remove_all(scratch);
    d.response = error_response(file.error());
    return d;
  }
  // The tar context streams to a file, then the build answers docker's JSON progress stream:
  // {"stream": ...} lines, {"aux": {"ID": ...}}, and {"error": ..., "errorDetail": ...}.
  d.sink = file_sink(std::move(*file), scratch, [this, q = std::move(*query), scratch](int fd) {
    run_build(fd, q, scratch);
    return ServerResponse{0};
  });
  return d;
}

namespace {

// The Dockerfile named in the query, inside the uploaded context: its path and any symlink on
// the way resolve within the context (openat2 RESOLVE_IN_ROOT), as docker resolves them, never
// to the host's files; only a regular file is read (a FIFO in the archive would block).
Result<std::string> read_in_context(const std::string& context, const std::string& path) {
  BERTH_TRY(auto root, sys::open(context, O_PATH | O_DIRECTORY | O_CLOEXEC));
  BERTH_TRY(auto file, sys::open_in_root(root.get(), path, O_RDONLY | O_NONBLOCK | O_NOCTTY, "the build context"));
  struct ::stat st;
  if (::fstat(file.get(), &st) < 0 || !S_ISREG(st.st_mode))
    return Error::make(ErrorKind::invalid_argument, "'{}' in the build context is not a file", path);
  return sys::read_fd(file.get());
}

}  // namespace

void DockerApi::run_build(int fd, const BuildQuery& q, const std::string& scratch) {
  if (!sys::write_all(
          fd, response_head(200, {{"Content-Type", "application/json"}, {"Connection", "close"}})))
    return;
  auto say = [fd](const json& j) { (void)sys::write_all(fd, j.dump() + "\n"); };
  auto fail = [&](const std::string& message) {
    say({{"errorDetail", {{"message", message}}}, {"error", message}});
  };
  proc::RunOptions x;
  x.path = "/bin/tar";
  x.args = {"tar", "-xf", scratch + "/context.tar", "-C", scratch + "/context", "--no-same-owner"};
  auto rc = proc::run(x);
  ::unlink((scratch + "/context.tar").c_str());
  if (!rc || *rc != 0) return fail("the build context is not a readable tar archive");
  build::BuildOptions o;
  o.context_dir = scratch + "/context";
  auto text = read_in_context(o.context_dir, q.dockerfile);
  if (!text) return fail(fmt::format("Cannot locate specified Dockerfile: {}", q.dockerfile));
  o.dockerfile_text = *text;
  o.dockerfile_name = q.dockerfile;
  o.tags = q.tags;
  o.build_args = q.build_args;
  o.labels = q.labels;
  o.target = q.target;
  o.no_cache = q.no_cache;
  o.network = q.network;
  o.memory = q.memory;
  const bool quiet = q.quiet;
  std::mutex said;
  if (!quiet)
    o.progress = [&](const build::StepEvent& ev) {
      std::lock_guard lock(said);
      using Kind = build::StepEvent::Kind;
      switch (ev.kind) {
        case Kind::started:
          say({{"stream", fmt::format("Step {} : {}\n", ev.vertex, ev.name)}});
          break;
        case Kind::output:
          say({{"stream", ev.text + "\n"}});
          break;
        case Kind::cached:
          say({{"stream", " ---> Using cache\n"}});
          break;
        case Kind::failed:
          break;  // the error below says it
        case Kind::note:
          say({{"stream", ev.name + "\n"}});
          break;
        case Kind::done:
          break;
      }
    };
  auto e = open();
  if (!e) return fail(e.error().message());
  auto result = build::build_image(*e, o);
  if (!result) return fail(result.error().message());
  say({{"aux", {{"ID", result->image_id}}}});
  if (!quiet) {
    say({{"stream", fmt::format("Successfully built {}\n", result->image_id.substr(7, 12))}});
    for (const auto& t : o.tags) say({{"stream", fmt::format("Successfully tagged {}\n", t)}});
  }
}

// --- images -------------------------------------------------------------------------------

ServerResponse DockerApi::images(const std::string& m, const std::vector<std::string>& parts,
                                 const ServerRequest& r) {
  auto e = open();
  if (!e) return error_response(e.error());
  if (parts.size() == 2 && parts[1] == "json" && m == "GET") {
    auto all = engine::list_images(*e);
    if (!all) return error_response(all.error());
    auto filters =
        parse_filters(r.query_value("filters").value_or(""), {"reference", "dangling", "label"});
    if (!filters) return error_response(filters.error());
    json out = json::array();
    for (const auto& i : *all) {
      if (auto it = filters->find("dangling"); it != filters->end() && !it->second.empty())
        if ((it->second[0] == "true") != i.tags.empty()) continue;
      json digests = json::array();
      for (const auto& t : i.tags) digests.push_back(familiar(t.substr(0, t.rfind(':'))) + "@" + i.id);
      out.push_back({{"Id", i.config_digest},
                     {"ParentId", ""},
                     {"RepoTags", i.tags.empty() ? json::array({"<none>:<none>"}) : familiar(i.tags)},
                     {"RepoDigests", digests},
                     {"Created", i.created / 1'000'000'000},
                     {"Size", i.size},
                     {"VirtualSize", i.size},
                     {"SharedSize", -1},
                     {"Labels", json::object()},
                     {"Containers", i.containers}});
    }
    return json_response(200, out);
  }
  if (parts.size() == 2 && parts[1] == "create" && m == "POST") return pull(r);
  if (parts.size() == 2 && parts[1] == "search" && m == "GET")
    return json_response(200, json::array());
  if (parts.size() == 2 && parts[1] == "get" && m == "GET") {
    std::vector<std::string> names;
    for (const auto& [k, v] : r.query)
      if (k == "names" && !v.empty()) names.push_back(v);
    return save(names);
  }
  // Names hold slashes ("localhost/busybox:latest"): the action is the last part.
  auto joined = [&](size_t end) {
    std::string name;
    for (size_t i = 1; i < end; ++i) name += (name.empty() ? "" : "/") + parts[i];
    return name;
  };
  if (m == "DELETE" && parts.size() >= 2)
    return remove_image(joined(parts.size()), query_flag(r, "force"));
  if (parts.size() < 3) return error_response(404, "page not found");
  std::string action = parts.back();
  std::string name = joined(parts.size() - 1);
  if (m == "GET" && action == "json") {
    auto image = engine::find_image(*e, name);
    if (!image) return error_response(no_such(image.error(), "image", name));
    auto doc = engine::image_inspect_json(*e, *image);
    if (!doc) return error_response(doc.error());
    auto shown = json::parse(*doc);
    for (const char* key : {"RepoTags", "RepoDigests"})
      for (auto& name : shown[key]) name = familiar(name.get<std::string>());
    ServerResponse resp{200};
    resp.body = shown.dump();
    resp.set("Content-Type", "application/json");
    set_common_headers(resp);
    return resp;
  }
  if (m == "GET" && action == "history") return history(name);
  if (m == "GET" && action == "get") return save({name});
  if (m == "POST" && action == "push") return push(name, r);
  if (m == "POST" && action == "tag") {
    std::string repo = r.query_value("repo").value_or("");
    std::string tag = r.query_value("tag").value_or("");
    if (repo.empty())
      return error_response(400, "repository name must have at least one component");
    if (auto image = engine::find_image(*e, name); !image)
      return error_response(no_such(image.error(), "image", name));
    if (auto done = engine::tag_image(*e, name, tag.empty() ? repo : repo + ":" + tag); !done)
      return error_response(done.error());
    return empty_response(201);
  }
  return error_response(404, fmt::format("page not found: {} {}", m, r.path));
}

ServerResponse DockerApi::remove_image(const std::string& name, bool force) {
  auto e = open();
  if (!e) return error_response(e.error());
  auto removed = engine::remove_image(*e, name, force);
  if (!removed) return error_response(no_such(removed.error(), "image", name));
  json out = json::array();
  for (const auto& u : removed->untagged) out.push_back({{"Untagged", u}});
  for (const auto& d : removed->deleted) out.push_back({{"Deleted", d}});
  return json_response(200, out);
}

}  // namespace berth::api::detail
