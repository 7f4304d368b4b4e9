#include "server/checkpoint_gate.h"

namespace ps::server {

bool CheckpointGate::Arm(const Key& key, int64_t clock) {
  absl::MutexLock lock(&mu_);
  if (!armed_.emplace(key, Armed{clock, {}}).second) return false;
  count_.fetch_add(1);
  return true;
}

bool CheckpointGate::Hold(const Key& key, int64_t clock,
                          std::function<void()> resume) {
  // A push arriving while Arm runs may pass: it was admitted before the
  // cut, which WriteCheckpoint checks for after its snapshot.
  if (count_.load(std::memory_order_acquire) == 0) return false;
  absl::MutexLock lock(&mu_);
  auto it = armed_.find(key);
  if (it == armed_.end() || clock < it->second.clock) return false;
  it->second.held.push_back(std::move(resume));
  return true;
}

int CheckpointGate::Release(const Key& key) {
  std::vector<std::function<void()>> held;
  {
    absl::MutexLock lock(&mu_);
    auto it = armed_.find(key);
    if (it == armed_.end()) return 0;
    held = std::move(it->second.held);
    armed_.erase(it);
    count_.fetch_sub(1);
  }
  for (auto& resume : held) resume();
  return static_cast<int>(held.size());
}

}  // namespace ps::server
