// BSP's gradient sums for one job on one server: pushes for the open clock
// are added here, and once every worker has finished the clock the mean is
// applied through each shard's update rule, once. Thread-safe.
#ifndef PS_SERVER_BSP_ACCUMULATOR_H_
#define PS_SERVER_BSP_ACCUMULATOR_H_

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/dense_shard.h"

namespace ps::server {

class BspAccumulator {
 public:
  // The shards must outlive the accumulator.
  explicit BspAccumulator(const std::vector<DenseShard*>& shards);

  // sum[offset, offset+count) += grad (global indices within `shard`).
  void Add(DenseShard* shard, int64_t offset, int64_t count, const float* grad);

  // Applies sum * scale to every shard, then zeroes the sums.
  void ApplyAndReset(float scale);

  // Snapshots (server/group_snapshot.h). Whether `shard` was given to the
  // constructor.
  bool Holds(DenseShard* shard) const;
  // Copies the sums of `shard` (one given to the constructor), end - begin
  // floats, to `out`, which need not be aligned.
  void ExportSums(DenseShard* shard, void* out) const;
  // Replaces the sums of `shard` (one given to the constructor) with the
  // end - begin floats at `in`, which need not be aligned.
  void RestoreSums(DenseShard* shard, const void* in);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<DenseShard*, std::vector<float>> sums_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::server

#endif  // PS_SERVER_BSP_ACCUMULATOR_H_
