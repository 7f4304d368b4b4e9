#include "server/push_dedup.h"

#include <algorithm>

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

std::vector<PushDedup::WorkerSeqs> PushDedup::Export() const {
  std::vector<WorkerSeqs> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [worker, s] : seen_) {
      out.push_back({worker, s.highest,
                     std::vector<uint64_t>(s.recent.begin(), s.recent.end())});
    }
  }
  for (WorkerSeqs& w : out) std::sort(w.recent.begin(), w.recent.end());
  std::sort(out.begin(), out.end(),
            [](const WorkerSeqs& a, const WorkerSeqs& b) {
              return a.worker < b.worker;
            });
  return out;
}

void PushDedup::Restore(const std::vector<WorkerSeqs>& workers) {
  absl::flat_hash_map<std::string, Seen> seen;
  for (const WorkerSeqs& w : workers) {
    Seen& s = seen[w.worker];
    s.highest = w.highest;
    s.recent.insert(w.recent.begin(), w.recent.end());
  }
  absl::MutexLock lock(&mu_);
  seen_.swap(seen);
}

}  // namespace ps::server
