// engine/spec.h — a container's OCI config.json from what the user asked for and the image's
// defaults, as Docker builds it. Pure: no files are read here, so it is unit-tested as data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/container_config.h"
#include "oci/image_spec.h"
#include "oci/runtime_spec.h"

namespace berth::engine {

struct UserIds {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> additional_gids;
};

// Resolves "name", "uid", "name:group", "uid:gid" against etc/passwd and etc/group of the first
// of `roots` that has them (the top layer first). An unknown name is invalid_argument.
Result<UserIds> resolve_user(const std::vector<std::string>& roots, std::string_view user);

struct SpecInputs {
  std::string id;
  std::string rootfs;         // the overlay mount point
  UserIds user;
  std::string hostname;       // resolved (default: the id's first 12 characters)
  // Host paths bind-mounted for -v (a named volume's data directory, or the bind source).
  std::vector<VolumeMount> mounts;
  std::string etc_dir;        // holds hostname, hosts, resolv.conf to bind into /etc
  std::string netns_path;     // a network namespace to join ("" = a new one, or the host's)
  std::string init_binary;    // for --init
  std::string cgroups_path;
};

// The process args Docker would run: ENTRYPOINT and CMD of the image, overridden as asked.
// An image and a command that give nothing to run are invalid_argument.
Result<std::vector<std::string>> process_args(const ContainerConfig& config, const oci::ContainerConfig& image);

Result<oci::Spec> build_spec(const ContainerConfig& config, const oci::ImageConfig& image,
                             const SpecInputs& inputs);

}  // namespace berth::engine
