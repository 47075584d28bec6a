#include "state/database.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <unordered_map>

#include "base/sys.h"
#include "state/detail/sqlite_error.h"

namespace berth::state {

namespace detail {

ErrorKind kind_for_sqlite_code(int code) {
  switch (code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      return ErrorKind::already_exists;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return ErrorKind::failed_precondition;
    case SQLITE_NOTADB:
      return ErrorKind::corrupt;
    case SQLITE_FULL:
      return ErrorKind::io;
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return ErrorKind::permission_denied;
    case SQLITE_TOOBIG:
      return ErrorKind::invalid_argument;
    default:
      break;
  }
  switch (code & 0xff) {  // the primary code of an extended one
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorKind::unavailable;
    case SQLITE_CONSTRAINT:
      return ErrorKind::invalid_argument;
    case SQLITE_CORRUPT:
      return ErrorKind::corrupt;
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
      return ErrorKind::io;
    default:
      return ErrorKind::internal;
  }
}

namespace {
// SQLite says "database or disk is full"; the user needs to know which file system.
Error with_full_disk_hint(Error error, sqlite3* db, int code) {
  if ((code & 0xff) != SQLITE_FULL) return error;
  const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
  std::string where = file && *file ? file : "berth.db";
  return std::move(error).with_hint(full_disk_hint(where));
}
}  // namespace

Error sqlite_error(sqlite3* db, int code, std::string_view summary) {
  // sqlite3_errmsg describes the most recent failure on db, which is this one: callers build the
  // error straight after the failing call.
  std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  Error error(kind_for_sqlite_code(code), std::move(message));
  if (!summary.empty()) error.context(summary);
  return with_full_disk_hint(std::move(error), db, code);
}

std::string summarize_sql(std::string_view sql) {
  constexpr std::string_view kBlank = " \t\r\n";
  while (!sql.empty()) {
    size_t end = sql.find('\n');
    std::string_view line = sql.substr(0, end);
    size_t first = line.find_first_not_of(kBlank);
    if (first != std::string_view::npos) {
      line = line.substr(first, line.find_last_not_of(kBlank) - first + 1);
      if (line.size() > 120) return std::string(line.substr(0, 117)) + "...";
      return std::string(line);
    }
    if (end == std::string_view::npos) break;
    sql.remove_prefix(end + 1);
  }
  return {};
}

}  // namespace detail

// Compiled statements not in use, by their SQL text: one each.
struct StatementCache {
  std::unordered_map<std::string, sqlite3_stmt*> idle;
  ~StatementCache() {
    for (auto& [sql, stmt] : idle) sqlite3_finalize(stmt);
  }
};

// --- Statement ---------------------------------------------------------------------------------

Statement::Statement(sqlite3_stmt* stmt, std::string summary, StatementCache* cache)
    : stmt_(stmt), cache_(cache), summary_(std::move(summary)) {}

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      cache_(other.cache_),
      summary_(std::move(other.summary_)),
      bind_error_(std::move(other.bind_error_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    release();
    stmt_ = std::exchange(other.stmt_, nullptr);
    cache_ = other.cache_;
    summary_ = std::move(other.summary_);
    bind_error_ = std::move(other.bind_error_);
  }
  return *this;
}

Statement::~Statement() { release(); }

void Statement::release() {
  if (!stmt_) return;
  sqlite3_stmt* stmt = std::exchange(stmt_, nullptr);
  // reset also ends a SELECT that did not run out, giving up its read snapshot.
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (cache_ && cache_->idle.try_emplace(sqlite3_sql(stmt), stmt).second) return;
  sqlite3_finalize(stmt);  // another copy of the same text is idle already
}

Statement& Statement::remember(int rc, int index) {
  if (rc != SQLITE_OK && !bind_error_) {
    bind_error_ = detail::sqlite_error(sqlite3_db_handle(stmt_), rc, summary_);
    bind_error_->context(fmt::format("bind parameter {}", index));
  }
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  return remember(sqlite3_bind_int64(stmt_, index, value), index);
}

Statement& Statement::bind(int index, std::string_view text) {
  return remember(
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
      index);
}

Statement& Statement::bind(int index, Blob blob) {
  // A null data pointer would bind NULL; an empty blob must stay an empty blob.
  static const char kEmpty = 0;
  const char* data = blob.bytes.data() ? blob.bytes.data() : &kEmpty;
  return remember(sqlite3_bind_blob64(stmt_, index, data, blob.bytes.size(), SQLITE_TRANSIENT),
                  index);
}

Statement& Statement::bind(int index, std::nullptr_t) {
  return remember(sqlite3_bind_null(stmt_, index), index);
}

Result<bool> Statement::step() {
  if (bind_error_) return *bind_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error error = detail::sqlite_error(sqlite3_db_handle(stmt_), rc, summary_);
  // Leave the statement ready to run again and end any read snapshot it held.
  sqlite3_reset(stmt_);
  return error;
}

Result<void> Statement::run() {
  for (;;) {
    BERTH_TRY(bool row, step());
    if (!row) return {};
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_.reset();
}

int Statement::column_count() const { return sqlite3_column_count(stmt_); }

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string Statement::column_text(int column) const {
  // Pointer first, then size: the documented order that keeps the pointer valid.
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  int size = sqlite3_column_bytes(stmt_, column);
  return text ? std::string(text, static_cast<size_t>(size)) : std::string();
}

std::string Statement::column_blob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  int size = sqlite3_column_bytes(stmt_, column);
  return data ? std::string(data, static_cast<size_t>(size)) : std::string();
}

std::optional<std::int64_t> Statement::column_optional_int64(int column) const {
  if (is_null(column)) return std::nullopt;
  return column_int64(column);
}

std::optional<std::string> Statement::column_optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return column_text(column);
}

// --- Database ----------------------------------------------------------------------------------

Database::Database(sqlite3* db, std::string path)
    : db_(db), path_(std::move(path)), cache_(std::make_unique<StatementCache>()) {}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      cache_(std::move(other.cache_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    close();
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    cache_ = std::move(other.cache_);
  }
  return *this;
}

// close_v2 defers the close until the last Statement is finalized, so a stray Statement cannot
// make the close fail and leak the connection.
Database::~Database() { close(); }

void Database::close() {
  cache_.reset();  // finalizes the idle statements
  sqlite3_close_v2(db_);
}

namespace {

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Creates the database file with mode 0600 unless it exists: it holds container configs, and
// their environments often carry secrets. SQLite gives the -wal and -shm files the same mode.
Result<void> create_private_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) {
    ::close(fd);
    return {};
  }
  if (errno == EEXIST) return {};
  return Error::from_errno("create '{}'", path);
}

}  // namespace

Result<Database> Database::open(const std::string& path, const OpenOptions& options) {
  auto opened = [&]() -> Result<Database> {
    BERTH_TRY_VOID(sys::mkdir_all(parent_dir(path), 0755));
    BERTH_TRY_VOID(create_private_file(path));

    sqlite3* raw = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &raw,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    // From here on `db` closes the handle on every path, including a failed open.
    Database db(raw, path);
    if (rc != SQLITE_OK) return detail::sqlite_error(raw, rc, "");
    sqlite3_extended_result_codes(raw, 1);
    // Before anything that takes a lock: switching to WAL and migrating wait for other processes.
    sqlite3_busy_timeout(raw, static_cast<int>(options.busy_timeout.count()));

    // WAL: readers never block the writer nor the writer the readers, and a commit is one append.
    // The mode is persistent in the file; asking again is cheap.
    // Switching a fresh file to WAL takes an exclusive lock without calling the busy handler:
    // a second process opening the same new database at once gets SQLITE_BUSY. Wait for it.
    BERTH_TRY(auto mode_stmt, db.prepare("PRAGMA journal_mode=WAL"));
    std::string mode;
    for (int attempt = 0;; ++attempt) {
      auto has_row = mode_stmt.step();
      if (has_row) {
        mode = *has_row ? mode_stmt.column_text(0) : "";
        break;
      }
      mode_stmt.reset();
      if (has_row.error().kind() != ErrorKind::unavailable || attempt >= 5000) return std::move(has_row).error();
      ::usleep(1000);
    }
    mode_stmt.reset();
    if (mode != "wal")
      return Error::make(ErrorKind::unsupported, "cannot use WAL mode: journal mode stays '{}'",
                         mode);

    // synchronous=NORMAL in WAL mode fsyncs the WAL only at checkpoints, not at every commit.
    // It stays crash-safe: every WAL frame is checksummed and a commit is only valid once its
    // commit frame is whole, so after any crash recovery replays exactly the commits that made it,
    // never half of one. A process crash (SIGKILL, OOM kill) loses nothing that committed: the
    // WAL is in the page cache. A power loss may roll back the last commits since the previous
    // checkpoint, which berth tolerates because after a reboot every container is dead anyway and
    // files are written (fsync, rename) before the row that names them commits: a lost commit can
    // leave an unreferenced file for GC, never a row that names a missing file. FULL would cost an
    // fsync per command on the hot path (`berth run --rm` commits several times).
    BERTH_TRY_VOID(db.exec("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL"));
    // Every berth command is a short-lived connection, usually the only one. By default the last
    // connection to close checkpoints the WAL into the database (two fsyncs) and deletes the WAL
    // and shm files, so the next command creates them again (a directory fsync). Keep the WAL and
    // leave checkpoints to the automatic ones: most commands cost no fsync. The first connection
    // of each command replays the WAL to rebuild its index (it cannot trust a shm file no live
    // connection vouches for), so the WAL is kept short: a checkpoint every 64 pages, and the
    // file truncated back to 512 KiB after one.
    BERTH_TRY_VOID(db.exec("PRAGMA wal_autocheckpoint=64; PRAGMA journal_size_limit=524288"));
    int persist = 1;
    sqlite3_file_control(raw, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);

    BERTH_TRY(auto app_id, db.query_int64("PRAGMA application_id"));
    if (app_id.value_or(0) != 0 && *app_id != kApplicationId)
      return Error::make(ErrorKind::failed_precondition,
                         "not a berth database (application_id {:#x})", *app_id);

    BERTH_TRY_VOID(migrate(db, options.migrations));
    return db;
  }();
  return std::move(opened).context(fmt::format("open database '{}'", path));
}

Result<Statement> Database::prepare(std::string_view sql) {
  if (auto idle = cache_->idle.find(std::string(sql)); idle != cache_->idle.end()) {
    sqlite3_stmt* stmt = idle->second;
    cache_->idle.erase(idle);
    return Statement(stmt, detail::summarize_sql(sql), cache_.get());
  }
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, &tail);
  std::string summary = detail::summarize_sql(sql);
  if (rc != SQLITE_OK) return detail::sqlite_error(db_, rc, summary);
  Statement statement(stmt, std::move(summary), cache_.get());
  if (!stmt)
    return Error::make(ErrorKind::internal, "prepare '{}': no statement", statement.summary());
  std::string_view rest(tail, static_cast<size_t>(sql.data() + sql.size() - tail));
  if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
    statement.cache_ = nullptr;  // finalized, never handed out for this text
    return Error::make(ErrorKind::internal, "{}: more than one statement (use exec)",
                       statement.summary());
  }
  return statement;
}

Result<void> Database::exec_on(sqlite3* db, std::string_view sql) {
  std::string text(sql);  // sqlite3_exec wants a NUL-terminated string
  char* message = nullptr;
  int rc = sqlite3_exec(db, text.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return {};
  int code = sqlite3_extended_errcode(db);
  Error error(detail::kind_for_sqlite_code(code), message ? message : sqlite3_errstr(rc));
  sqlite3_free(message);
  error.context(detail::summarize_sql(sql));
  return detail::with_full_disk_hint(std::move(error), db, code);
}

Result<void> Database::exec(std::string_view sql) { return exec_on(db_, sql); }

Result<std::optional<std::int64_t>> Database::query_int64(std::string_view sql) {
  BERTH_TRY(auto stmt, prepare(sql));
  BERTH_TRY(bool row, stmt.step());
  if (!row) return std::optional<std::int64_t>();
  return stmt.column_optional_int64(0);
}

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

std::int64_t Database::changes() const { return sqlite3_changes64(db_); }

bool Database::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

Result<int> Database::schema_version() {
  BERTH_TRY(auto version, query_int64("PRAGMA user_version"));
  return static_cast<int>(version.value_or(0));
}

}  // namespace berth::state
