#include "state/migrations.h"

#include "state/database.h"
#include "state/transaction.h"

namespace berth::state {

namespace {

// Conventions for every table:
// - Times are INTEGER Unix nanoseconds (UTC): exact, sortable, and what Docker's timeNano shows.
// - Digests are text "sha256:<64 hex>"; container ids are 64 lower-case hex characters.
// - Open-ended maps (labels, options, attributes, create options) are JSON text owned by the
//   subsystem that writes them; the schema only promises valid text ('{}' when empty).
// - Foreign keys are enforced (PRAGMA foreign_keys=ON), so a row cannot name what is gone.
constexpr std::string_view kInitialSchema = R"sql(
-- An image in the content store. id is the digest of its manifest (the blob the store keeps
-- under blobs/sha256/); config_digest is what `berth images` shows as IMAGE ID.
CREATE TABLE images (
  id            TEXT PRIMARY KEY,
  config_digest TEXT NOT NULL,
  media_type    TEXT NOT NULL,
  size          INTEGER NOT NULL,          -- bytes: config + layers as stored
  created       INTEGER NOT NULL,          -- from the image config, or import time
  added         INTEGER NOT NULL           -- when this store got it
);
CREATE INDEX images_by_config ON images(config_digest);

-- Names of images: a normalised reference ("localhost/busybox:latest") points at one image.
-- Removing an image removes its names; a container keeps its image (see containers.image_id).
CREATE TABLE tags (
  reference TEXT PRIMARY KEY,
  image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX tags_by_image ON tags(image_id);

-- A container as users see it. state is one of created, running, paused, restarting, exited,
-- removing, dead (the engine owns the transitions). pid and monitor_pid are set while running;
-- exit_code, finished and oom_killed are written by the monitor when the container dies.
CREATE TABLE containers (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL UNIQUE,
  image_id      TEXT NOT NULL REFERENCES images(id),  -- an image in use cannot be deleted
  image_ref     TEXT NOT NULL,           -- as the user asked for it: the IMAGE column of ps
  config        TEXT NOT NULL,           -- JSON: the create options
  state         TEXT NOT NULL,
  pid           INTEGER,
  monitor_pid   INTEGER,
  exit_code     INTEGER,
  oom_killed    INTEGER NOT NULL DEFAULT 0,
  restart_count INTEGER NOT NULL DEFAULT 0,
  created       INTEGER NOT NULL,
  started       INTEGER,
  finished      INTEGER
);
CREATE INDEX containers_by_image ON containers(image_id);
CREATE INDEX containers_by_state ON containers(state);

-- Named volumes; the data lives in volumes/<name>/data/.
CREATE TABLE volumes (
  name    TEXT PRIMARY KEY,
  driver  TEXT NOT NULL DEFAULT 'local',
  labels  TEXT NOT NULL DEFAULT '{}',    -- JSON object
  options TEXT NOT NULL DEFAULT '{}',    -- JSON object
  created INTEGER NOT NULL
);

-- Which container mounts which volume where: `volume rm` refuses a volume in use, `rm -v`
-- finds a container's anonymous volumes. Rows go away with their container.
CREATE TABLE container_volumes (
  container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  volume_name  TEXT NOT NULL REFERENCES volumes(name),
  destination  TEXT NOT NULL,
  read_only    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (container_id, destination)
);
CREATE INDEX container_volumes_by_volume ON container_volumes(volume_name);

-- The event log behind `berth events`. seq is AUTOINCREMENT so a number is never reused after
-- old events are pruned: a follower resumes with "seq > last seen".
CREATE TABLE events (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  time       INTEGER NOT NULL,
  type       TEXT NOT NULL,              -- container, image, volume, network
  action     TEXT NOT NULL,              -- create, start, die, oom, health_status, destroy, …
  actor_id   TEXT NOT NULL,
  attributes TEXT NOT NULL DEFAULT '{}'  -- JSON object: name, image, exitCode, …
);
CREATE INDEX events_by_time ON events(time);
)sql";

// Why a container's last start failed ("exec: 'nosuch' not found"), for ps/inspect.
constexpr std::string_view kContainerError = R"sql(
ALTER TABLE containers ADD COLUMN error TEXT NOT NULL DEFAULT '';
)sql";

// Networks, each container's address on them (a lease: one address never twice, by the UNIQUE
// constraint, also under concurrent runs) and the host ports it publishes.
constexpr std::string_view kNetworks = R"sql(
CREATE TABLE networks (
  id        TEXT PRIMARY KEY,
  name      TEXT NOT NULL UNIQUE,
  driver    TEXT NOT NULL,
  bridge    TEXT NOT NULL UNIQUE,
  subnet    TEXT NOT NULL,
  gateway   TEXT NOT NULL,
  ip_range  TEXT NOT NULL DEFAULT '',
  internal  INTEGER NOT NULL DEFAULT 0,
  mtu       INTEGER,
  labels    TEXT NOT NULL DEFAULT '{}',
  created   INTEGER NOT NULL
);
CREATE TABLE endpoints (
  container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  network_id   TEXT NOT NULL REFERENCES networks(id),  -- a network in use cannot be removed
  ip           TEXT NOT NULL,
  aliases      TEXT NOT NULL DEFAULT '[]',
  position     INTEGER NOT NULL,          -- eth0, eth1, ... in the order connected
  active       INTEGER NOT NULL DEFAULT 0,  -- wired up now: the container runs
  PRIMARY KEY (container_id, network_id),
  UNIQUE (network_id, ip)
);
CREATE TABLE ports (
  container_id   TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
  protocol       TEXT NOT NULL,
  host_ip        TEXT NOT NULL,           -- '0.0.0.0': every address
  host_port      INTEGER NOT NULL,
  container_port INTEGER NOT NULL,
  UNIQUE (protocol, host_ip, host_port)
);
)sql";

// The build cache: one row per filesystem-changing build step (RUN, COPY, ADD, WORKDIR), keyed
// by the hash of everything the step's result depends on. A row keeps its layer blob and its
// unpacked layer directory (by chain id) alive through image GC; `builder prune` deletes rows.
constexpr std::string_view kBuildCache = R"sql(
CREATE TABLE build_cache (
  key          TEXT PRIMARY KEY,
  diff_id      TEXT NOT NULL,   -- '' for a step that changed nothing (no layer)
  layer        TEXT NOT NULL,   -- the layer's descriptor (JSON), '' without a layer
  chain_id     TEXT NOT NULL,   -- the layer directory's chain id, '' without a layer
  description  TEXT NOT NULL,   -- the step, for `builder du`
  size         INTEGER NOT NULL,
  created      INTEGER NOT NULL,
  last_used    INTEGER NOT NULL
);
)sql";

// Projects (project/): the desired state `berth compose up` was last asked for, so that `show`,
// `ls` and the next `up` know it without the files, and the last failure of each service.
constexpr std::string_view kProjects = R"sql(
CREATE TABLE projects (
  name         TEXT PRIMARY KEY,
  format       TEXT NOT NULL,             -- compose, json
  working_dir  TEXT NOT NULL,
  config_files TEXT NOT NULL DEFAULT '[]', -- JSON list of paths
  model        TEXT NOT NULL,             -- the normalised project (project/normalise.h)
  errors       TEXT NOT NULL DEFAULT '{}', -- service → why its last up failed
  created      INTEGER NOT NULL,
  updated      INTEGER NOT NULL
);
)sql";

// `berth compose change` (project/changes.h): per service, what was changed apart from the files
// and what the files said then, kept until the files change that field.
constexpr std::string_view kProjectChanges = R"sql(
ALTER TABLE projects ADD COLUMN changes TEXT NOT NULL DEFAULT '{}';
)sql";

constexpr Migration kMigrations[] = {
    {1, "initial schema", kInitialSchema},
    {2, "container start errors", kContainerError},
    {3, "networks", kNetworks},
    {4, "build cache", kBuildCache},
    {5, "projects", kProjects},
    {6, "project changes", kProjectChanges},
};

std::string file_name(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Error newer_than_binary(const Database& db, int version, size_t known) {
  std::string name = file_name(db.path());
  return Error::make(ErrorKind::failed_precondition,
                     "{} is at schema {}, this berth knows up to {}: upgrade berth", name, version,
                     known)
      .with_hint(fmt::format("a newer berth wrote {}; run that version, or a newer one", name));
}

}  // namespace

std::span<const Migration> schema_migrations() { return kMigrations; }

Result<void> migrate(Database& db, std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i)
    if (migrations[i].version != static_cast<int>(i + 1))
      return Error::make(ErrorKind::internal,
                         "migration '{}' has version {}, expected {}: versions must be 1..N",
                         migrations[i].name, migrations[i].version, i + 1);

  BERTH_TRY(int version, db.schema_version());
  if (version > static_cast<int>(migrations.size()))
    return newer_than_binary(db, version, migrations.size());

  for (const Migration& m : migrations) {
    if (m.version <= version) continue;
    BERTH_TRY(auto tx, Transaction::begin(db));
    // Another process may have migrated while we waited for the write lock: read again.
    BERTH_TRY(version, db.schema_version());
    if (version > static_cast<int>(migrations.size()))
      return newer_than_binary(db, version, migrations.size());
    if (m.version <= version) continue;  // the destructor rolls back the empty transaction

    if (version == 0) {
      // An empty file becomes berth's; a file with someone else's tables does not.
      BERTH_TRY(auto tables, db.query_int64("SELECT count(*) FROM sqlite_master"));
      if (tables.value_or(0) != 0)
        return Error::make(ErrorKind::failed_precondition,
                           "{} has tables but no berth schema version: not a berth database",
                           file_name(db.path()));
      BERTH_TRY_VOID(db.exec(fmt::format("PRAGMA application_id = {}", kApplicationId)));
    }
    BERTH_TRY_VOID(
        db.exec(m.sql).context(fmt::format("apply migration {} ({})", m.version, m.name)));
    BERTH_TRY_VOID(db.exec(fmt::format("PRAGMA user_version = {}", m.version)));
    BERTH_TRY_VOID(tx.commit().context(fmt::format("apply migration {} ({})", m.version, m.name)));
    version = m.version;
  }
  return {};
}

}  // namespace berth::state
