// engine/layout.h — where the engine keeps things on disk (docs/architecture.md "Files on disk").
// Every path the engine touches is named here, so tests and `system check` agree with the code.
#pragma once

#include <string>

namespace berth::engine {

struct Layout {
  std::string root = "/var/lib/berth";  // --root / BERTH_ROOT: persistent state
  std::string run_root = "/run/berth";  // --run-root / BERTH_RUN_ROOT: gone after a reboot

  std::string database() const { return root + "/berth.db"; }
  std::string content() const { return root; }  // OCI layout: oci-layout, blobs/, ingest/
  std::string layers() const { return root + "/layers"; }
  std::string layer(const std::string& chain_hex) const { return layers() + "/" + chain_hex; }
  std::string containers() const { return root + "/containers"; }
  std::string container(const std::string& id) const { return containers() + "/" + id; }
  // A --rm container's bundle (config.json, etc/, the rootfs mount point, the monitor's files and
  // log): it lives no longer than the container, so it need not reach the disk. Its writable
  // layer stays in container(id), on the root's disk.
  std::string run_containers() const { return run_root + "/containers"; }
  std::string run_container(const std::string& id) const { return run_containers() + "/" + id; }
  // The lowest layer of every container's root file system: empty mount points the runtime
  // would otherwise create in each container's writable layer (/etc/hostname, ...).
  std::string init_layer() const { return root + "/init-layer"; }
  std::string volumes() const { return root + "/volumes"; }
  std::string volume(const std::string& name) const { return volumes() + "/" + name; }
  std::string volume_data(const std::string& name) const { return volume(name) + "/data"; }
  std::string runtime_root() const { return run_root + "/runtime"; }
  std::string locks() const { return run_root + "/locks"; }
  // A running container's network namespace, bound here while it is wired to its networks.
  std::string netns_dir() const { return run_root + "/netns"; }
  std::string netns(const std::string& id) const { return netns_dir() + "/" + id; }
  // A network's DNS: the names file berth-dns answers from, and the lock it holds while it runs.
  std::string network_run(const std::string& network_id) const { return run_root + "/networks/" + network_id; }
  std::string dns_names(const std::string& network_id) const { return network_run(network_id) + "/names"; }
  std::string dns_lock(const std::string& network_id) const { return network_run(network_id) + "/dns.lock"; }
  // Running `berth proxy serve`s: each one's control socket (NAME.sock, HTTP: GET /routes, POST
  // /drain) and pid file (NAME.pid, flock'd while it runs). The engine asks each of them to drain
  // a container before stopping it.
  std::string proxies() const { return run_root + "/proxy"; }
  std::string proxy_socket(const std::string& name) const { return proxies() + "/" + name + ".sock"; }
  std::string proxy_pid(const std::string& name) const { return proxies() + "/" + name + ".pid"; }
};

}  // namespace berth::engine
