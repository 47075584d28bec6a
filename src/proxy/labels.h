// proxy/labels.h — routes from containers: a container's `berth.proxy.*` labels (Traefik's
// spirit) or its VIRTUAL_HOST environment (the dockercloud/haproxy convention) become Routes and
// Backends (proxy/routes.h). Pure: the caller describes each container; nothing here reads
// berth's state. docs/proxy.md, "Routes from containers", is the user's side of this contract.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "proxy/routes.h"

namespace berth::proxy {

// What a route source knows about one container.
struct ContainerView {
  std::string id, name;
  std::string project;  // compose project ("" outside one)
  std::string service;  // compose service ("" outside one)
  std::map<std::string, std::string> labels;
  std::vector<std::string> env;  // NAME=value
  struct Address {
    std::string network;  // "bridge", "shop_default"
    std::string ip;       // "10.88.0.5"
  };
  std::vector<Address> addresses;     // in the order the container joined its networks
  std::vector<int> exposed_ports;     // tcp ports of the image's EXPOSE
  bool has_health_check = false;
  std::string health;                 // starting, healthy, unhealthy ("" without a check)
  bool running = false;
  bool stopping = false;              // a stop or removal has begun
};

// A label (or environment variable) that cannot be used. The container is left out of the table.
struct LabelProblem {
  std::string container;  // its name
  std::string label;      // "berth.proxy.port", or "VIRTUAL_HOST" (env)
  std::string value;
  std::string message;    // "not a port (1-65535)"
  // "web-1: label berth.proxy.port=\"80x\": not a port (1-65535)"
  std::string text() const;
};

// Two groups claiming the same host and path (and method/header match) on the same entrypoint
// with the same priority: the server would take the first in table order (by group name).
struct RouteConflict {
  std::string entrypoint, host, path;
  std::vector<std::string> services;  // the groups, table order: the first one wins
  // "host shop.example path /api: claimed by services a, b (priority 0); a wins (first by name)"
  std::string text() const;
};

struct LabelRoutes {
  RouteTable table;  // generation left 0: the source numbers its tables
  std::vector<LabelProblem> problems;
  std::vector<RouteConflict> conflicts;
};

// Every running container that asks for routing (berth.proxy.* labels, or VIRTUAL_HOST) becomes
// a backend; containers of one group (berth.proxy.service, else "PROJECT_SERVICE" in a compose
// project, else the container's name) whose route settings agree merge into one route. Routes
// come out sorted by group name, so ties between equally specific routes are decided by name.
// A backend is healthy when the container runs, is not stopping, and its health check (if any)
// says healthy; a stopping container's backend is draining.
LabelRoutes routes_from_containers(const std::vector<ContainerView>& containers);

// The labels this file understands (for `berth proxy check` and docs), "berth.proxy.header.*"
// standing for the header family.
const std::vector<std::string>& known_labels();

}  // namespace berth::proxy
