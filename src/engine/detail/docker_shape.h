// engine/detail/docker_shape.h — every field dockerd 20.10 puts in its inspect documents, with
// the value it shows when nothing set it. berth fills in what it does not set itself, so that
// clients reading a field berth has no use for (a Go template's {{.HostConfig.CpusetCpus}},
// docker-py's attrs) see docker's default instead of a missing key.
#pragma once

#include <nlohmann/json.hpp>

namespace berth::engine::detail {

// Adds each key of `defaults` that `doc` lacks, recursing into objects both have.
void add_missing(nlohmann::json& doc, const nlohmann::json& defaults);

const nlohmann::json& container_inspect_defaults();
const nlohmann::json& endpoint_defaults();  // one entry of NetworkSettings.Networks
const nlohmann::json& image_inspect_defaults();

}  // namespace berth::engine::detail
