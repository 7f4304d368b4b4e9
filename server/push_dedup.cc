#include "server/push_dedup.h"

namespace ps::server {

bool PushDedup::FirstTime(const std::string& worker, uint64_t seq) {
  absl::MutexLock lock(&mu_);
  Seen& s = seen_[worker];
  if (s.highest >= kWindow && seq <= s.highest - kWindow) return false;
  if (!s.recent.insert(seq).second) return false;
  if (seq > s.highest) {
    s.highest = seq;
    if (s.recent.size() > 2 * kWindow) {
      absl::erase_if(s.recent, [&](uint64_t q) {
        return s.highest >= kWindow && q <= s.highest - kWindow;
      });
    }
  }
  return true;
}

bool PushDedup::Recorded(const std::string& worker, uint64_t seq) const {
  absl::MutexLock lock(&mu_);
  auto it = seen_.find(worker);
  if (it == seen_.end()) return false;
  const Seen& s = it->second;
  if (s.highest >= kWindow && seq <= s.highest - kWindow) return true;
  return s.recent.contains(seq);
}

}  // namespace ps::server
