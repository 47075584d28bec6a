#include "state/transaction.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "state/database.h"
#include "state_test_util.h"

namespace berth::state {
namespace {

using namespace std::chrono_literals;
using testing::fork_child;
using testing::Pipe;
using testing::TempDirTest;
using testing::wait_child;
using Clock = std::chrono::steady_clock;

class TransactionTest : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    auto db = open();  // migrate once, before any child opens it
    ASSERT_TRUE(db) << db.error().message();
  }
  Result<Database> open(std::chrono::milliseconds busy_timeout = 10s) {
    OpenOptions options;
    options.busy_timeout = busy_timeout;
    return Database::open(path("berth.db"), options);
  }
  static Result<void> add_event(Database& db, std::string_view actor, std::int64_t time = 0) {
    auto stmt = db.prepare("INSERT INTO events (time, type, action, actor_id) VALUES (?, ?, ?, ?)");
    if (!stmt) return std::move(stmt).error();
    return stmt->bind_all(time, "container", "create", actor).run();
  }
  static std::int64_t count(Database& db, std::string_view where = "1") {
    auto n = db.query_int64(fmt::format("SELECT count(*) FROM events WHERE {}", where));
    EXPECT_TRUE(n) << n.error().message();
    return n ? n->value_or(-1) : -1;
  }
};

TEST_F(TransactionTest, CommitMakesChangesVisibleToOtherConnections) {
  auto db = open();
  auto other = open();
  ASSERT_TRUE(db && other);
  auto tx = Transaction::begin(*db);
  ASSERT_TRUE(tx) << tx.error().message();
  EXPECT_TRUE(db->in_transaction());
  ASSERT_TRUE(add_event(*db, "c1"));
  EXPECT_EQ(count(*other), 0);  // not yet committed
  ASSERT_TRUE(tx->commit());
  EXPECT_FALSE(db->in_transaction());
  EXPECT_EQ(count(*other), 1);
}

TEST_F(TransactionTest, LeavingTheScopeWithoutCommitRollsBack) {
  auto db = open();
  ASSERT_TRUE(db);
  {
    auto tx = Transaction::begin(*db);
    ASSERT_TRUE(tx);
    ASSERT_TRUE(add_event(*db, "c1"));
    EXPECT_EQ(count(*db), 1);
  }
  EXPECT_FALSE(db->in_transaction());
  EXPECT_EQ(count(*db), 0);
}

TEST_F(TransactionTest, WriteTransactionCommitsOnSuccessAndRollsBackOnError) {
  auto db = open();
  ASSERT_TRUE(db);
  auto ok = write_transaction(*db, [&]() -> Result<std::int64_t> {
    BERTH_TRY_VOID(add_event(*db, "kept"));
    return db->last_insert_rowid();
  });
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(*ok, 1);
  auto failed = write_transaction(*db, [&]() -> Result<void> {
    BERTH_TRY_VOID(add_event(*db, "dropped"));
    return Error(ErrorKind::failed_precondition, "container web-1 is running");
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message(), "container web-1 is running");
  EXPECT_EQ(count(*db), 1);
  EXPECT_EQ(count(*db, "actor_id = 'dropped'"), 0);
}

TEST_F(TransactionTest, NestingIsRefused) {
  auto db = open();
  ASSERT_TRUE(db);
  auto outer = Transaction::begin(*db);
  ASSERT_TRUE(outer);
  auto inner = Transaction::begin(*db);
  ASSERT_FALSE(inner);
  EXPECT_EQ(inner.error().kind(), ErrorKind::internal);
  EXPECT_TRUE(outer->commit());
  auto commit_twice = outer->commit();
  ASSERT_FALSE(commit_twice);
  EXPECT_EQ(commit_twice.error().kind(), ErrorKind::internal);
}

// Two processes write as fast as they can: busy_timeout alone (no retries) lets both finish.
TEST_F(TransactionTest, TwoProcessesWritingConcurrentlyBothSucceed) {
  constexpr int kEach = 150;
  Pipe go;
  auto writer = [&](const char* actor) {
    return fork_child([&, actor] {
      go.close_writer();
      go.receive();
      auto db = open(10s);
      if (!db) return 1;
      RetryPolicy no_retry;
      no_retry.attempts = 1;
      for (int i = 0; i < kEach; ++i) {
        auto r = write_transaction(
            *db, [&] { return add_event(*db, actor, i); }, no_retry);
        if (!r) {
          fprintf(stderr, "%s: %s\n", actor, r.error().message().c_str());
          return 2;
        }
        // Autocommit writes (no explicit transaction) must also wait, not fail.
        if (!add_event(*db, actor, -i)) return 3;
      }
      return 0;
    });
  };
  pid_t a = writer("a");
  pid_t b = writer("b");
  go.send();
  go.send();
  EXPECT_EQ(wait_child(a), 0);
  EXPECT_EQ(wait_child(b), 0);
  auto db = open();
  ASSERT_TRUE(db);
  EXPECT_EQ(count(*db, "actor_id = 'a'"), 2 * kEach);
  EXPECT_EQ(count(*db, "actor_id = 'b'"), 2 * kEach);
}

// A writer holds BEGIN IMMEDIATE: a second writer is turned away at BEGIN (short timeout) or
// queues there until the first commits (long timeout); readers are never blocked (WAL).
TEST_F(TransactionTest, BeginImmediateSerialisesWritersButNotReaders) {
  Pipe began, finish;
  pid_t holder = fork_child([&] {
    auto db = open();
    if (!db) return 1;
    auto tx = Transaction::begin(*db);
    if (!tx || !add_event(*db, "first")) return 2;
    began.send();
    finish.close_writer();
    finish.receive();
    std::this_thread::sleep_for(200ms);
    return tx->commit() ? 0 : 3;
  });
  began.close_writer();  // EOF instead of a hang if the child dies early
  ASSERT_EQ(began.receive(), 'x');

  auto reader = open(0ms);
  ASSERT_TRUE(reader);
  EXPECT_EQ(count(*reader), 0);  // reads the last committed state, without waiting

  auto impatient = open(50ms);
  ASSERT_TRUE(impatient);
  auto refused = Transaction::begin(*impatient);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind(), ErrorKind::unavailable);
  EXPECT_EQ(refused.error().message(), "BEGIN IMMEDIATE: database is locked");

  auto patient = open(10s);
  ASSERT_TRUE(patient);
  finish.send();
  auto start = Clock::now();
  auto tx = Transaction::begin(*patient);
  ASSERT_TRUE(tx) << tx.error().message();
  EXPECT_GE(Clock::now() - start, 150ms);
  EXPECT_EQ(count(*patient, "actor_id = 'first'"), 1);  // began after the first writer committed
  ASSERT_TRUE(add_event(*patient, "second"));
  ASSERT_TRUE(tx->commit());
  EXPECT_EQ(wait_child(holder), 0);
}

TEST_F(TransactionTest, ReadTransactionSeesOneSnapshotUntilItEnds) {
  auto reader = open();
  auto writer = open();
  ASSERT_TRUE(reader && writer);
  ASSERT_TRUE(add_event(*writer, "before"));
  {
    auto snapshot = ReadTransaction::begin(*reader);
    ASSERT_TRUE(snapshot) << snapshot.error().message();
    ASSERT_TRUE(add_event(*writer, "during"));  // the snapshot does not hold the writer up
    EXPECT_EQ(count(*reader), 1);
    EXPECT_EQ(count(*reader, "actor_id = 'during'"), 0);
  }
  EXPECT_FALSE(reader->in_transaction());
  EXPECT_EQ(count(*reader), 2);
}

TEST(WithRetry, RetriesOnlyUnavailableAndStopsAfterTheAttempts) {
  RetryPolicy fast{.attempts = 4, .first_delay = 1ms, .max_delay = 2ms};
  int calls = 0;
  auto eventually = with_retry(
      [&]() -> Result<int> {
        if (++calls < 3) return Error(ErrorKind::unavailable, "database is locked");
        return 7;
      },
      fast);
  ASSERT_TRUE(eventually);
  EXPECT_EQ(*eventually, 7);
  EXPECT_EQ(calls, 3);

  calls = 0;
  auto other = with_retry(
      [&]() -> Result<void> {
        ++calls;
        return Error(ErrorKind::already_exists, "name taken");
      },
      fast);
  EXPECT_FALSE(other);
  EXPECT_EQ(calls, 1);

  calls = 0;
  auto exhausted = with_retry(
      [&]() -> Result<void> {
        ++calls;
        return Error(ErrorKind::unavailable, "database is locked");
      },
      fast);
  ASSERT_FALSE(exhausted);
  EXPECT_EQ(exhausted.error().kind(), ErrorKind::unavailable);
  EXPECT_EQ(calls, 4);
}

TEST_F(TransactionTest, WithRetryOutlastsALockHeldBeyondTheBusyTimeout) {
  Pipe began;
  pid_t holder = fork_child([&] {
    auto db = open();
    if (!db) return 1;
    auto tx = Transaction::begin(*db);
    if (!tx) return 2;
    began.send();
    std::this_thread::sleep_for(300ms);
    return tx->commit() ? 0 : 3;
  });
  began.close_writer();  // EOF instead of a hang if the child dies early
  ASSERT_EQ(began.receive(), 'x');
  auto db = open(20ms);
  ASSERT_TRUE(db);
  RetryPolicy policy{.attempts = 20, .first_delay = 20ms, .max_delay = 100ms};
  auto r = write_transaction(
      *db, [&] { return add_event(*db, "late"); }, policy);
  EXPECT_TRUE(r) << r.error().message();
  EXPECT_EQ(wait_child(holder), 0);
  EXPECT_EQ(count(*db, "actor_id = 'late'"), 1);
}

// SIGKILL in the middle of a transaction whose pages already spilled into the WAL: the next
// opener finds a consistent database without any of the uncommitted rows.
TEST_F(TransactionTest, SigkillMidTransactionLeavesNoTraceOfIt) {
  {
    auto db = open();
    ASSERT_TRUE(db);
    ASSERT_TRUE(add_event(*db, "committed"));
  }
  Pipe ready;
  pid_t child = fork_child([&] {
    auto db = open();
    if (!db) return 1;
    // A tiny page cache forces uncommitted pages out to the WAL before COMMIT.
    if (!db->exec("PRAGMA cache_size = 2")) return 2;
    auto tx = Transaction::begin(*db);
    if (!tx) return 3;
    std::string padding(500, 'p');
    for (int i = 0; i < 2000; ++i)
      if (!add_event(*db, "uncommitted-" + padding, i)) return 4;
    ready.send();
    ::pause();
    return 5;
  });
  ready.close_writer();  // EOF instead of a hang if the child dies early
  ASSERT_EQ(ready.receive(), 'x');
  struct stat st {};
  ASSERT_EQ(::stat(path("berth.db-wal").c_str(), &st), 0);
  EXPECT_GT(st.st_size, 500 * 1000);  // the uncommitted rows really reached the WAL file
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  EXPECT_EQ(wait_child(child), 128 + SIGKILL);

  auto db = open();
  ASSERT_TRUE(db) << db.error().message();
  auto check = db->prepare("PRAGMA integrity_check");
  ASSERT_TRUE(check);
  ASSERT_TRUE(check->step().value());
  EXPECT_EQ(check->column_text(0), "ok");
  check->reset();
  EXPECT_EQ(count(*db), 1);
  EXPECT_EQ(count(*db, "actor_id = 'committed'"), 1);
  EXPECT_TRUE(write_transaction(*db, [&] { return add_event(*db, "after"); }));
}

// A writer commits batches of 20 rows in a loop and is killed at varying moments, including
// mid-COMMIT: every batch is there whole or not at all, and committed ones survive.
TEST_F(TransactionTest, SigkillAtAnyMomentKeepsEveryTransactionAtomic) {
  for (int round = 0; round < 6; ++round) {
    Pipe started;
    pid_t child = fork_child([&] {
      auto db = open();
      if (!db) return 1;
      started.send();
      for (int batch = 0;; ++batch) {
        auto r = write_transaction(*db, [&]() -> Result<void> {
          for (int i = 0; i < 20; ++i)
            BERTH_TRY_VOID(add_event(*db, fmt::format("r{}-b{}", round, batch), i));
          return {};
        });
        if (!r) return 2;
      }
    });
    started.close_writer();  // EOF instead of a hang if the child dies early
    ASSERT_EQ(started.receive(), 'x');
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + 23 * round));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    ASSERT_EQ(wait_child(child), 128 + SIGKILL);

    auto db = open();
    ASSERT_TRUE(db) << db.error().message();
    auto partial = db->query_int64(
        "SELECT count(*) FROM (SELECT actor_id FROM events GROUP BY actor_id HAVING count(*) != "
        "20)");
    ASSERT_TRUE(partial);
    EXPECT_EQ(partial->value_or(-1), 0) << "round " << round;
  }
  auto db = open();
  ASSERT_TRUE(db);
  EXPECT_GT(count(*db), 0);
  auto check = db->query_int64(
      "SELECT count(*) FROM pragma_integrity_check WHERE "
      "integrity_check != 'ok'");
  ASSERT_TRUE(check) << check.error().message();
  EXPECT_EQ(check->value_or(-1), 0);
}

}  // namespace
}  // namespace berth::state
