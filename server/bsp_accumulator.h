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

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<DenseShard*, std::vector<float>> sums_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::server

#endif  // PS_SERVER_BSP_ACCUMULATOR_H_
