#include "state/migrations.h"

#include <gtest/gtest.h>

#include <set>

#include "state/database.h"
#include "state_test_util.h"

namespace berth::state {
namespace {

using testing::TempDirTest;

constexpr Migration kThree[] = {
    {1, "first", "CREATE TABLE a (x INTEGER)"},
    {2, "second", "CREATE TABLE b (y INTEGER); INSERT INTO b VALUES (2)"},
    {3, "third", "ALTER TABLE a ADD COLUMN z TEXT"},
};

class MigrationsTest : public TempDirTest {
 protected:
  Result<Database> open_with(std::span<const Migration> migrations) {
    OpenOptions options;
    options.migrations = migrations;
    return Database::open(path("berth.db"), options);
  }
  static std::set<std::string> tables(Database& db) {
    std::set<std::string> names;
    auto stmt = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'");
    EXPECT_TRUE(stmt);
    while (stmt->step().value()) names.insert(stmt->column_text(0));
    return names;
  }
};

TEST_F(MigrationsTest, BuiltinSchemaIsNumberedFromOneAndCreatesEveryTable) {
  auto migrations = schema_migrations();
  ASSERT_FALSE(migrations.empty());
  for (size_t i = 0; i < migrations.size(); ++i)
    EXPECT_EQ(migrations[i].version, static_cast<int>(i + 1));
  auto db = Database::open(path("berth.db"));
  ASSERT_TRUE(db) << db.error().message();
  auto names = tables(*db);
  for (const char* table :
       {"images", "tags", "containers", "volumes", "container_volumes", "events"})
    EXPECT_TRUE(names.count(table)) << table;
}

TEST_F(MigrationsTest, ReopeningAppliesOnlyTheNewMigrations) {
  {
    auto db = open_with(std::span(kThree).first(1));
    ASSERT_TRUE(db) << db.error().message();
    EXPECT_EQ(*db->schema_version(), 1);
    ASSERT_TRUE(db->exec("INSERT INTO a VALUES (1)"));
  }
  auto db = open_with(kThree);
  ASSERT_TRUE(db) << db.error().message();
  EXPECT_EQ(*db->schema_version(), 3);
  EXPECT_EQ(*db->query_int64("SELECT x FROM a WHERE z IS NULL").value(), 1);
  EXPECT_EQ(*db->query_int64("SELECT count(*) FROM b").value(), 1);
  // Once more: nothing left to apply, so migration 2's INSERT does not run twice.
  auto again = open_with(kThree);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again->query_int64("SELECT count(*) FROM b").value(), 1);
}

TEST_F(MigrationsTest, AnOlderBerthRefusesANewerSchemaAndLeavesItAlone) {
  ASSERT_TRUE(open_with(kThree));
  auto old = open_with(std::span(kThree).first(2));
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().kind(), ErrorKind::failed_precondition);
  EXPECT_EQ(old.error().message(), "open database '" + path("berth.db") +
                                       "': berth.db is at schema 3, this berth knows up to 2: "
                                       "upgrade berth");
  EXPECT_FALSE(old.error().hint().empty());
  auto current = open_with(kThree);
  ASSERT_TRUE(current);
  EXPECT_EQ(*current->schema_version(), 3);
}

TEST_F(MigrationsTest, AFailedMigrationLeavesThePreviousVersionWhole) {
  const Migration broken[] = {
      kThree[0],
      {2, "broken", "CREATE TABLE b (y); INSERT INTO b VALUES (1); CREATE TABLE oops ("},
  };
  auto db = open_with(broken);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().kind(), ErrorKind::internal);
  EXPECT_NE(db.error().message().find("apply migration 2 (broken): "), std::string::npos)
      << db.error().message();

  auto first = open_with(std::span(kThree).first(1));
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(*first->schema_version(), 1);
  auto names = tables(*first);
  EXPECT_TRUE(names.count("a"));
  EXPECT_FALSE(names.count("b"));  // the half of migration 2 that ran was rolled back
}

TEST_F(MigrationsTest, AMisnumberedListIsABug) {
  const Migration gap[] = {kThree[0], kThree[2]};
  auto db = open_with(gap);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().kind(), ErrorKind::internal);
  EXPECT_NE(db.error().message().find("migration 'third' has version 3, expected 2"),
            std::string::npos)
      << db.error().message();
}

TEST_F(MigrationsTest, ProcessesOpeningAFreshDatabaseAtOnceMigrateItOnce) {
  testing::Pipe go;
  std::vector<pid_t> children;
  for (int i = 0; i < 4; ++i)
    children.push_back(testing::fork_child([&] {
      go.close_writer();
      go.receive();
      OpenOptions options;
      options.migrations = kThree;
      auto db = Database::open(path("berth.db"), options);
      if (!db) {
        fprintf(stderr, "child: %s\n", db.error().message().c_str());
        return 1;
      }
      return 0;
    }));
  for (size_t i = 0; i < children.size(); ++i) go.send();
  for (pid_t pid : children) EXPECT_EQ(testing::wait_child(pid), 0);
  auto db = open_with(kThree);
  ASSERT_TRUE(db) << db.error().message();
  EXPECT_EQ(*db->query_int64("SELECT count(*) FROM b").value(), 1);
}

}  // namespace
}  // namespace berth::state
