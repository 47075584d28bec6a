// api_translate: what the Docker Engine API (`berth serve`) reads from its clients before the
// engine sees it (api/translate.h): POST /containers/create bodies (Config, HostConfig with its
// binds, mounts, port bindings and restart policy, NetworkingConfig), POST /containers/{id}/update
// bodies, the small bodies of api/bodies.h (exec create/start, network create/connect, volume
// create, auth), the `filters` query value, and the /vX.Y/ prefix of a path. The input is cut at
// 0x01 bytes: a body (read as both kinds), filters, a path. A created configuration must survive
// the engine's stored form (engine/container_config.h: to_json → parse_container_config → to_json).
#include "api/bodies.h"
#include "api/translate.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace berth;
  auto parts = fuzz::pieces(fuzz::as_text(data, size), '\x01', 3);
  while (parts.size() < 3) parts.emplace_back();

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
  return 0;
}
