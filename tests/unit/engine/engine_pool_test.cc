#include "engine/engine_pool.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace berth::engine {
namespace {

class EnginePoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-pool-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    layout_.root = tmpl;
    layout_.run_root = layout_.root + "/run";
  }
  void TearDown() override { std::filesystem::remove_all(layout_.root); }
  Layout layout_;
};

TEST_F(EnginePoolTest, AnEngineGivenBackIsTakenAgainWithItsData) {
  EnginePool pool(layout_, {});
  {
    auto e = pool.take();
    ASSERT_TRUE(e.ok()) << e.error().message();
    ASSERT_TRUE(e->db.exec("CREATE TABLE IF NOT EXISTS pool_probe (x); CREATE TEMP TABLE mine (x)").ok());
  }
  auto again = pool.take();
  ASSERT_TRUE(again.ok());
  // A TEMP table lives in its connection only: the same connection came back.
  EXPECT_TRUE(again->db.exec("INSERT INTO mine VALUES (1)").ok());
}

TEST_F(EnginePoolTest, TwoAtOnceAreTwoConnections) {
  EnginePool pool(layout_, {});
  auto a = pool.take();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->db.exec("CREATE TEMP TABLE mine (x)").ok());
  auto b = pool.take();
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->db.exec("INSERT INTO mine VALUES (1)").ok());
}

TEST_F(EnginePoolTest, AnEngineInATransactionIsNotKept) {
  EnginePool pool(layout_, {});
  {
    auto e = pool.take();
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE(e->db.exec("CREATE TEMP TABLE mine (x); BEGIN").ok());
  }
  auto fresh = pool.take();
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->db.in_transaction());
  EXPECT_FALSE(fresh->db.exec("INSERT INTO mine VALUES (1)").ok());
}

// `berth system reset` deletes berth.db and the next command makes a new one: a kept connection
// to the old file would read and write a database nobody else sees.
TEST_F(EnginePoolTest, ADatabaseReplacedOnDiskIsOpenedAfresh) {
  EnginePool pool(layout_, {});
  {
    auto e = pool.take();
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE(e->db.exec("CREATE TABLE old_probe (x)").ok());
  }
  std::filesystem::remove(layout_.database());
  std::filesystem::remove(layout_.database() + "-wal");
  std::filesystem::remove(layout_.database() + "-shm");
  auto e = pool.take();
  ASSERT_TRUE(e.ok()) << e.error().message();
  auto count = e->db.query_int64("SELECT count(*) FROM sqlite_master WHERE name = 'old_probe'");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count->value_or(-1), 0);
  EXPECT_TRUE(std::filesystem::exists(layout_.database()));
}

}  // namespace
}  // namespace berth::engine
