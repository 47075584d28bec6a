// api/bodies.h — the small request bodies of the Docker Engine API read into plain values: exec
// create and start, network create and connect/disconnect, and auth; and POST /build's query
// parameters. No I/O (the routes call the engine with what these return); api_translate_fuzz
// feeds them hostile input. A field of the wrong type or one berth cannot honour is an
// invalid_argument (a 400) naming the field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "engine/containers.h"
#include "engine/networks.h"

namespace berth::api {

// A terminal's rows and columns (ConsoleSize: [rows, cols]).
using ConsoleSize = std::pair<unsigned short, unsigned short>;

// POST /containers/{id}/exec.
struct ExecCreate {
  engine::ExecRequest request;  // args, env, user, workdir, tty; interactive = attach_stdin
  bool attach_stdin = false, attach_stdout = false, attach_stderr = false;
  std::optional<ConsoleSize> size;
};
Result<ExecCreate> exec_create_from_json(std::string_view body);

// POST /exec/{id}/start.
struct ExecStart {
  bool detach = false;
  std::optional<ConsoleSize> size;
};
Result<ExecStart> exec_start_from_json(std::string_view body);

// POST /networks/create.
Result<engine::NetworkOptions> network_create_from_json(std::string_view body);

// POST /networks/{id}/connect (join) and /disconnect.
struct NetworkConnect {
  std::string container;
  std::vector<std::string> aliases;
  std::string ip;
};
Result<NetworkConnect> network_connect_from_json(std::string_view body, bool join);

// POST /volumes/create.
struct VolumeCreate {
  std::string name;  // "" = a generated name
  std::map<std::string, std::string> labels, options;
};
Result<VolumeCreate> volume_create_from_json(std::string_view body);

// POST /auth, and the X-Registry-Auth header once base64-decoded: the registry ("docker.io" for
// Docker Hub's names) and the credentials.
struct Login {
  std::string user, password, server;
};
Result<Login> login_from_json(std::string_view body);

// POST /build's query parameters (docker build's options; the body is the context), read before
// the context is: a bad one is a 400 then, not an error at the end of the build. Parameters
// berth does not act on (platform, pull, rm, cachefrom, ...) are ignored, as dockerd ignores
// those that do not apply.
struct BuildQuery {
  std::string dockerfile = "Dockerfile";  // a relative path inside the context
  std::vector<std::string> tags;          // t, each a reference with a tag (as given)
  std::map<std::string, std::string> build_args, labels;  // buildargs, labels (JSON objects)
  std::string target;                                     // a stage; "" = the last
  std::string network = "default";                        // networkmode: default, none, host
  bool no_cache = false, quiet = false;                   // nocache, q
  int64_t memory = 0;                                     // bytes for each RUN (0 = no limit)
};
Result<BuildQuery> build_query_from(const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace berth::api
