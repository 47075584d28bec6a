#include "project/plan.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "project/normalise.h"

namespace berth::project {

Result<std::vector<std::string>> start_order(const Project& project) {
  std::vector<std::string> order;
  std::map<std::string, int> mark;  // 0 new, 1 visiting, 2 done
  std::vector<std::string> stack;
  std::function<Result<void>(const Service&)> visit = [&](const Service& s) -> Result<void> {
    if (mark[s.name] == 2) return {};
    if (mark[s.name] == 1) {
      auto from = std::find(stack.begin(), stack.end(), s.name);
      std::string cycle;
      for (auto it = from; it != stack.end(); ++it) cycle += *it + " -> ";
      return Error::make(ErrorKind::invalid_argument, "dependency cycle: {}{}", cycle, s.name);
    }
    mark[s.name] = 1;
    stack.push_back(s.name);
    std::vector<std::string> deps;
    for (const auto& d : s.depends_on) deps.push_back(d.service);
    std::sort(deps.begin(), deps.end());
    for (const auto& d : deps)
      if (const Service* dep = project.service(d)) BERTH_TRY_VOID(visit(*dep));
    stack.pop_back();
    mark[s.name] = 2;
    order.push_back(s.name);
    return {};
  };
  for (const auto& s : project.services) BERTH_TRY_VOID(visit(s));
  return order;
}

Result<std::vector<std::string>> with_dependencies(const Project& project,
                                                   const std::vector<std::string>& names) {
  BERTH_TRY(auto order, start_order(project));
  std::set<std::string> wanted;
  std::function<void(const std::string&)> add = [&](const std::string& n) {
    if (!wanted.insert(n).second) return;
    if (const Service* s = project.service(n))
      for (const auto& d : s->depends_on) add(d.service);
  };
  for (const auto& n : names) {
    if (!project.service(n))
      return Error::make(ErrorKind::invalid_argument, "no such service: {}", n);
    add(n);
  }
  std::erase_if(order, [&](const std::string& n) { return !wanted.count(n); });
  return order;
}

Result<void> check_port_clashes(const Project& project) {
  struct Holder {
    std::string service;
    std::string ip;
  };
  std::map<std::pair<std::string, int>, Holder> taken;  // (protocol, port) → holder
  for (const auto& s : project.services) {
    if (s.replicas == 0) continue;
    for (const auto& p : s.ports) {
      if (p.host_port == 0) continue;
      for (int port = p.host_port; port <= p.host_port_end; ++port) {
        auto key = std::make_pair(p.protocol, port);
        if (auto it = taken.find(key); it != taken.end()) {
          const Holder& h = it->second;
          if (h.ip.empty() || p.host_ip.empty() || h.ip == p.host_ip) {
            std::string addr = p.host_ip.empty() ? "0.0.0.0" : p.host_ip;
            return Error::make(ErrorKind::invalid_argument,
                               "services.{}.ports: {}:{}/{} is also published by service {}",
                               s.name, addr, port, p.protocol, h.service);
          }
        }
        taken[key] = {s.name, p.host_ip};
      }
    }
  }
  return {};
}

std::string instance_name(const Project& project, const Service& service, int number) {
  if (!service.container_name.empty()) return service.container_name;
  return fmt::format("{}-{}-{}", project.name, service.name, number);
}

std::string image_name(const Project& project, const Service& service) {
  return service.image.empty() ? fmt::format("{}-{}", project.name, service.name) : service.image;
}

std::string network_name(const Project& project, const std::string& network) {
  if (const Network* n = project.network(network); n && !n->external_name.empty())
    return n->external_name;
  return project.name + "_" + network;
}

std::string volume_name(const Project& project, const std::string& volume) {
  if (const Volume* v = project.volume(volume); v && !v->external_name.empty())
    return v->external_name;
  if (!project.volume(volume)) return volume;  // JSON projects' named volumes
  return project.name + "_" + volume;
}

std::string config_hash(const Project& project, const Service& service,
                        const std::string& image_id) {
  std::string text = service_json(project, service) + "\n" + image_id;
  // FNV-1a, 64 bits, twice with different seeds: a change detector, not a security boundary.
  auto fnv = [&](uint64_t h) {
    for (unsigned char c : text) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    return h;
  };
  return fmt::format("{:016x}{:016x}", fnv(14695981039346656037ULL), fnv(0x84222325cbf29ce4ULL));
}

std::vector<Step> plan_service(const Project& project, const Service& service,
                               const std::string& hash, int replicas,
                               const std::vector<Instance>& actual) {
  std::vector<Step> steps;
  std::vector<const Instance*> sorted;
  for (const auto& i : actual) sorted.push_back(&i);
  // Newest (highest number) first for removals.
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->number > b->number; });
  std::set<std::string> used;
  for (const Instance* i : sorted) {
    bool canonical = i->name == instance_name(project, service, i->number);
    if (i->number < 1 || i->number > replicas) {
      steps.push_back({Step::Kind::remove, i->number, i->id, "scaled down"});
      used.insert(i->id);
    } else if (!canonical) {
      steps.push_back(
          {Step::Kind::remove, i->number, i->id, "left over from an interrupted update"});
      used.insert(i->id);
    }
  }
  for (int n = 1; n <= replicas; ++n) {
    const Instance* found = nullptr;
    for (const auto& i : actual)
      if (!used.count(i.id) && i.number == n) found = &i;
    if (!found) {
      steps.push_back({Step::Kind::create, n, "", "missing"});
    } else if (found->hash != hash) {
      steps.push_back({Step::Kind::recreate, n, found->id, "configuration changed"});
    } else if (!found->running) {
      steps.push_back({Step::Kind::start, n, found->id, "not running"});
    } else {
      steps.push_back({Step::Kind::keep, n, found->id, ""});
    }
  }
  return steps;
}

bool start_first(const Service& service) {
  if (service.update_config.order == "stop-first") return false;
  if (!service.container_name.empty()) return false;
  for (const auto& p : service.ports)
    if (p.host_port != 0) return false;
  return true;
}

}  // namespace berth::project
