// engine/detail/docker_shape.cc — see docker_shape.h. The defaults are dockerd 20.10's answer
// for `docker create busybox` (tests/e2e/api_vs_dockerd.bats compares the two shapes).
#include "engine/detail/docker_shape.h"

namespace berth::engine::detail {

void add_missing(nlohmann::json& doc, const nlohmann::json& defaults) {
  if (!doc.is_object() || !defaults.is_object()) return;
  for (const auto& [key, value] : defaults.items()) {
    auto it = doc.find(key);
    if (it == doc.end())
      doc[key] = value;
    else if (it->is_object() && value.is_object())
      add_missing(*it, value);
  }
}

namespace {

// Docker's container Config (also an image's Config and ContainerConfig).
nlohmann::json config_defaults() {
  return {{"Hostname", ""},       {"Domainname", ""},      {"User", ""},
          {"AttachStdin", false}, {"AttachStdout", false}, {"AttachStderr", false},
          {"Tty", false},         {"OpenStdin", false},    {"StdinOnce", false},
          {"Env", nullptr},       {"Cmd", nullptr},        {"Image", ""},
          {"Volumes", nullptr},   {"WorkingDir", ""},      {"Entrypoint", nullptr},
          {"OnBuild", nullptr},   {"Labels", nullptr}};
}

}  // namespace

const nlohmann::json& container_inspect_defaults() {
  static const nlohmann::json kDefaults = [] {
    nlohmann::json host = {
        {"Binds", nullptr},
        {"ContainerIDFile", ""},
        {"LogConfig", {{"Type", "json-file"}, {"Config", nlohmann::json::object()}}},
        {"NetworkMode", "default"},
        {"PortBindings", nlohmann::json::object()},
        {"RestartPolicy", {{"Name", "no"}, {"MaximumRetryCount", 0}}},
        {"AutoRemove", false},
        {"VolumeDriver", ""},
        {"VolumesFrom", nullptr},
        {"CapAdd", nullptr},
        {"CapDrop", nullptr},
        {"CgroupnsMode", "host"},
        {"Dns", nlohmann::json::array()},
        {"DnsOptions", nlohmann::json::array()},
        {"DnsSearch", nlohmann::json::array()},
        {"ExtraHosts", nullptr},
        {"GroupAdd", nullptr},
        {"IpcMode", "private"},
        {"Cgroup", ""},
        {"Links", nullptr},
        {"OomScoreAdj", 0},
        {"PidMode", ""},
        {"Privileged", false},
        {"PublishAllPorts", false},
        {"ReadonlyRootfs", false},
        {"SecurityOpt", nullptr},
        {"UTSMode", ""},
        {"UsernsMode", ""},
        {"ShmSize", 67108864},
        {"Runtime", "berth-runtime"},
        {"ConsoleSize", {0, 0}},
        {"Isolation", ""},
        {"CpuShares", 0},
        {"Memory", 0},
        {"NanoCpus", 0},
        {"CgroupParent", ""},
        {"BlkioWeight", 0},
        {"BlkioWeightDevice", nlohmann::json::array()},
        {"BlkioDeviceReadBps", nullptr},
        {"BlkioDeviceWriteBps", nullptr},
        {"BlkioDeviceReadIOps", nullptr},
        {"BlkioDeviceWriteIOps", nullptr},
        {"CpuPeriod", 0},
        {"CpuQuota", 0},
        {"CpuRealtimePeriod", 0},
        {"CpuRealtimeRuntime", 0},
        {"CpusetCpus", ""},
        {"CpusetMems", ""},
        {"Devices", nlohmann::json::array()},
        {"DeviceCgroupRules", nullptr},
        {"DeviceRequests", nullptr},
        {"KernelMemory", 0},
        {"KernelMemoryTCP", 0},
        {"MemoryReservation", 0},
        {"MemorySwap", 0},
        {"MemorySwappiness", nullptr},
        {"OomKillDisable", false},
        {"PidsLimit", nullptr},
        {"Ulimits", nullptr},
        {"CpuCount", 0},
        {"CpuPercent", 0},
        {"IOMaximumIOps", 0},
        {"IOMaximumBandwidth", 0},
        {"MaskedPaths", nullptr},
        {"ReadonlyPaths", nullptr}};
    nlohmann::json network = {{"Bridge", ""},
                              {"SandboxID", ""},
                              {"HairpinMode", false},
                              {"LinkLocalIPv6Address", ""},
                              {"LinkLocalIPv6PrefixLen", 0},
                              {"Ports", nlohmann::json::object()},
                              {"SandboxKey", ""},
                              {"SecondaryIPAddresses", nullptr},
                              {"SecondaryIPv6Addresses", nullptr},
                              {"EndpointID", ""},
                              {"Gateway", ""},
                              {"GlobalIPv6Address", ""},
                              {"GlobalIPv6PrefixLen", 0},
                              {"IPAddress", ""},
                              {"IPPrefixLen", 0},
                              {"IPv6Gateway", ""},
                              {"MacAddress", ""},
                              {"Networks", nlohmann::json::object()}};
    return nlohmann::json{{"Path", ""},
                          {"Args", nlohmann::json::array()},
                          {"ResolvConfPath", ""},
                          {"HostnamePath", ""},
                          {"HostsPath", ""},
                          {"LogPath", ""},
                          {"RestartCount", 0},
                          {"Driver", "overlay2"},
                          {"Platform", "linux"},
                          {"MountLabel", ""},
                          {"ProcessLabel", ""},
                          {"AppArmorProfile", ""},
                          {"ExecIDs", nullptr},
                          {"HostConfig", host},
                          {"GraphDriver", {{"Data", nullptr}, {"Name", "overlay2"}}},
                          {"Mounts", nlohmann::json::array()},
                          {"Config", config_defaults()},
                          {"NetworkSettings", network}};
  }();
  return kDefaults;
}

const nlohmann::json& endpoint_defaults() {
  static const nlohmann::json kDefaults = {
      {"IPAMConfig", nullptr},   {"Links", nullptr},         {"Aliases", nullptr},
      {"NetworkID", ""},         {"EndpointID", ""},         {"Gateway", ""},
      {"IPAddress", ""},         {"IPPrefixLen", 0},         {"IPv6Gateway", ""},
      {"GlobalIPv6Address", ""}, {"GlobalIPv6PrefixLen", 0}, {"MacAddress", ""},
      {"DriverOpts", nullptr}};
  return kDefaults;
}

const nlohmann::json& image_inspect_defaults() {
  static const nlohmann::json kDefaults = {
      {"RepoTags", nlohmann::json::array()},
      {"RepoDigests", nlohmann::json::array()},
      {"Parent", ""},
      {"Comment", ""},
      {"Container", ""},
      {"ContainerConfig", config_defaults()},
      {"DockerVersion", ""},
      {"Author", ""},
      {"Config", config_defaults()},
      {"Architecture", ""},
      {"Os", ""},
      {"Size", 0},
      {"VirtualSize", 0},
      {"GraphDriver", {{"Data", nullptr}, {"Name", "overlay2"}}},
      {"RootFS", {{"Type", "layers"}}},
      {"Metadata", {{"LastTagTime", "0001-01-01T00:00:00Z"}}}};
  return kDefaults;
}

}  // namespace berth::engine::detail
