// api/image_transfer_routes.cc — images in and out: POST /images/create (pull, docker's
// progress JSON stream), POST /images/{name}/push, GET /images/{name}/history,
// GET /images/get and /images/{name}/get (save), POST /images/load, POST /auth,
// GET /images/search (empty: berth searches no index).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include "api/bodies.h"
#include "api/routes.h"
#include "base/clock.h"
#include "base/sys.h"
#include "engine/images.h"
#include "http/client.h"
#include "image/archive.h"
#include "image/reference.h"
#include "registry/client.h"
#include "state/lock.h"

namespace berth::api::detail {
namespace {

// X-Registry-Auth: base64url of {"username", "password", "serveraddress"}; "e30=" ({}) or
// absent: anonymous.
Result<std::optional<registry::Credentials>> registry_auth(const ServerRequest& r) {
  const std::string* header = r.header("X-Registry-Auth");
  if (!header || header->empty()) return std::optional<registry::Credentials>();
  std::string text = *header;
  std::replace(text.begin(), text.end(), '-', '+');
  std::replace(text.begin(), text.end(), '_', '/');
  while (text.size() % 4) text += '=';
  auto decoded = http::base64_decode(text);
  if (!decoded)
    return Error(ErrorKind::invalid_argument, "X-Registry-Auth: not base64 of a JSON object");
  // The same fields as POST /auth's body (serveraddress is the image's registry here).
  auto login = login_from_json(*decoded);
  if (!login) return login.error().context("X-Registry-Auth");
  if (login->user.empty() && login->password.empty()) return std::optional<registry::Credentials>();
  return std::optional(registry::Credentials{login->user, login->password});
}

std::string short_id(const std::string& digest) {
  auto colon = digest.find(':');
  return digest.substr(colon == std::string::npos ? 0 : colon + 1, 12);
}

std::string progress_bar(int64_t done, int64_t size) {
  constexpr int kWidth = 50;
  int filled = size > 0 ? static_cast<int>(kWidth * std::min(done, size) / size) : kWidth;
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  return "[" + bar + "]";
}

// A registry transfer's events as docker's progress messages.
registry::ProgressFn progress_stream(const std::function<void(const json&)>& say, bool push) {
  auto mutex = std::make_shared<std::mutex>();
  return [say, push, mutex](const registry::BlobEvent& ev) {
    using Kind = registry::BlobEvent::Kind;
    std::lock_guard lock(*mutex);
    std::string id = short_id(ev.digest);
    auto state = [&](const std::string& status) {
      say({{"status", status}, {"progressDetail", json::object()}, {"id", id}});
    };
    switch (ev.kind) {
      case Kind::started:
        return state(push ? "Preparing" : "Pulling fs layer");
      case Kind::progress:
        return say({{"status", push ? "Pushing" : "Downloading"},
                    {"progressDetail", {{"current", ev.done}, {"total", ev.size}}},
                    {"progress", progress_bar(ev.done, ev.size)},
                    {"id", id}});
      case Kind::finished:
        return state(push ? "Pushed" : "Pull complete");
      case Kind::skipped:
        return state(push ? "Layer already exists" : "Already exists");
      case Kind::mounted:
        return state(fmt::format("Mounted from {}", ev.from));
    }
  };
}

// A stream of JSON lines on a taken-over socket.
struct JsonStream {
  int fd;
  bool open = true;
  void say(const json& j) {
    if (open) open = sys::write_all(fd, j.dump() + "\n").ok();
  }
  void fail(const std::string& message) {
    say({{"errorDetail", {{"message", message}}}, {"error", message}});
  }
};

bool start_stream(int fd) {
  return sys::write_all(fd, response_head(200, {{"Content-Type", "application/json"},
                                                {"Connection", "close"}}))
      .ok();
}

}  // namespace

ServerResponse DockerApi::pull(const ServerRequest& r) {
  if (auto src = r.query_value("fromSrc"); src && !src->empty())
    return error_response(400,
                          "fromSrc (docker import) is not supported by berth: use berth import");
  std::string name = r.query_value("fromImage").value_or("");
  std::string tag = r.query_value("tag").value_or("");
  if (name.empty()) return error_response(400, "fromImage is required");
  if (auto platform = r.query_value("platform"); platform && !platform->empty()) {
    if (!registry::PlatformWanted::parse(*platform))
      return error_response(400, fmt::format("platform '{}': use os/arch[/variant]", *platform));
  }
  if (!tag.empty()) name += (tag.starts_with("sha256:") ? "@" : ":") + tag;
  auto ref = image::Reference::parse(name);
  if (!ref) return error_response(400, ref.error().message());
  auto credentials = registry_auth(r);
  if (!credentials) return error_response(credentials.error());
  std::string platform = r.query_value("platform").value_or("");
  return deferred([this, ref = *ref, credentials = *credentials, platform](int fd) {
    if (!start_stream(fd)) return ServerResponse{0};
    JsonStream out{fd};
    auto e = open();
    if (!e) {
      out.fail(e.error().message());
      return ServerResponse{0};
    }
    registry::PullOptions o;
    o.client.credentials = credentials;
    if (!platform.empty()) o.platform = *registry::PlatformWanted::parse(platform);
    std::string shown = ref.tag().empty() ? ref.to_string() : ref.with_tag(ref.tag()).to_string();
    out.say({{"status", fmt::format("Pulling from {}", ref.path())},
             {"id", ref.tag().empty() ? ref.digest()->str() : ref.tag()}});
    o.client.progress = progress_stream([&](const json& j) { out.say(j); }, false);
    auto gc = state::ObjectLock::acquire(e->layout.locks(), "gc", "images",
                                         state::ObjectLock::Mode::shared);
    if (!gc) {
      out.fail(gc.error().message());
      return ServerResponse{0};
    }
    auto pulled = registry::pull(e->store, ref, o);
    if (!pulled) {
      out.fail(pulled.error().message());
      return ServerResponse{0};
    }
    std::vector<std::string> names;
    if (!ref.tag().empty()) names.push_back(shown);
    if (auto done = engine::register_image(*e, pulled->manifest, names); !done) {
      out.fail(done.error().message());
      return ServerResponse{0};
    }
    out.say(
        {{"status", fmt::format("Digest: {}", pulled->index_resolved ? pulled->index_digest
                                                                     : pulled->manifest.digest)}});
    out.say({{"status",
              fmt::format("Status: {} for {}",
                          pulled->downloaded > 0 ? "Downloaded newer image" : "Image is up to date",
                          shown)}});
    return ServerResponse{0};
  });
}

ServerResponse DockerApi::push(const std::string& name, const ServerRequest& r) {
  std::string tag = r.query_value("tag").value_or("");
  std::string target = tag.empty() ? name : name + ":" + tag;
  auto dest = image::Reference::parse(target);
  if (!dest) return error_response(400, dest.error().message());
  if (dest->tag().empty()) return error_response(400, "push: give a tag, not only a digest");
  auto credentials = registry_auth(r);
  if (!credentials) return error_response(credentials.error());
  auto e = open();
  if (!e) return error_response(e.error());
  auto image = engine::find_image(*e, target);
  if (!image) return error_response(no_such(image.error(), "image", target));
  return deferred([this, dest = *dest, credentials = *credentials, image = *image](int fd) {
    if (!start_stream(fd)) return ServerResponse{0};
    JsonStream out{fd};
    auto e = open();
    if (!e) {
      out.fail(e.error().message());
      return ServerResponse{0};
    }
    out.say({{"status", fmt::format("The push refers to repository [{}]", dest.repository())}});
    auto gc = state::ObjectLock::acquire(e->layout.locks(), "gc", "images",
                                         state::ObjectLock::Mode::shared);
    if (!gc) {
      out.fail(gc.error().message());
      return ServerResponse{0};
    }
    auto content = engine::read_image(*e, image);
    if (!content) {
      out.fail(content.error().message());
      return ServerResponse{0};
    }
    if (auto made = engine::materialize_layers(*e, *content); !made) {
      out.fail(made.error().message());
      return ServerResponse{0};
    }
    oci::Descriptor manifest;
    manifest.media_type = image.media_type;
    manifest.digest = image.id;
    auto digest = image::Digest::parse(image.id);
    auto size = digest ? e->store.size(*digest) : Result<int64_t>(digest.error());
    if (!size) {
      out.fail(size.error().message());
      return ServerResponse{0};
    }
    manifest.size = *size;
    registry::PushOptions o;
    o.client.credentials = credentials;
    o.client.progress = progress_stream([&](const json& j) { out.say(j); }, true);
    auto pushed = registry::push(e->store, manifest, dest, o);
    if (!pushed) {
      out.fail(pushed.error().message());
      return ServerResponse{0};
    }
    out.say({{"status",
              fmt::format("{}: digest: {} size: {}", dest.tag(), pushed->digest, pushed->size)}});
    out.say({{"progressDetail", json::object()},
             {"aux", {{"Tag", dest.tag()}, {"Digest", pushed->digest}, {"Size", pushed->size}}}});
    return ServerResponse{0};
  });
}

ServerResponse DockerApi::history(const std::string& name) {
  auto e = open();
  if (!e) return error_response(e.error());
  auto image = engine::find_image(*e, name);
  if (!image) return error_response(no_such(image.error(), "image", name));
  auto content = engine::read_image(*e, *image);
  if (!content) return error_response(content.error());
  json rows = json::array();
  size_t layer = 0;
  for (const auto& h : content->config.history) {
    int64_t size = 0;
    if (!h.empty_layer && layer < content->manifest.layers.size())
      size = content->manifest.layers[layer++].size;
    rows.push_back({{"Id", "<missing>"},
                    {"Created", clock::parse_rfc3339(h.created).value_or(0) / 1'000'000'000},
                    {"CreatedBy", h.created_by},
                    {"Tags", nullptr},
                    {"Size", size},
                    {"Comment", h.comment}});
  }
  if (rows.empty())
    rows.push_back({{"Id", ""},
                    {"Created", image->created / 1'000'000'000},
                    {"CreatedBy", ""},
                    {"Tags", nullptr},
                    {"Size", image->size},
                    {"Comment", ""}});
  rows.back()["Id"] = image->config_digest;
  rows.back()["Tags"] = image->tags;
  std::reverse(rows.begin(), rows.end());
  return json_response(200, rows);
}

ServerResponse DockerApi::save(const std::vector<std::string>& names) {
  if (names.empty()) return error_response(400, "give at least one image: ?names=NAME");
  auto e = open();
  if (!e) return error_response(e.error());
  std::vector<image::SaveItem> items;
  for (const auto& name : names) {
    auto image = engine::find_image(*e, name);
    if (!image) return error_response(no_such(image.error(), "image", name));
    auto digest = image::Digest::parse(image->id);
    if (!digest) return error_response(digest.error());
    auto size = e->store.size(*digest);
    if (!size) return error_response(size.error());
    oci::Descriptor d;
    d.media_type = image->media_type;
    d.digest = image->id;
    d.size = *size;
    std::vector<std::string> tags;
    auto ref = image::Reference::parse(name);
    if (ref &&
        std::find(image->tags.begin(), image->tags.end(), ref->to_string()) != image->tags.end())
      tags.push_back(ref->to_string());
    else
      tags = image->tags;
    items.push_back({d, tags});
  }
  return deferred([this, items](int fd) {
    auto e = open();
    if (!e) return error_response(e.error());
    auto gc = state::ObjectLock::acquire(e->layout.locks(), "gc", "images",
                                         state::ObjectLock::Mode::shared);
    if (!gc) return error_response(gc.error());
    for (const auto& item : items) {
      auto image = engine::get_image(*e, item.manifest.digest);
      if (!image) return error_response(image.error());
      auto content = engine::read_image(*e, *image);
      if (!content) return error_response(content.error());
      if (auto made = engine::materialize_layers(*e, *content); !made)
        return error_response(made.error());
    }
    if (!sys::write_all(fd, response_head(200, {{"Content-Type", "application/x-tar"},
                                                {"Connection", "close"}})))
      return ServerResponse{0};
    // Once the head is sent, a failure can only cut the stream short (docker does the same).
    (void)image::save_archive_to_fd(e->store, items, image::ArchiveFormat::docker_archive, fd);
    return ServerResponse{0};
  });
}

http::Dispatch DockerApi::load(const ServerRequest& r) {
  http::Dispatch d;
  std::string dir = options_.layout.run_root + "/tmp";
  if (auto made = sys::mkdir_all(dir, 0700); !made) {
    d.response = error_response(made.error());
    return d;
  }
  std::string path = fmt::format("{}/load-{}-{}.tar", dir, ::getpid(), sys::random_hex(6));
  auto file = sys::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (!file) {
    d.response = error_response(file.error());
    return d;
  }
  d.sink = file_sink(std::move(*file), path, [this, p = path](int) {
    auto e = open();
    if (!e) return error_response(e.error());
    auto gc = state::ObjectLock::acquire(e->layout.locks(), "gc", "images",
                                         state::ObjectLock::Mode::shared);
    if (!gc) return error_response(gc.error());
    auto loaded = image::load_archive(e->store, p);
    if (!loaded) return error_response(400, loaded.error().message());
    std::string lines;
    for (const auto& item : loaded->images) {
      auto image = engine::register_image(*e, item.manifest, item.names);
      if (!image) return error_response(image.error());
      if (item.names.empty())
        lines +=
            json({{"stream", "Loaded image ID: " + image->config_digest + "\n"}}).dump() + "\n";
      for (const auto& n : item.names)
        lines += json({{"stream", "Loaded image: " + n + "\n"}}).dump() + "\n";
    }
    ServerResponse answer{200};
    answer.body = lines;  // quiet drops progress only (berth sends none), as dockerd
    answer.set("Content-Type", "application/json");
    set_common_headers(answer);
    return answer;
  });
  return d;
}

ServerResponse DockerApi::auth(const std::string& body) {
  auto login = login_from_json(body);
  if (!login) return error_response(login.error());
  const std::string user = login->user, password = login->password, server = login->server;
  return deferred([user, password, server](int) {
    auto checked = registry::login(server, registry::Credentials{user, password}, true);
    if (!checked) {
      if (checked.error().kind() == ErrorKind::unauthenticated)
        return error_response(401, checked.error().message());
      return error_response(checked.error());
    }
    return json_response(200, {{"Status", "Login Succeeded"}, {"IdentityToken", ""}});
  });
}

}  // namespace berth::api::detail
