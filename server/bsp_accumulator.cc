#include "server/bsp_accumulator.h"

#include <algorithm>
#include <cstring>

#include "absl/base/internal/raw_logging.h"

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

bool BspAccumulator::Holds(DenseShard* shard) const {
  absl::MutexLock lock(&mu_);
  return sums_.contains(shard);
}

void BspAccumulator::ExportSums(DenseShard* shard, void* out) const {
  absl::MutexLock lock(&mu_);
  auto it = sums_.find(shard);
  ABSL_RAW_CHECK(it != sums_.end(), "ExportSums: not a shard of this job");
  if (!it->second.empty()) {
    std::memcpy(out, it->second.data(), it->second.size() * sizeof(float));
  }
}

void BspAccumulator::RestoreSums(DenseShard* shard, const void* in) {
  absl::MutexLock lock(&mu_);
  auto it = sums_.find(shard);
  ABSL_RAW_CHECK(it != sums_.end(), "RestoreSums: not a shard of this job");
  if (!it->second.empty()) {
    std::memcpy(it->second.data(), in, it->second.size() * sizeof(float));
  }
}

}  // namespace ps::server
