#include "oci/image_spec.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "oci/detail/json_fields.h"

namespace berth::oci {

namespace media_type {
bool is_manifest(std::string_view t) { return t == kImageManifest || t == kDockerManifest; }
bool is_index(std::string_view t) { return t == kImageIndex || t == kDockerManifestList; }
bool is_layer(std::string_view t) {
  return t == kLayer || t == kLayerGzip || t == kLayerZstd || t == kDockerLayer || t == kDockerLayerGzip ||
         is_non_distributable(t);
}
bool is_non_distributable(std::string_view t) {
  return t.starts_with("application/vnd.oci.image.layer.nondistributable.v1.tar") ||
         t == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}
}  // namespace media_type

namespace {

using namespace detail;

int64_t as_size(const json& j, const std::string& path) {
  int64_t v = as_int(j, path);
  if (v < 0) fail(path, fmt::format("size must not be negative, got {}", v));
  return v;
}

// Docker's {"80/tcp": {}} sets.
std::set<std::string> key_set(const json& j, const std::string& path) {
  object(j, path);
  std::set<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_object() && !it.value().is_null())
      fail(child(path, it.key()), fmt::format("expected {{}}, got {}", it.value().type_name()));
    out.insert(it.key());
  }
  return out;
}

std::string digest_field(const json& j, const std::string& path) {
  std::string d = as_string(j, path);
  if (auto r = validate_digest(d); !r) fail(path, r.error().message());
  return d;
}

Platform parse_platform(const json& j, const std::string& path) {
  object(j, path);
  Platform p;
  p.architecture = as_string(required(j, "architecture", path), child(path, "architecture"));
  p.os = as_string(required(j, "os", path), child(path, "os"));
  opt(j, "os.version", path, [&](auto& v, auto& at) { p.os_version = as_string(v, at); });
  opt(j, "os.features", path, [&](auto& v, auto& at) { p.os_features = strings(v, at); });
  opt(j, "variant", path, [&](auto& v, auto& at) { p.variant = as_string(v, at); });
  return p;
}

Descriptor parse_descriptor_json(const json& j, const std::string& path) {
  object(j, path);
  Descriptor d;
  d.media_type = as_string(required(j, "mediaType", path), child(path, "mediaType"));
  d.digest = digest_field(required(j, "digest", path), child(path, "digest"));
  d.size = as_size(required(j, "size", path), child(path, "size"));
  opt(j, "urls", path, [&](auto& v, auto& at) { d.urls = strings(v, at); });
  opt(j, "annotations", path, [&](auto& v, auto& at) { d.annotations = string_map(v, at); });
  opt(j, "platform", path, [&](auto& v, auto& at) { d.platform = parse_platform(v, at); });
  opt(j, "artifactType", path, [&](auto& v, auto& at) { d.artifact_type = as_string(v, at); });
  return d;
}

std::vector<Descriptor> descriptors(const json& j, const std::string& path) {
  array(j, path);
  std::vector<Descriptor> out;
  for (size_t i = 0; i < j.size(); ++i) out.push_back(parse_descriptor_json(j[i], index(path, i)));
  return out;
}

int schema_version(const json& j) {
  int64_t v = as_int(required(j, "schemaVersion", ""), "schemaVersion");
  if (v != 2) fail("schemaVersion", fmt::format("unsupported schema version {} (want 2)", v));
  return 2;
}

Manifest parse_manifest_json(const json& j) {
  object(j, "");
  Manifest m;
  m.schema_version = schema_version(j);
  opt(j, "mediaType", "", [&](auto& v, auto& at) {
    m.media_type = as_string(v, at);
    if (!media_type::is_manifest(m.media_type))
      fail(at, fmt::format("'{}' is not an image manifest media type", m.media_type));
  });
  opt(j, "artifactType", "", [&](auto& v, auto& at) { m.artifact_type = as_string(v, at); });
  m.config = parse_descriptor_json(required(j, "config", ""), "config");
  m.layers = descriptors(required(j, "layers", ""), "layers");
  opt(j, "subject", "", [&](auto& v, auto& at) { m.subject = parse_descriptor_json(v, at); });
  opt(j, "annotations", "", [&](auto& v, auto& at) { m.annotations = string_map(v, at); });
  return m;
}

Index parse_index_json(const json& j) {
  object(j, "");
  Index x;
  x.schema_version = schema_version(j);
  opt(j, "mediaType", "", [&](auto& v, auto& at) {
    x.media_type = as_string(v, at);
    if (!media_type::is_index(x.media_type))
      fail(at, fmt::format("'{}' is not an image index media type", x.media_type));
  });
  opt(j, "artifactType", "", [&](auto& v, auto& at) { x.artifact_type = as_string(v, at); });
  x.manifests = descriptors(required(j, "manifests", ""), "manifests");
  opt(j, "subject", "", [&](auto& v, auto& at) { x.subject = parse_descriptor_json(v, at); });
  opt(j, "annotations", "", [&](auto& v, auto& at) { x.annotations = string_map(v, at); });
  return x;
}

HealthConfig parse_health(const json& j, const std::string& path) {
  object(j, path);
  HealthConfig h;
  opt(j, "Test", path, [&](auto& v, auto& at) { h.test = strings(v, at); });
  opt(j, "Interval", path, [&](auto& v, auto& at) { h.interval = as_int(v, at); });
  opt(j, "Timeout", path, [&](auto& v, auto& at) { h.timeout = as_int(v, at); });
  opt(j, "StartPeriod", path, [&](auto& v, auto& at) { h.start_period = as_int(v, at); });
  opt(j, "Retries", path, [&](auto& v, auto& at) { h.retries = static_cast<int>(as_int(v, at)); });
  return h;
}

ContainerConfig parse_container_config(const json& j, const std::string& path) {
  object(j, path);
  ContainerConfig c;
  opt(j, "User", path, [&](auto& v, auto& at) { c.user = as_string(v, at); });
  opt(j, "ExposedPorts", path, [&](auto& v, auto& at) { c.exposed_ports = key_set(v, at); });
  opt(j, "Env", path, [&](auto& v, auto& at) {
    c.env = strings(v, at);
    for (size_t i = 0; i < c.env.size(); ++i)
      if (c.env[i].find('=') == std::string::npos)
        fail(index(at, i), fmt::format("'{}' is not of the form NAME=value", c.env[i]));
  });
  opt(j, "Entrypoint", path, [&](auto& v, auto& at) { c.entrypoint = strings(v, at); });
  opt(j, "Cmd", path, [&](auto& v, auto& at) { c.cmd = strings(v, at); });
  opt(j, "Volumes", path, [&](auto& v, auto& at) { c.volumes = key_set(v, at); });
  opt(j, "WorkingDir", path, [&](auto& v, auto& at) { c.working_dir = as_string(v, at); });
  opt(j, "Labels", path, [&](auto& v, auto& at) { c.labels = string_map(v, at); });
  opt(j, "StopSignal", path, [&](auto& v, auto& at) { c.stop_signal = as_string(v, at); });
  opt(j, "Healthcheck", path, [&](auto& v, auto& at) { c.healthcheck = parse_health(v, at); });
  opt(j, "OnBuild", path, [&](auto& v, auto& at) { c.on_build = strings(v, at); });
  opt(j, "Shell", path, [&](auto& v, auto& at) { c.shell = strings(v, at); });
  return c;
}

ImageConfig parse_image_config_json(const json& j) {
  object(j, "");
  ImageConfig c;
  opt(j, "created", "", [&](auto& v, auto& at) { c.created = as_string(v, at); });
  opt(j, "author", "", [&](auto& v, auto& at) { c.author = as_string(v, at); });
  c.architecture = as_string(required(j, "architecture", ""), "architecture");
  c.os = as_string(required(j, "os", ""), "os");
  opt(j, "os.version", "", [&](auto& v, auto& at) { c.os_version = as_string(v, at); });
  opt(j, "os.features", "", [&](auto& v, auto& at) { c.os_features = strings(v, at); });
  opt(j, "variant", "", [&](auto& v, auto& at) { c.variant = as_string(v, at); });
  opt(j, "config", "", [&](auto& v, auto& at) { c.config = parse_container_config(v, at); });
  const json& rootfs = required(j, "rootfs", "");
  object(rootfs, "rootfs");
  c.rootfs_type = as_string(required(rootfs, "type", "rootfs"), "rootfs.type");
  if (c.rootfs_type != "layers")
    fail("rootfs.type", fmt::format("'{}' is not supported (want \"layers\")", c.rootfs_type));
  const json& ids = required(rootfs, "diff_ids", "rootfs");
  array(ids, "rootfs.diff_ids");
  for (size_t i = 0; i < ids.size(); ++i)
    c.diff_ids.push_back(digest_field(ids[i], index("rootfs.diff_ids", i)));
  opt(j, "history", "", [&](auto& v, auto& at) {
    array(v, at);
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string hp = index(at, i);
      object(v[i], hp);
      History h;
      opt(v[i], "created", hp, [&](auto& x, auto& a) { h.created = as_string(x, a); });
      opt(v[i], "created_by", hp, [&](auto& x, auto& a) { h.created_by = as_string(x, a); });
      opt(v[i], "author", hp, [&](auto& x, auto& a) { h.author = as_string(x, a); });
      opt(v[i], "comment", hp, [&](auto& x, auto& a) { h.comment = as_string(x, a); });
      opt(v[i], "empty_layer", hp, [&](auto& x, auto& a) { h.empty_layer = as_bool(x, a); });
      c.history.push_back(std::move(h));
    }
  });
  return c;
}

// Serialisation. nlohmann's default object is a std::map, so keys come out sorted.
json platform_json(const Platform& p) {
  json j = {{"architecture", p.architecture}, {"os", p.os}};
  if (!p.os_version.empty()) j["os.version"] = p.os_version;
  if (!p.os_features.empty()) j["os.features"] = p.os_features;
  if (!p.variant.empty()) j["variant"] = p.variant;
  return j;
}

json descriptor_json(const Descriptor& d) {
  json j = {{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
  if (!d.urls.empty()) j["urls"] = d.urls;
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.platform) j["platform"] = platform_json(*d.platform);
  if (!d.artifact_type.empty()) j["artifactType"] = d.artifact_type;
  return j;
}

json descriptor_list(const std::vector<Descriptor>& ds) {
  json out = json::array();
  for (const auto& d : ds) out.push_back(descriptor_json(d));
  return out;
}

json key_set_json(const std::set<std::string>& keys) {
  json j = json::object();
  for (const auto& k : keys) j[k] = json::object();
  return j;
}

json container_config_json(const ContainerConfig& c) {
  json j = json::object();
  if (!c.user.empty()) j["User"] = c.user;
  if (!c.exposed_ports.empty()) j["ExposedPorts"] = key_set_json(c.exposed_ports);
  if (!c.env.empty()) j["Env"] = c.env;
  if (c.entrypoint) j["Entrypoint"] = *c.entrypoint;
  if (c.cmd) j["Cmd"] = *c.cmd;
  if (!c.volumes.empty()) j["Volumes"] = key_set_json(c.volumes);
  if (!c.working_dir.empty()) j["WorkingDir"] = c.working_dir;
  if (!c.labels.empty()) j["Labels"] = c.labels;
  if (!c.stop_signal.empty()) j["StopSignal"] = c.stop_signal;
  if (!c.on_build.empty()) j["OnBuild"] = c.on_build;
  if (!c.shell.empty()) j["Shell"] = c.shell;
  if (c.healthcheck) {
    const HealthConfig& h = *c.healthcheck;
    json hj = {{"Test", h.test}};
    if (h.interval) hj["Interval"] = h.interval;
    if (h.timeout) hj["Timeout"] = h.timeout;
    if (h.start_period) hj["StartPeriod"] = h.start_period;
    if (h.retries) hj["Retries"] = h.retries;
    j["Healthcheck"] = hj;
  }
  return j;
}

}  // namespace

Result<void> validate_digest(std::string_view digest) {
  auto colon = digest.find(':');
  if (colon == std::string_view::npos)
    return Error::make(ErrorKind::invalid_argument,
                       "invalid digest '{}': want algorithm:encoded, e.g. sha256:<64 hex>", digest);
  std::string_view algorithm = digest.substr(0, colon), encoded = digest.substr(colon + 1);
  // algorithm-component ([a-z0-9]+) joined by one of [+._-].
  bool want_component = true;
  for (char c : algorithm) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    bool sep = c == '+' || c == '.' || c == '_' || c == '-';
    if (alnum) {
      want_component = false;
    } else if (sep && !want_component) {
      want_component = true;
    } else {
      return Error::make(ErrorKind::invalid_argument, "invalid digest '{}': bad algorithm '{}'",
                         digest, algorithm);
    }
  }
  if (want_component)
    return Error::make(ErrorKind::invalid_argument, "invalid digest '{}': bad algorithm '{}'",
                       digest, algorithm);
  if (encoded.empty())
    return Error::make(ErrorKind::invalid_argument, "invalid digest '{}': empty encoded part",
                       digest);
  for (char c : encoded) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '=' || c == '_' || c == '-';
    if (!ok)
      return Error::make(ErrorKind::invalid_argument,
                         "invalid digest '{}': character '{}' not allowed in the encoded part",
                         digest, c);
  }
  size_t want = algorithm == "sha256" ? 64 : algorithm == "sha512" ? 128 : 0;
  if (want) {
    bool hex = encoded.find_first_not_of("0123456789abcdef") == std::string_view::npos;
    if (encoded.size() != want || !hex)
      return Error::make(ErrorKind::invalid_argument,
                         "invalid digest '{}': {} wants {} lower-case hex digits", digest,
                         algorithm, want);
  }
  return {};
}

Result<Descriptor> parse_descriptor(std::string_view text, std::string_view source) {
  return parse_with<Descriptor>(text, source,
                                [](const json& j) { return parse_descriptor_json(j, ""); });
}
Result<Manifest> parse_manifest(std::string_view text, std::string_view source) {
  return parse_with<Manifest>(text, source, parse_manifest_json);
}
Result<Index> parse_index(std::string_view text, std::string_view source) {
  return parse_with<Index>(text, source, parse_index_json);
}
Result<ImageConfig> parse_image_config(std::string_view text, std::string_view source) {
  return parse_with<ImageConfig>(text, source, parse_image_config_json);
}

std::string to_json(const Descriptor& d) { return descriptor_json(d).dump(); }

std::string to_json(const Manifest& m) {
  json j = {{"schemaVersion", m.schema_version},
            {"config", descriptor_json(m.config)},
            {"layers", descriptor_list(m.layers)}};
  if (!m.media_type.empty()) j["mediaType"] = m.media_type;
  if (!m.artifact_type.empty()) j["artifactType"] = m.artifact_type;
  if (m.subject) j["subject"] = descriptor_json(*m.subject);
  if (!m.annotations.empty()) j["annotations"] = m.annotations;
  return j.dump();
}

std::string to_json(const Index& x) {
  json j = {{"schemaVersion", x.schema_version}, {"manifests", descriptor_list(x.manifests)}};
  if (!x.media_type.empty()) j["mediaType"] = x.media_type;
  if (!x.artifact_type.empty()) j["artifactType"] = x.artifact_type;
  if (x.subject) j["subject"] = descriptor_json(*x.subject);
  if (!x.annotations.empty()) j["annotations"] = x.annotations;
  return j.dump();
}

std::string to_json(const ImageConfig& c) {
  json j = {{"architecture", c.architecture},
            {"os", c.os},
            {"config", container_config_json(c.config)},
            {"rootfs", {{"type", c.rootfs_type}, {"diff_ids", c.diff_ids}}}};
  if (!c.created.empty()) j["created"] = c.created;
  if (!c.author.empty()) j["author"] = c.author;
  if (!c.os_version.empty()) j["os.version"] = c.os_version;
  if (!c.os_features.empty()) j["os.features"] = c.os_features;
  if (!c.variant.empty()) j["variant"] = c.variant;
  if (!c.history.empty()) {
    json h = json::array();
    for (const auto& e : c.history) {
      json hj = json::object();
      if (!e.created.empty()) hj["created"] = e.created;
      if (!e.created_by.empty()) hj["created_by"] = e.created_by;
      if (!e.author.empty()) hj["author"] = e.author;
      if (!e.comment.empty()) hj["comment"] = e.comment;
      if (e.empty_layer) hj["empty_layer"] = true;
      h.push_back(std::move(hj));
    }
    j["history"] = std::move(h);
  }
  return j.dump();
}

std::string image_layout_json() {
  return json{{"imageLayoutVersion", std::string(kImageLayoutVersion)}}.dump();
}

}  // namespace berth::oci
