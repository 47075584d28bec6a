// api_translate: what the Docker Engine API (`berth serve`) reads from its clients before the
// engine sees it (api/translate.h): POST /containers/create bodies (Config, HostConfig with its
// binds, mounts, port bindings and restart policy, NetworkingConfig), POST /containers/{id}/update
// bodies, the small bodies of api/bodies.h (exec create/start, network create/connect, volume
// create, auth), POST /build's query parameters, the `filters` query value, and the /vX.Y/ prefix
// of a path. The input is cut at 0x01 bytes: a body (read as both kinds), filters, a path, and a
// query string (cut at '&' and the first '=' as http::Server does, without its percent-decoding:
// any byte but 0x01, '&' and '=' can be in a name or value anyway). A created configuration must
// survive the engine's stored form (engine/container_config.h: to_json → parse_container_config
// → to_json); an accepted build query names a Dockerfile inside the context, tags that are
// references with a tag, and a network a build can take.
#include "api/bodies.h"
#include "api/translate.h"
#include "fuzz_util.h"
#include "image/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  auto parts = fuzz::pieces(fuzz::as_text(data, size), '\x01', 4);
  while (parts.size() < 4) parts.emplace_back();

  auto filters = api::parse_filters(parts[1], {"label", "status", "name", "id", "dangling"});
  auto config = api::container_config_from_json(parts[0]);
  if (config) {
    std::string stored = engine::to_json(*config);
    auto again = engine::parse_container_config(stored);
    if (!again) fuzz::violated("a created configuration is not read back", again.error().message());
    if (engine::to_json(*again) != stored)
      fuzz::violated("a created configuration reads back changed", stored);
    if (filters && filters->contains("label"))
      (void)api::labels_match(filters->at("label"), config->labels);
  }
  (void)api::container_update_from_json(parts[0]);
  if (auto exec = api::exec_create_from_json(parts[0]); exec && exec->request.args.empty())
    fuzz::violated("an exec without a command accepted", parts[0]);
  (void)api::exec_start_from_json(parts[0]);
  if (auto net = api::network_create_from_json(parts[0]);
      net && (net->name.empty() || net->driver.empty()))
    fuzz::violated("a network without a name or driver accepted", parts[0]);
  for (bool join : {true, false})
    if (auto c = api::network_connect_from_json(parts[0], join); c && c->container.empty())
      fuzz::violated("a connect without a container accepted", parts[0]);
  (void)api::volume_create_from_json(parts[0]);
  if (auto login = api::login_from_json(parts[0]);
      login && (login->server.empty() || login->server.find('/') != std::string::npos))
    fuzz::violated("a login server that is not a host", login->server);

  if (auto split = api::split_version(parts[2]); split && !split->version.empty()) {
    auto round = api::split_version("/v" + split->version + split->path);
    if (!round || round->version != split->version || round->path != split->path)
      fuzz::violated("a versioned path splits differently when joined again", parts[2]);
  }

  std::vector<std::pair<std::string, std::string>> query;
  for (const auto item : fuzz::pieces(parts[3], '&')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    query.emplace_back(item.substr(0, eq),
                       eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1));
  }
  if (auto build = api::build_query_from(query)) {
    const std::string_view file = build->dockerfile;
    if (file.empty() || file.starts_with('/') || file.find("..") != std::string_view::npos ||
        file.find('\0') != std::string_view::npos)
      fuzz::violated("a Dockerfile path out of the context accepted", file);
    for (const auto& tag : build->tags) {
      auto ref = image::Reference::parse(tag);
      if (!ref || ref->tag().empty())
        fuzz::violated("a tag that names no tagged image accepted", tag);
    }
    if (build->network != "default" && build->network != "none" && build->network != "host")
      fuzz::violated("a network a build cannot take accepted", build->network);
    if (build->memory < 0) fuzz::violated("a negative memory limit accepted", parts[3]);
  }
  return 0;
}
