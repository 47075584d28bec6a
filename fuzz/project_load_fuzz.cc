// project_load: Compose files (YAML or JSON) and JSON project files through the whole
// project/load.h path: YAML → tree, interpolation, merging of -f files, extends, env_file,
// profiles, validation; then project/normalise.h's JSON and YAML. The input is cut at 0x01
// bytes: the first file, an override file (merged after it; none when empty), .env text, and
// what any env_file:, extends: file: or configs: file reads (no file system is touched). Also
// `interpolate`, `substitute_vars`, `parse_port_mapping` and `normalise_project_name` on the
// first piece. What config prints must read back as the same project (load.h, normalise.h).
#include "fuzz_util.h"
#include "project/load.h"
#include "project/normalise.h"

namespace {

using namespace berth;

project::LoadOptions options_for(std::vector<project::SourceFile> files,
                                 std::map<std::string, std::string> env, std::string_view other) {
  project::LoadOptions o;
  o.files = std::move(files);
  o.working_dir = "/srv/shop";
  o.env_file = std::move(env);
  o.environment = {{"TAG", "1.2"}, {"EMPTY", ""}, {"HOME", "/root"}};
  o.vars = {{"domain", "example.org"}, {"port", "8080"}, {"version", "1"}};  // JSON projects
  o.read_file = [other = std::string(other)](const std::string& path) -> Result<std::string> {
    if (path.ends_with("missing")) return Error(ErrorKind::not_found, "no such file");
    return other;
  };
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = fuzz::pieces(fuzz::as_text(data, size), '\x01', 4);
  while (parts.size() < 4) parts.emplace_back();

  std::map<std::string, std::string> vars = {{"TAG", "1.2"}, {"EMPTY", ""}};
  if (size < 4096) {
    (void)project::interpolate(parts[0], vars, "compose.yaml: services.web.image");
    std::vector<std::string> unknown;
    (void)project::substitute_vars(parts[0], vars, unknown);
    (void)project::parse_port_mapping(parts[0]);
    (void)project::normalise_project_name(parts[0]);
  }

  std::vector<project::SourceFile> files{{"/srv/shop/compose.yaml", std::string(parts[0])}};
  if (!parts[1].empty())
    files.push_back({"/srv/shop/compose.override.yaml", std::string(parts[1])});
  std::map<std::string, std::string> env;
  if (auto read = project::parse_env_file(parts[2], "/srv/shop/.env")) env = std::move(*read);
  auto loaded = project::load_project(options_for(files, env, parts[3]));
  if (!loaded) return 0;
  const project::Project& p = loaded->project;
  // The printed forms list a port range one port per entry, as docker compose does: a range of
  // 8,000 ports took 1.4 s an input here (41 ms for `berth compose config` in a release build),
  // and the few such inputs in the corpus took most of the target's time. Loading them is kept.
  int ports = 0;
  for (const auto& s : p.services)
    for (const auto& m : s.ports) ports += m.count();
  if (ports > 256) return 0;
  std::string json = project::to_json(p);
  (void)project::to_json(p, false, true);
  for (const auto& s : p.services) (void)project::service_json(p, s);

  // `berth compose config` prints YAML that must load as the same project (in the same
  // directory, with the same .env); JSON project files print the Compose form of their model.
  std::string yaml = project::to_yaml(p);
  auto again =
      project::load_project(options_for({{"/srv/shop/compose.yaml", yaml}}, env, parts[3]));
  if (!again) fuzz::violated("config output does not load", again.error().message() + "\n" + yaml);
  if (project::to_json(again->project) != json)
    fuzz::violated("config output loads as another project",
                   json + "\n---\n" + project::to_json(again->project));
  return 0;
}
