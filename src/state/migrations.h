// state/migrations.h — the schema of berth.db as an ordered list of migrations.
//
// The schema version lives in `PRAGMA user_version`. Each migration is applied in its own
// BEGIN IMMEDIATE transaction together with the version bump, so a crash leaves the database at
// the previous version or the next one, never in between, and two berth processes opening a fresh
// database at once apply each migration exactly once (the second one re-reads the version after
// taking the write lock and finds nothing left to do).
//
// Rules for later sessions: never edit or reorder a migration that has shipped; append a new one
// with the next version. A database newer than the binary is refused (failed_precondition), never
// touched: an old berth cannot know what a newer schema means.
#pragma once

#include <span>
#include <string_view>

#include "base/error.h"

namespace berth::state {

class Database;

struct Migration {
  int version;            // 1, 2, 3, …: contiguous, in order
  std::string_view name;  // for error messages: "apply migration 2 (volume labels)"
  std::string_view sql;   // one or more statements; no BEGIN/COMMIT (the runner owns that)
};

// berth's own schema, oldest first. The list and the SQL live in static storage.
std::span<const Migration> schema_migrations();

// 'bert' in PRAGMA application_id: marks the file as berth's, so berth refuses another program's
// SQLite file instead of adding tables to it.
inline constexpr int kApplicationId = 0x62657274;

// Brings db up to the last version in `migrations`. Fails with failed_precondition when the
// database is newer than the list ("berth.db is at schema 7, this berth knows up to 5: upgrade
// berth"), with internal when the list is not 1..N in order, and with the SQLite error (context
// "apply migration N (name)") when a migration fails, leaving the database at version N-1.
Result<void> migrate(Database& db, std::span<const Migration> migrations);

}  // namespace berth::state
