// Remembers which (worker, sequence number) pushes were applied, so a push
// that is retried after a lost reply is applied once.
//
// Per worker it keeps the highest sequence seen and the set of sequences in
// the window (highest - kWindow, highest]; sequences are expected to rise
// roughly monotonically, with reordering bounded by the window. A sequence
// older than the window is reported as a duplicate: it cannot be told apart,
// and not applying is the safe answer. Thread-safe.
#ifndef PS_SERVER_PUSH_DEDUP_H_
#define PS_SERVER_PUSH_DEDUP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace ps::server {

class PushDedup {
 public:
  static constexpr uint64_t kWindow = 4096;

  // Records (worker, seq). Returns true the first time, false for a repeat.
  bool FirstTime(const std::string& worker, uint64_t seq);

  // True when (worker, seq) was already recorded (or is older than the
  // window); records nothing. A push is checked with Recorded() before its
  // other checks, so a retry is answered as a duplicate even once the clock it
  // belonged to has closed, and is recorded with FirstTime() only once those
  // checks pass, so a refused push can be sent again.
  bool Recorded(const std::string& worker, uint64_t seq) const;

  // Snapshots (server/group_snapshot.h): one worker's record.
  struct WorkerSeqs {
    std::string worker;
    uint64_t highest = 0;
    std::vector<uint64_t> recent;  // ascending, all <= highest
  };
  // Every worker's record, ordered by worker, at one instant.
  std::vector<WorkerSeqs> Export() const;
  // Replaces every record with `workers` (distinct workers), at one
  // instant.
  void Restore(const std::vector<WorkerSeqs>& workers);

 private:
  struct Seen {
    uint64_t highest = 0;
    absl::flat_hash_set<uint64_t> recent;
  };
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Seen> seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::server

#endif  // PS_SERVER_PUSH_DEDUP_H_
