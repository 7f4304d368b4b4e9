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

}  // namespace ps::server
