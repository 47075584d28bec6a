// state/database.h — one connection to berth.db (SQLite, WAL mode) and its prepared statements.
//
// Concurrency model. berth has no daemon: every CLI process opens its own Database on the same
// file, and SQLite's file locking serialises them. WAL mode lets readers run while one writer
// writes; writers wait for each other up to `busy_timeout` instead of failing at once. Take the
// write lock up front with state::Transaction (BEGIN IMMEDIATE) whenever you will write, and use
// state::with_retry for the rare case where even the timeout is not enough.
//
// Thread-safety: a Database, its Statements and its Transactions are used by one thread at a
// time (SQLITE_OPEN_NOMUTEX). Threads that need the database concurrently open one each.
// Never carry an open Database across fork() into a child that uses it (SQLite's rule); a child
// that only calls _exit() is fine.
//
// Errors: every failure carries SQLite's message, the first line of the statement as context,
// and an ErrorKind mapped from the extended result code:
//   SQLITE_BUSY*/LOCKED*                 → unavailable (another process holds the lock too long)
//   CONSTRAINT_UNIQUE/PRIMARYKEY          → already_exists
//   CONSTRAINT_FOREIGNKEY                 → failed_precondition (a row is still referenced)
//   other CONSTRAINT_*, TOOBIG            → invalid_argument
//   CORRUPT*/NOTADB                       → corrupt
//   CANTOPEN*/READONLY*/IOERR*/FULL       → io
//   PERM/AUTH                             → permission_denied
//   anything else (syntax, misuse, range) → internal: a bug in berth
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/error.h"
#include "state/migrations.h"

struct sqlite3;
struct sqlite3_stmt;

namespace berth::state {

struct StatementCache;

// Marks bytes to be bound as a BLOB rather than TEXT. Does not own them.
struct Blob {
  std::string_view bytes;
};

// A prepared statement. Owns its sqlite3_stmt and finalizes it in the destructor.
//
// Binds are 1-based (SQLite's `?1`); columns are 0-based (SQLite's convention for results).
// Bind calls chain and never fail on the spot: the first bind error is remembered and returned
// by the next step()/run(), so the call site reads
//   stmt.bind(1, id).bind(2, name);  BERTH_TRY_VOID(stmt.run());
// Bound text and blobs are copied, so arguments may be temporaries.
//
// A Statement must not outlive the Database that prepared it (the Database itself may be moved).
// Once destroyed, its compiled form goes back to the Database, which hands it out again to the
// next prepare() of the same text (reset, bindings cleared): a command that runs a statement
// twice compiles it once.
// A SELECT that has not reached its end holds a read snapshot: let it run out, reset() it, or
// destroy it promptly, or it blocks WAL checkpoints.
class Statement {
 public:
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const std::string& text) {
    return bind(index, std::string_view(text));
  }
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, Blob blob);
  Statement& bind(int index, std::nullptr_t);
  Statement& bind(int index, std::nullopt_t) { return bind(index, nullptr); }
  // Any integer type (int, pid_t, bool, …) binds as int64. uint64 values above INT64_MAX wrap.
  template <std::integral I>
  Statement& bind(int index, I value) {
    return bind(index, static_cast<std::int64_t>(value));
  }
  // An empty optional binds NULL.
  template <typename T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind(index, nullptr);
  }
  // Binds each argument in turn to ?1, ?2, …
  template <typename... Args>
  Statement& bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
    return *this;
  }

  // Advances to the next row: true when a row is ready for the column getters, false when the
  // statement has finished.
  Result<bool> step();
  // Steps to the end, ignoring any rows: for INSERT/UPDATE/DELETE/DDL.
  Result<void> run();
  // Makes the statement ready to run again; clears bindings and any remembered bind error.
  void reset();

  // Column getters for the current row. SQLite converts between storage classes; NULL reads as
  // 0 or "" (use the optional getters or is_null to tell NULL apart).
  int column_count() const;
  bool is_null(int column) const;
  std::int64_t column_int64(int column) const;
  std::string column_text(int column) const;
  std::string column_blob(int column) const;  // raw bytes, may contain NULs
  std::optional<std::int64_t> column_optional_int64(int column) const;
  std::optional<std::string> column_optional_text(int column) const;

  // The first line of the SQL: what errors name.
  const std::string& summary() const { return summary_; }

 private:
  friend class Database;
  Statement(sqlite3_stmt* stmt, std::string summary, StatementCache* cache);
  Statement& remember(int rc, int index);
  void release();  // back to the cache, or finalized

  sqlite3_stmt* stmt_ = nullptr;
  StatementCache* cache_ = nullptr;
  std::string summary_;
  std::optional<Error> bind_error_;
};

struct OpenOptions {
  // How long a statement waits for another process's lock before failing with unavailable.
  std::chrono::milliseconds busy_timeout{10'000};
  // The schema to bring the database to; tests pass shorter or longer lists.
  std::span<const Migration> migrations = schema_migrations();
};

// An open connection. Move-only; closes the connection in the destructor.
class Database {
 public:
  // Creates the parent directories (0755) and the file (0600: it holds container environments),
  // opens it in WAL mode with busy_timeout, foreign_keys=ON and synchronous=NORMAL, checks that
  // it is berth's (application_id) and runs the migrations.
  static Result<Database> open(const std::string& path, const OpenOptions& options = {});

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Compiles one statement. Trailing text after the first statement is an internal error.
  Result<Statement> prepare(std::string_view sql);
  // Runs one or more statements without parameters, discarding any rows.
  Result<void> exec(std::string_view sql);
  // Runs a query expected to return one integer in its first row (NULL or no row → nullopt).
  Result<std::optional<std::int64_t>> query_int64(std::string_view sql);

  std::int64_t last_insert_rowid() const;
  // Rows changed by the last INSERT/UPDATE/DELETE.
  std::int64_t changes() const;
  // True between BEGIN and COMMIT/ROLLBACK.
  bool in_transaction() const;
  // `PRAGMA user_version`: the last migration applied.
  Result<int> schema_version();
  const std::string& path() const { return path_; }

 private:
  friend class Transaction;
  friend class ReadTransaction;
  Database(sqlite3* db, std::string path);
  static Result<void> exec_on(sqlite3* db, std::string_view sql);
  void close();

  sqlite3* db_ = nullptr;
  std::string path_;
  std::unique_ptr<StatementCache> cache_;  // stays put when the Database moves
};

}  // namespace berth::state
