// engine/container_commit.h — docker commit: a container's writable layer as a new image on top
// of its image, with the container's command and environment as the image's defaults.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "engine/containers.h"
#include "engine/images.h"
#include "oci/image_spec.h"

namespace berth::engine {

struct CommitOptions {
  std::string container;            // name or id
  std::vector<std::string> names;   // references to tag the image with (none: dangling)
  std::string author, comment;
  // Dockerfile instructions applied to the image's config: CMD, ENTRYPOINT, ENV, LABEL, EXPOSE,
  // WORKDIR, USER, STOPSIGNAL (docker commit --change). Others are an invalid_argument.
  std::vector<std::string> changes;
  // The API's Config body: the new image's settings; what it leaves unset comes from the
  // container (dockerd's merge: Env and Labels by key, ExposedPorts and Volumes added, Cmd and
  // Entrypoint only when it sets neither). The changes apply to it first.
  oci::ContainerConfig config;
  bool pause = true;  // a running container is paused while its layer is packed
};

// An empty writable layer adds no layer (only a history entry), as docker does.
Result<ImageRecord> commit_container(Engine& engine, const CommitOptions& options);

}  // namespace berth::engine
