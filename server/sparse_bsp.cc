#include "server/sparse_bsp.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "absl/base/internal/raw_logging.h"

namespace ps::server {

SparseBspAccumulator::SparseBspAccumulator(
    const std::vector<SparseShard*>& shards) {
  absl::MutexLock lock(&mu_);
  for (SparseShard* s : shards) sums_[s];
}

float* SparseBspAccumulator::RowOf(Sums& sums, uint64_t key, int dim) {
  auto [it, inserted] =
      sums.row.try_emplace(key, static_cast<int64_t>(sums.keys.size()));
  if (inserted) {
    sums.keys.push_back(key);
    sums.values.resize(sums.values.size() + dim, 0.0f);
  }
  return sums.values.data() + it->second * dim;
}

void SparseBspAccumulator::Add(SparseShard* shard,
                               absl::Span<const uint64_t> keys,
                               const ValuePieces& grads, int64_t first) {
  const int dim = shard->dim();
  absl::MutexLock lock(&mu_);
  Sums& sums = sums_[shard];
  grads.ForEachRun(first, static_cast<int64_t>(keys.size()) * dim,
                   [&](int64_t at, const float* v, int64_t n) {
                     // Row by row: a run may start or end inside a row.
                     while (n > 0) {
                       const int64_t col = at % dim;
                       const int64_t take = std::min<int64_t>(n, dim - col);
                       float* sum = RowOf(sums, keys[at / dim], dim) + col;
                       for (int64_t k = 0; k < take; ++k) sum[k] += v[k];
                       at += take;
                       v += take;
                       n -= take;
                     }
                   });
  bytes_.store(BytesLocked(), std::memory_order_relaxed);
}

void SparseBspAccumulator::ApplyAndReset(float scale) {
  absl::MutexLock lock(&mu_);
  for (auto& [shard, sums] : sums_) {
    if (sums.keys.empty()) continue;
    for (float& v : sums.values) v *= scale;
    shard->Apply(sums.keys, sums.values.data());
    sums = Sums();  // releases the memory: the next clock may touch others
  }
  bytes_.store(0, std::memory_order_relaxed);
}

bool SparseBspAccumulator::Holds(SparseShard* shard) const {
  absl::MutexLock lock(&mu_);
  return sums_.contains(shard);
}

void SparseBspAccumulator::ExportSums(SparseShard* shard,
                                      std::vector<uint64_t>* keys,
                                      std::vector<float>* sums) const {
  const int dim = shard->dim();
  absl::MutexLock lock(&mu_);
  auto it = sums_.find(shard);
  ABSL_RAW_CHECK(it != sums_.end(), "ExportSums: not a shard of this job");
  const Sums& held = it->second;
  std::vector<int64_t> order(held.keys.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int64_t a, int64_t b) { return held.keys[a] < held.keys[b]; });
  keys->resize(order.size());
  sums->resize(order.size() * dim);
  for (size_t i = 0; i < order.size(); ++i) {
    (*keys)[i] = held.keys[order[i]];
    std::copy_n(held.values.data() + order[i] * dim, dim,
                sums->data() + i * dim);
  }
}

void SparseBspAccumulator::RestoreSums(SparseShard* shard,
                                       absl::Span<const uint64_t> keys,
                                       const void* sums) {
  const int dim = shard->dim();
  Sums restored;
  restored.keys.assign(keys.begin(), keys.end());
  restored.values.resize(keys.size() * dim);
  if (!keys.empty()) {
    std::memcpy(restored.values.data(), sums,
                restored.values.size() * sizeof(float));
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    restored.row[keys[i]] = static_cast<int64_t>(i);
  }
  absl::MutexLock lock(&mu_);
  auto it = sums_.find(shard);
  ABSL_RAW_CHECK(it != sums_.end(), "RestoreSums: not a shard of this job");
  it->second = std::move(restored);
  bytes_.store(BytesLocked(), std::memory_order_relaxed);
}

int64_t SparseBspAccumulator::BytesLocked() const {
  int64_t total = 0;
  for (const auto& [shard, sums] : sums_) {
    total += static_cast<int64_t>(
        sums.row.capacity() * (sizeof(std::pair<uint64_t, int64_t>) + 1) +
        sums.keys.capacity() * sizeof(uint64_t) +
        sums.values.capacity() * sizeof(float));
  }
  return total;
}

}  // namespace ps::server
