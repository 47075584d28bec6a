// engine/engine_pool.h — engines (berth.db connections, the content store) kept open between
// the requests of a long-lived process (`berth serve`): opening one (SQLite's open, pragmas, the WAL's index rebuilt, the
// migration check) cost about a millisecond, several times per `docker run`.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <vector>

#include "base/error.h"
#include "engine/engine.h"

namespace berth::engine {

class EnginePool;

// An engine from the pool, given back when it goes (unless it is in a transaction).
class PooledEngine : public Engine {
 public:
  PooledEngine(Engine&& e, EnginePool* pool, dev_t dev, ino_t ino)
      : Engine(std::move(e)), pool_(pool), dev_(dev), ino_(ino) {}
  PooledEngine(PooledEngine&& o) noexcept
      : Engine(std::move(o)), pool_(std::exchange(o.pool_, nullptr)), dev_(o.dev_), ino_(o.ino_) {}
  PooledEngine& operator=(PooledEngine&&) = delete;
  ~PooledEngine();

 private:
  EnginePool* pool_;
  dev_t dev_;
  ino_t ino_;
};

class EnginePool {
 public:
  EnginePool(Layout layout, Programs programs)
      : layout_(std::move(layout)), programs_(std::move(programs)) {}

  // An idle engine whose berth.db is still the file at its path (a `berth system reset` since
  // replaced it: that one is dropped), or a new one.
  Result<PooledEngine> take();

 private:
  friend class PooledEngine;
  static constexpr size_t kMaxIdle = 8;
  struct Idle {
    Engine engine;
    dev_t dev;
    ino_t ino;
  };
  void give_back(Engine&& e, dev_t dev, ino_t ino);

  const Layout layout_;
  const Programs programs_;
  std::mutex mutex_;
  std::vector<Idle> idle_;
};

}  // namespace berth::engine
