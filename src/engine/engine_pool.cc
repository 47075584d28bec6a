// engine/engine_pool.cc — EnginePool: engines kept open between a server's requests.
#include "engine/engine_pool.h"

#include <sys/stat.h>

namespace berth::engine {

PooledEngine::~PooledEngine() {
  if (pool_ && !db.in_transaction()) pool_->give_back(std::move(*this), dev_, ino_);
}

Result<PooledEngine> EnginePool::take() {
  struct ::stat st{};
  bool exists = ::stat(layout_.database().c_str(), &st) == 0;
  {
    std::lock_guard lock(mutex_);
    while (!idle_.empty()) {
      Idle idle = std::move(idle_.back());
      idle_.pop_back();
      if (exists && idle.dev == st.st_dev && idle.ino == st.st_ino)
        return PooledEngine(std::move(idle.engine), this, idle.dev, idle.ino);
    }
  }
  BERTH_TRY(auto e, Engine::open(layout_, programs_));
  if (::stat(layout_.database().c_str(), &st) < 0) return Error::from_errno("stat '{}'", layout_.database());
  return PooledEngine(std::move(e), this, st.st_dev, st.st_ino);
}

void EnginePool::give_back(Engine&& e, dev_t dev, ino_t ino) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < kMaxIdle) idle_.push_back({std::move(e), dev, ino});
}

}  // namespace berth::engine
