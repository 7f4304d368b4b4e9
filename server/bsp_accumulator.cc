#include "server/bsp_accumulator.h"

#include <algorithm>

namespace ps::server {

BspAccumulator::BspAccumulator(const std::vector<DenseShard*>& shards) {
  absl::MutexLock lock(&mu_);
  for (DenseShard* s : shards) sums_[s].assign(s->end() - s->begin(), 0.0f);
}

void BspAccumulator::Add(DenseShard* shard, int64_t offset, int64_t count,
                         const float* grad) {
  absl::MutexLock lock(&mu_);
  float* sum = sums_[shard].data() + (offset - shard->begin());
  for (int64_t i = 0; i < count; ++i) sum[i] += grad[i];
}

void BspAccumulator::ApplyAndReset(float scale) {
  absl::MutexLock lock(&mu_);
  for (auto& [shard, sum] : sums_) {
    for (float& v : sum) v *= scale;
    shard->Apply(shard->begin(), shard->end() - shard->begin(), sum.data());
    std::fill(sum.begin(), sum.end(), 0.0f);
  }
}

}  // namespace ps::server
