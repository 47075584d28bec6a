#include "state/database.h"

#include <gtest/gtest.h>
#include <sqlite3.h>  // result-code constants only: the mapping test names them
#include <sys/stat.h>

#include "state/detail/sqlite_error.h"
#include "state_test_util.h"

namespace berth::state {
namespace {

using testing::TempDirTest;

class DatabaseTest : public TempDirTest {
 protected:
  Database open_ok(const std::string& name = "berth.db", const OpenOptions& options = {}) {
    auto db = Database::open(path(name), options);
    EXPECT_TRUE(db) << db.error().message();
    return std::move(db).value();
  }
  static std::string text(Database& db, std::string_view sql) {
    auto stmt = db.prepare(sql);
    EXPECT_TRUE(stmt) << stmt.error().message();
    auto row = stmt->step();
    EXPECT_TRUE(row && *row);
    return stmt->column_text(0);
  }
};

TEST_F(DatabaseTest, OpenCreatesParentDirectoriesAPrivateFileAndTheSchema) {
  auto db = Database::open(path("var/lib/berth/berth.db"));
  ASSERT_TRUE(db) << db.error().message();
  struct stat st {};
  ASSERT_EQ(::stat(path("var/lib/berth/berth.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto version = db->schema_version();
  ASSERT_TRUE(version);
  EXPECT_EQ(*version, static_cast<int>(schema_migrations().size()));
  EXPECT_EQ(db->path(), path("var/lib/berth/berth.db"));
}

TEST_F(DatabaseTest, ConnectionUsesWalBusyTimeoutForeignKeysAndNormalSync) {
  OpenOptions options;
  options.busy_timeout = std::chrono::milliseconds(1234);
  Database db = open_ok("berth.db", options);
  EXPECT_EQ(text(db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(*db.query_int64("PRAGMA busy_timeout").value(), 1234);
  EXPECT_EQ(*db.query_int64("PRAGMA foreign_keys").value(), 1);
  EXPECT_EQ(*db.query_int64("PRAGMA synchronous").value(), 1);  // NORMAL
  EXPECT_EQ(*db.query_int64("PRAGMA application_id").value(), kApplicationId);
}

TEST_F(DatabaseTest, ReopenKeepsDataAndSchemaVersion) {
  {
    Database db = open_ok();
    auto insert = db.prepare("INSERT INTO volumes (name, created) VALUES (?, ?)");
    ASSERT_TRUE(insert);
    ASSERT_TRUE(insert->bind_all("data", 42).run());
  }
  Database db = open_ok();
  EXPECT_EQ(text(db, "SELECT name || ':' || created || ':' || driver FROM volumes"),
            "data:42:local");
  EXPECT_EQ(*db.schema_version(), static_cast<int>(schema_migrations().size()));
}

TEST_F(DatabaseTest, TypedBindsAndColumnsRoundTripIncludingNullAndBlobs) {
  Database db = open_ok();
  ASSERT_TRUE(db.exec("CREATE TEMP TABLE t (i INTEGER, s TEXT, b BLOB, n, o, p)"));
  auto insert = db.prepare("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)");
  ASSERT_TRUE(insert);
  const std::string bytes("\x00\x01\xff\x00z", 5);
  std::optional<std::int64_t> none;
  std::optional<std::string> some = "labelled";
  insert->bind(1, std::int64_t{-9'000'000'000'000})
      .bind(2, std::string("caf\xc3\xa9"))
      .bind(3, Blob{bytes})
      .bind(4, nullptr)
      .bind(5, none)
      .bind(6, some);
  ASSERT_TRUE(insert->run());
  EXPECT_EQ(db.changes(), 1);
  EXPECT_EQ(db.last_insert_rowid(), 1);

  auto select = db.prepare("SELECT i, s, b, n, o, p, typeof(b) FROM t");
  ASSERT_TRUE(select);
  auto row = select->step();
  ASSERT_TRUE(row && *row);
  EXPECT_EQ(select->column_count(), 7);
  EXPECT_EQ(select->column_int64(0), -9'000'000'000'000);
  EXPECT_EQ(select->column_text(1), "caf\xc3\xa9");
  EXPECT_EQ(select->column_blob(2), bytes);
  EXPECT_TRUE(select->is_null(3));
  EXPECT_EQ(select->column_optional_int64(3), std::nullopt);
  EXPECT_EQ(select->column_int64(3), 0);
  EXPECT_EQ(select->column_text(3), "");
  EXPECT_EQ(select->column_optional_text(4), std::nullopt);
  EXPECT_EQ(select->column_optional_text(5), "labelled");
  EXPECT_EQ(select->column_text(6), "blob");
  auto end = select->step();
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
}

TEST_F(DatabaseTest, EmptyBlobStaysAnEmptyBlobNotNull) {
  Database db = open_ok();
  auto stmt = db.prepare("SELECT typeof(?1), length(?1)");
  ASSERT_TRUE(stmt);
  stmt->bind(1, Blob{});
  ASSERT_TRUE(stmt->step().value());
  EXPECT_EQ(stmt->column_text(0), "blob");
  EXPECT_EQ(stmt->column_int64(1), 0);
}

TEST_F(DatabaseTest, StatementsResetAndRunAgainWithNewBindings) {
  Database db = open_ok();
  auto stmt = db.prepare("SELECT ?1 * 2");
  ASSERT_TRUE(stmt);
  for (int i : {1, 2, 3}) {
    stmt->reset();
    stmt->bind(1, i);
    ASSERT_TRUE(stmt->step().value());
    EXPECT_EQ(stmt->column_int64(0), i * 2);
  }
}

TEST_F(DatabaseTest, AStatementPreparedAgainIsReusedWithItsBindingsCleared) {
  Database db = open_ok();
  const char* sql = "SELECT ?1 IS NULL, ?1";
  {
    auto first = db.prepare(sql);
    ASSERT_TRUE(first);
    first->bind(1, 7);
    ASSERT_TRUE(first->step().value());
    EXPECT_EQ(first->column_int64(1), 7);
    // While it is in use, preparing the same text gives another, with its own bindings.
    auto second = db.prepare(sql);
    ASSERT_TRUE(second);
    second->bind(1, 8);
    ASSERT_TRUE(second->step().value());
    EXPECT_EQ(second->column_int64(1), 8);
    EXPECT_EQ(first->column_int64(1), 7);
  }
  auto again = db.prepare(sql);
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->step().value());
  EXPECT_EQ(again->column_int64(0), 1) << "the reused statement kept a binding";
  // A text refused for holding two statements is refused every time.
  EXPECT_FALSE(db.prepare("SELECT 1; SELECT 2"));
  EXPECT_FALSE(db.prepare("SELECT 1; SELECT 2"));
}

TEST_F(DatabaseTest, AStatementLeftMidwayGivesItsSnapshotBackWhenDestroyed) {
  Database db = open_ok();
  ASSERT_TRUE(db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)"));
  {
    auto rows = db.prepare("SELECT x FROM t");
    ASSERT_TRUE(rows);
    ASSERT_TRUE(rows->step().value());  // one row of two: a read is open
  }
  Database other = open_ok();
  ASSERT_TRUE(other.exec("INSERT INTO t VALUES (3)"));
  // The cached statement was reset: this connection sees the new row, and can checkpoint.
  EXPECT_EQ(text(db, "SELECT count(*) FROM t"), "3");
  EXPECT_TRUE(db.exec("PRAGMA wal_checkpoint(TRUNCATE)"));
}

TEST_F(DatabaseTest, UniqueConstraintIsAlreadyExistsNamingTheStatement) {
  Database db = open_ok();
  ASSERT_TRUE(db.exec("INSERT INTO images VALUES ('sha256:aa', 'sha256:bb', 'm', 1, 1, 1)"));
  auto insert = db.prepare(R"sql(
      INSERT INTO containers (id, name, image_id, image_ref, config, state, created)
      VALUES (?, ?, 'sha256:aa', 'busybox', '{}', 'created', 0))sql");
  ASSERT_TRUE(insert);
  ASSERT_TRUE(insert->bind_all("c1", "web-1").run());
  insert->reset();
  auto duplicate = insert->bind_all("c2", "web-1").run();
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().kind(), ErrorKind::already_exists);
  EXPECT_EQ(duplicate.error().message(),
            "INSERT INTO containers (id, name, image_id, image_ref, config, state, created): "
            "UNIQUE constraint failed: containers.name");
  // The failed step reset the statement: it runs again with new bindings.
  insert->reset();
  EXPECT_TRUE(insert->bind_all("c3", "web-3").run());
  auto same_id = db.exec("INSERT INTO images VALUES ('sha256:aa', 'x', 'm', 1, 1, 1)");
  ASSERT_FALSE(same_id);
  EXPECT_EQ(same_id.error().kind(), ErrorKind::already_exists);
}

TEST_F(DatabaseTest, ForeignKeysAreEnforced) {
  Database db = open_ok();
  auto tag = db.exec("INSERT INTO tags VALUES ('localhost/busybox:latest', 'sha256:missing')");
  ASSERT_FALSE(tag);
  EXPECT_EQ(tag.error().kind(), ErrorKind::failed_precondition);
  EXPECT_NE(tag.error().message().find("FOREIGN KEY constraint failed"), std::string::npos);
}

TEST_F(DatabaseTest, SqlMistakesAreInternalErrorsNamingTheStatement) {
  Database db = open_ok();
  auto bad = db.prepare("\n  SELECT nope FROM nowhere\n  WHERE 1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind(), ErrorKind::internal);
  EXPECT_EQ(bad.error().message(), "SELECT nope FROM nowhere: no such table: nowhere");

  auto two = db.prepare("SELECT 1; SELECT 2");
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().message(), "SELECT 1; SELECT 2: more than one statement (use exec)");
  EXPECT_TRUE(db.prepare("SELECT 1;  \n"));
}

TEST_F(DatabaseTest, AFullDatabaseSaysWhichFileSystemToFree) {
  Database db = open_ok();
  // As a full disk does: SQLite cannot grow the file (SQLITE_FULL).
  ASSERT_TRUE(db.exec("INSERT INTO images VALUES ('sha256:aa', 'sha256:bb', 'm', 1, 1, 1)"));
  auto pages = text(db, "PRAGMA page_count");
  ASSERT_TRUE(db.exec("PRAGMA max_page_count = " + pages));
  auto insert = db.prepare("INSERT INTO tags VALUES (?, 'sha256:aa')");
  ASSERT_TRUE(insert);
  Result<void> full;
  for (int i = 0; i < 100000 && full; ++i) {
    insert->reset();
    full = insert->bind_all("localhost/image:" + std::to_string(i) + std::string(200, 'x')).run();
  }
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().kind(), ErrorKind::io);
  EXPECT_NE(full.error().hint().find("the file system holding '" + path("berth.db") + "' is full"), std::string::npos)
      << full.error().hint();
  // The same through exec.
  auto exec_full = db.exec("INSERT INTO tags VALUES ('localhost/one-more:" + std::string(4000, 'y') + "', 'sha256:aa')");
  ASSERT_FALSE(exec_full);
  EXPECT_NE(exec_full.error().hint().find("is full"), std::string::npos) << exec_full.error().message();
}

TEST_F(DatabaseTest, BindErrorsSurfaceAtStep) {
  Database db = open_ok();
  auto stmt = db.prepare("SELECT ?");
  ASSERT_TRUE(stmt);
  auto result = stmt->bind(5, 1).step();
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind(), ErrorKind::internal);
  EXPECT_EQ(result.error().message(), "bind parameter 5: SELECT ?: column index out of range");
  stmt->reset();
  EXPECT_TRUE(stmt->bind(1, 1).step());
}

TEST_F(DatabaseTest, AFileThatIsNotSqliteIsCorrupt) {
  ASSERT_TRUE(sys::atomic_write(path("berth.db"), std::string(4096, 'x')));
  auto db = Database::open(path("berth.db"));
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().kind(), ErrorKind::corrupt);
  EXPECT_NE(db.error().message().find("open database '" + path("berth.db") + "': "),
            std::string::npos);
  EXPECT_NE(db.error().message().find("file is not a database"), std::string::npos)
      << db.error().message();
}

TEST_F(DatabaseTest, AnotherProgramsSqliteFileIsRefused) {
  {
    OpenOptions bare;
    bare.migrations = {};
    Database db = open_ok("other.db", bare);
    ASSERT_TRUE(db.exec("CREATE TABLE mine (x)"));
  }
  auto db = Database::open(path("other.db"));
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().kind(), ErrorKind::failed_precondition);
  EXPECT_NE(db.error().message().find("other.db has tables but no berth schema version"),
            std::string::npos)
      << db.error().message();

  {
    OpenOptions bare;
    bare.migrations = {};
    Database other = open_ok("app.db", bare);
    ASSERT_TRUE(other.exec("PRAGMA application_id = 1234"));
  }
  auto app = Database::open(path("app.db"));
  ASSERT_FALSE(app);
  EXPECT_NE(app.error().message().find("not a berth database (application_id 0x4d2)"),
            std::string::npos)
      << app.error().message();
}

TEST(SqliteErrorMapping, ExtendedCodesMapToKinds) {
  using detail::kind_for_sqlite_code;
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_BUSY), ErrorKind::unavailable);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_BUSY_SNAPSHOT), ErrorKind::unavailable);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_LOCKED), ErrorKind::unavailable);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_CONSTRAINT_UNIQUE), ErrorKind::already_exists);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_CONSTRAINT_PRIMARYKEY), ErrorKind::already_exists);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_CONSTRAINT_FOREIGNKEY), ErrorKind::failed_precondition);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_CONSTRAINT_NOTNULL), ErrorKind::invalid_argument);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_CORRUPT), ErrorKind::corrupt);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_CORRUPT_INDEX), ErrorKind::corrupt);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_NOTADB), ErrorKind::corrupt);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_CANTOPEN), ErrorKind::io);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_READONLY_DBMOVED), ErrorKind::io);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_IOERR_FSYNC), ErrorKind::io);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_FULL), ErrorKind::io);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_PERM), ErrorKind::permission_denied);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_ERROR), ErrorKind::internal);
  EXPECT_EQ(kind_for_sqlite_code(SQLITE_MISUSE), ErrorKind::internal);
}

TEST(SqliteErrorMapping, SummaryIsTheFirstNonBlankLine) {
  EXPECT_EQ(detail::summarize_sql("\n\n   SELECT a\n FROM b"), "SELECT a");
  EXPECT_EQ(detail::summarize_sql("  \n \t "), "");
  EXPECT_EQ(detail::summarize_sql(std::string(200, 'x')).size(), 120u);
}

}  // namespace
}  // namespace berth::state
