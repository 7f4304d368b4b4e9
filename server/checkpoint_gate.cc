#include "server/checkpoint_gate.h"

namespace ps::server {

bool CheckpointGate::Arm(const Key& key, int64_t clock) {
  absl::MutexLock lock(&mu_);
  return armed_.emplace(key, Armed{clock, {}}).second;
}

bool CheckpointGate::Hold(const Key& key, int64_t clock,
                          std::function<void()> resume) {
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
  }
  for (auto& resume : held) resume();
  return static_cast<int>(held.size());
}

}  // namespace ps::server
