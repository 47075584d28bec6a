#include "state/transaction.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <thread>

#include "state/detail/sqlite_error.h"

namespace berth::state {

Result<Transaction> Transaction::begin(Database& db) {
  if (db.in_transaction())
    return Error::make(ErrorKind::internal, "begin transaction: a transaction is already open");
  BERTH_TRY_VOID(Database::exec_on(db.db_, "BEGIN IMMEDIATE"));
  return Transaction(db.db_);
}

Transaction::~Transaction() { rollback(); }

void Transaction::rollback() {
  if (!db_) return;
  // A failed statement may already have rolled the transaction back (SQLITE_FULL, IOERR, …);
  // ROLLBACK then would fail with "no transaction is active".
  if (sqlite3_get_autocommit(db_) == 0) {
    auto ignored = Database::exec_on(db_, "ROLLBACK");
    (void)ignored;  // nothing better to do from a destructor: the connection is left as it is
  }
  db_ = nullptr;
}

Result<void> Transaction::commit() {
  if (!db_) return Error::make(ErrorKind::internal, "commit: the transaction is no longer open");
  auto result = Database::exec_on(db_, "COMMIT");
  if (!result) {
    rollback();  // COMMIT can fail with SQLITE_BUSY and leave the transaction open
    return result;
  }
  db_ = nullptr;
  return {};
}

Result<ReadTransaction> ReadTransaction::begin(Database& db) {
  if (db.in_transaction())
    return Error::make(ErrorKind::internal,
                       "begin read transaction: a transaction is already open");
  BERTH_TRY_VOID(Database::exec_on(db.db_, "BEGIN DEFERRED"));
  ReadTransaction snapshot(db.db_);  // from here on the destructor ends it on every path
  // A deferred transaction starts reading (and fixes its snapshot) at its first read.
  BERTH_TRY_VOID(Database::exec_on(db.db_, "SELECT 1 FROM sqlite_master LIMIT 1"));
  return snapshot;
}

ReadTransaction::~ReadTransaction() {
  if (db_ && sqlite3_get_autocommit(db_) == 0) {
    auto ignored = Database::exec_on(db_, "ROLLBACK");  // nothing was written: ROLLBACK = end
    (void)ignored;
  }
}

namespace detail {

void retry_sleep(int attempt, const RetryPolicy& policy) {
  thread_local std::minstd_rand random(static_cast<unsigned>(::getpid()) ^
                                       static_cast<unsigned>(std::random_device{}()));
  auto delay = policy.first_delay;
  for (int i = 1; i < attempt && delay < policy.max_delay; ++i) delay *= 2;
  delay = std::min(delay, policy.max_delay);
  // Full jitter in [delay/2, delay]: spreads processes that collided at the same moment.
  auto half = delay.count() / 2;
  std::uniform_int_distribution<long long> spread(0, half);
  std::this_thread::sleep_for(std::chrono::milliseconds(delay.count() - spread(random)));
}

}  // namespace detail

}  // namespace berth::state
