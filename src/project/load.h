// project/load.h — from files to the project model: reads Compose files (YAML) and JSON
// project files, interpolates variables, merges several files, applies profiles, validates every
// field up front. Errors name the file, the path in it and the value:
//   compose.yaml: services.web.ports[1]: "80:80:80" is not a port mapping
// Unknown fields are errors in JSON project files and warnings in Compose files (x-* allowed).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "project/model.h"

namespace berth::project {

// One file as read: its name (for messages and relative paths) and its text.
struct SourceFile {
  std::string path;
  std::string text;
};

struct LoadOptions {
  std::vector<SourceFile> files;  // in -f order; later files override earlier ones
  std::string project_name;       // -p ("" = COMPOSE_PROJECT_NAME, `name:`, the directory)
  std::string working_dir;        // absolute ("" = the first file's directory)
  std::map<std::string, std::string> environment;  // the process's (wins over env files)
  std::map<std::string, std::string> env_file;     // .env or --env-file, already read
  std::map<std::string, std::string> vars;         // --var k=v (wins over both)
  std::vector<std::string> profiles;               // --profile, COMPOSE_PROFILES
  std::vector<std::string> services;               // services named on the command line: enabled
  // Reads env_file: entries and configs (tests pass a fake); default reads the host's files.
  std::function<Result<std::string>(const std::string& path)> read_file;
};

struct Loaded {
  Project project;
  std::vector<std::string> warnings;  // "compose.yaml: services.web.foo: unknown field, ignored"
};

Result<Loaded> load_project(const LoadOptions& options);

// The files of a command line: each -f read (or compose.yaml/compose.yml/docker-compose.yaml/
// docker-compose.yml, then berth.json, in `dir`, with compose.override.yaml beside it), plus .env
// (or --env-file) parsed into options.env_file.
Result<LoadOptions> read_files(const std::vector<std::string>& files, const std::string& dir,
                               const std::vector<std::string>& env_files);

// ".env" syntax: NAME=value lines, # comments, optional quotes, `export ` prefix.
Result<std::map<std::string, std::string>> parse_env_file(std::string_view text,
                                                          std::string_view file);

// Compose interpolation of one string: ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?err}, ${VAR?err},
// ${VAR:+x}, ${VAR+x}, $VAR, $$. `lookup` returns nullptr for an unset variable. `where` prefixes
// errors ("compose.yaml: services.web.image").
Result<std::string> interpolate(std::string_view text,
                                const std::map<std::string, std::string>& vars,
                                std::string_view where);

// JSON project files' variables: $name or ${name} from `vars`; $$ is a dollar. Unknown names are
// collected into `unknown` (the caller reports them all at once).
std::string substitute_vars(std::string_view text, const std::map<std::string, std::string>& vars,
                            std::vector<std::string>& unknown);

// Compose's short port syntax: [[IP:][HOST[-END]]:]CONTAINER[-END][/tcp|udp]. The error says
// why, without the value (the caller names file, path and value).
Result<PortMapping> parse_port_mapping(std::string_view text);

// A project name from any text as docker compose makes one: lower case, [a-z0-9_-] kept.
std::string normalise_project_name(std::string_view text);

}  // namespace berth::project
