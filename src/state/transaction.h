// state/transaction.h — write transactions and retrying them when the database stays busy.
//
// Why BEGIN IMMEDIATE: a plain (deferred) BEGIN takes the write lock only at the first write. In
// WAL mode a transaction that has read and then finds another writer ahead of it cannot wait for
// it: it fails with SQLITE_BUSY_SNAPSHOT at once, whatever the busy_timeout, because its snapshot
// is already stale. BEGIN IMMEDIATE takes the write lock before anything is read, so writers queue
// up front (waiting up to busy_timeout) and a transaction that has begun never fails for lock
// reasons. Readers are not blocked by it (WAL).
#pragma once

#include <chrono>
#include <type_traits>
#include <utility>

#include "base/error.h"
#include "state/database.h"

struct sqlite3;

namespace berth::state {

// An open write transaction. Not copyable; movable. commit() makes the changes visible to every
// other connection and safe from a crash of this process (power loss: see synchronous=NORMAL in
// database.cc); any other way out of scope (an early return on error, a crash) rolls them back.
// Nesting is refused: begin() on a Database already inside a transaction is an internal error.
//
// Keep transactions short and free of slow work (no fsync of big files, no waiting on children):
// every other berth writer waits while one is open. Do file work before (write blob, fsync,
// rename) and record it in the transaction after.
class Transaction {
 public:
  // BEGIN IMMEDIATE: waits up to the busy_timeout for other writers, then fails with unavailable.
  static Result<Transaction> begin(Database& db);

  Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  // Rolls back unless commit() succeeded.
  ~Transaction();

  // COMMIT. After a failed commit the transaction is rolled back (by the destructor at the latest).
  Result<void> commit();
  // ROLLBACK now, explicitly.
  void rollback();

 private:
  explicit Transaction(sqlite3* db) : db_(db) {}
  sqlite3* db_;  // not owned; null once committed or rolled back
};

// A consistent read snapshot across several queries (`ps` joining containers and events, GC
// walking images then tags): until it ends, commits by other processes stay invisible to this
// connection. It takes no write lock and blocks no one, but holds back WAL checkpoints: end it
// promptly. Do not write inside it: upgrading a stale snapshot fails with unavailable at once
// (SQLITE_BUSY_SNAPSHOT), whatever the busy_timeout. Use Transaction to read-then-write.
class ReadTransaction {
 public:
  // BEGIN and a first read, so the snapshot is taken now rather than at the caller's first query.
  static Result<ReadTransaction> begin(Database& db);

  ReadTransaction(ReadTransaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  ReadTransaction& operator=(ReadTransaction&&) = delete;
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;
  // Ends the snapshot.
  ~ReadTransaction();

 private:
  explicit ReadTransaction(sqlite3* db) : db_(db) {}
  sqlite3* db_;  // not owned
};

struct RetryPolicy {
  int attempts = 5;  // total tries, the first included
  std::chrono::milliseconds first_delay{25};
  std::chrono::milliseconds max_delay{1000};  // delays double up to this, with jitter
};

namespace detail {
// Sleeps before retry number `attempt` (1-based): exponential back-off with jitter, so that
// processes that collided do not collide again in step.
void retry_sleep(int attempt, const RetryPolicy& policy);
}  // namespace detail

// Calls `attempt()` (returning Result<T>) until it succeeds, fails with anything other than
// unavailable, or the policy's attempts run out; returns the last result. For work that hit
// SQLITE_BUSY beyond the busy_timeout. `attempt` must be safe to run again: it should only touch
// the database inside its own transaction.
template <typename F>
auto with_retry(F&& attempt, const RetryPolicy& policy = {}) -> std::invoke_result_t<F&> {
  for (int i = 1;; ++i) {
    auto result = attempt();
    if (result.ok() || result.error().kind() != ErrorKind::unavailable || i >= policy.attempts)
      return result;
    detail::retry_sleep(i, policy);
  }
}

// Runs `body()` (returning Result<T>) inside a Transaction and commits it, retried as a whole
// with with_retry when the database is busy. An error from body rolls back and is returned as is.
template <typename F>
auto write_transaction(Database& db, F&& body, const RetryPolicy& policy = {})
    -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  return with_retry(
      [&]() -> R {
        BERTH_TRY(auto tx, Transaction::begin(db));
        if constexpr (std::is_same_v<R, Result<void>>) {
          BERTH_TRY_VOID(body());
          return tx.commit();
        } else {
          BERTH_TRY(auto value, body());
          BERTH_TRY_VOID(tx.commit());
          return value;
        }
      },
      policy);
}

}  // namespace berth::state
