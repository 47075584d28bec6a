// api/translate.h — the pure half of the Docker Engine API: request bodies and query values to
// the engine's types, and the byte formats clients expect. No I/O, so unit tests cover it all.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "engine/container_config.h"
#include "engine/container_update.h"
#include "oci/image_spec.h"

namespace berth::api {

// The API versions served: Debian 12's docker CLI (20.10) speaks 1.41; newer clients negotiate
// down to it through _ping's API-Version header.
inline constexpr std::string_view kMinApiVersion = "1.24";
inline constexpr std::string_view kMaxApiVersion = "1.41";

// "/v1.41/containers/json" → version "1.41", path "/containers/json"; a path without the prefix
// keeps version "" (the newest). A version outside the range is an invalid_argument that says
// the range, as dockerd does.
struct VersionedPath {
  std::string version;
  std::string path;
};
Result<VersionedPath> split_version(std::string_view path);

// The body of POST /containers/create (Config with HostConfig and NetworkingConfig) as the
// engine's ContainerConfig. A field the engine cannot honour that would change behaviour
// (Privileged, Devices, ...) is an invalid_argument naming the field; defaults pass.
Result<engine::ContainerConfig> container_config_from_json(std::string_view body);

// The body of POST /containers/{id}/update: Memory, NanoCpus, PidsLimit, RestartPolicy (0 or
// empty: unchanged, as docker sends every field). Any other field set is an invalid_argument
// naming it ("UpdateConfig.CpuShares is not supported by berth").
Result<engine::ContainerUpdate> container_update_from_json(std::string_view body);

// docker commit's Config body: Cmd, Entrypoint, Env, Labels, ExposedPorts, Volumes, WorkingDir,
// User, StopSignal, Healthcheck, OnBuild, Shell. Empty or null: nothing set. A container's
// runtime settings (Hostname, Tty, ...) set to a value are an invalid_argument naming them.
Result<oci::ContainerConfig> commit_config_from_json(std::string_view body);

// The `filters` query value: {"label":["a=1"],"status":["running"]} (or docker's older
// {"label":{"a=1":true}}). Empty text → no filters. Unknown keys are an invalid_argument.
using Filters = std::map<std::string, std::vector<std::string>>;
Result<Filters> parse_filters(std::string_view json, const std::vector<std::string_view>& known);

// Whether labels satisfy every `label` filter: "key" (present) or "key=value".
bool labels_match(const std::vector<std::string>& wanted,
                  const std::map<std::string, std::string>& labels);

// One frame of the multiplexed stream (logs and attach without a tty): a header of
// {stream, 0, 0, 0, size as big-endian uint32}, then the bytes. stream: 1 stdout, 2 stderr.
std::string frame_stream(int stream, std::string_view data);

// Docker's duration and boolean query values: "1"/"true"/"True" are true.
bool query_true(std::string_view value);

// The status Docker answers an error kind with (404 not found, 409 conflict, ...).
int http_status_for(ErrorKind kind);

}  // namespace berth::api
