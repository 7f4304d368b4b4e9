#include "server/sparse_shard.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/base/internal/raw_logging.h"
#include "common/hash.h"
#include "server/initializer.h"

namespace ps::server {
namespace {

// Bytes a flat_hash_map allocates for `capacity` slots: the slots, one
// control byte each plus a group's worth of cloned control bytes, and the
// bookkeeping word stored in front of them.
template <typename Map>
int64_t IndexBytes(const Map& map) {
  const int64_t capacity = static_cast<int64_t>(map.capacity());
  if (capacity == 0) return 0;
  return capacity * static_cast<int64_t>(sizeof(typename Map::value_type) + 1) +
         16 + static_cast<int64_t>(sizeof(size_t));
}

}  // namespace

SparseShard::SparseShard(const v1::TableDef& def, int dim,
                         std::unique_ptr<UpdateRule> rule)
    : init_(def.init()),
      dim_(dim),
      rule_(std::move(rule)),
      planes_(rule_->StateFloats()),
      record_floats_(int64_t{1 + planes_} * dim),
      rows_per_block_(std::max<int64_t>(
          1, kBlockBytes / (record_floats_ * int64_t{sizeof(float)}))),
      stripes_(new Stripe[kStripes]) {
  ABSL_RAW_CHECK(dim_ >= 1, "sparse table dim must be at least 1");
  ABSL_RAW_CHECK(planes_ <= kMaxStatePlanes,
                 "update rule keeps more state planes than kMaxStatePlanes");
}

SparseShard::Stripe& SparseShard::StripeOf(uint64_t key) {
  // Top bits of a different mix than the index's own hash, so a stripe's
  // keys still spread evenly over its index.
  return stripes_[SplitMix64(key ^ 0x5851f42d4c957f2dULL) >> 58];
}

float* SparseShard::Record(const Stripe& stripe, uint32_t row) const {
  const int64_t block = row / rows_per_block_;
  const int64_t within = row % rows_per_block_;
  return stripe.blocks[block].get() + within * record_floats_;
}

float* SparseShard::Find(const Stripe& stripe, uint64_t key) const {
  auto it = stripe.index.find(key);
  return it == stripe.index.end() ? nullptr : Record(stripe, it->second);
}

float* SparseShard::FindOrCreate(Stripe& stripe, uint64_t key) {
  const size_t next = stripe.index.size();
  auto [it, inserted] =
      stripe.index.try_emplace(key, static_cast<uint32_t>(next));
  if (!inserted) return Record(stripe, it->second);
  ABSL_RAW_CHECK(next < std::numeric_limits<uint32_t>::max(),
                 "sparse shard stripe holds 2^32 rows");
  if (static_cast<int64_t>(next) ==
      static_cast<int64_t>(stripe.blocks.size()) * rows_per_block_) {
    // Uninitialised on purpose: each record is filled when its row is made.
    stripe.blocks.emplace_back(new float[rows_per_block_ * record_floats_]);
  }
  float* record = Record(stripe, static_cast<uint32_t>(next));
  FillInitialRow(init_, key, dim_, record);
  std::fill(record + dim_, record + record_floats_, 0.0f);  // planes start 0
  return record;
}

void SparseShard::Read(absl::Span<const uint64_t> keys, float* out) {
  const size_t row_bytes = static_cast<size_t>(dim_) * sizeof(float);
  for (size_t i = 0; i < keys.size(); ++i) {
    Stripe& stripe = StripeOf(keys[i]);
    float* dst = out + i * dim_;
    {
      // Existing rows, the common case, only need the shared lock.
      absl::ReaderMutexLock lock(&stripe.mu);
      if (const float* record = Find(stripe, keys[i])) {
        std::memcpy(dst, record, row_bytes);
        continue;
      }
    }
    absl::MutexLock lock(&stripe.mu);
    std::memcpy(dst, FindOrCreate(stripe, keys[i]), row_bytes);
  }
}

void SparseShard::Apply(absl::Span<const uint64_t> keys, const float* grads) {
  float* planes[kMaxStatePlanes];
  for (size_t i = 0; i < keys.size(); ++i) {
    Stripe& stripe = StripeOf(keys[i]);
    absl::MutexLock lock(&stripe.mu);
    float* record = FindOrCreate(stripe, keys[i]);
    for (int k = 0; k < planes_; ++k) planes[k] = record + (k + 1) * dim_;
    rule_->Apply(record, planes, grads + i * dim_, dim_);
  }
}

int64_t SparseShard::rows() const {
  int64_t total = 0;
  for (int s = 0; s < kStripes; ++s) {
    absl::ReaderMutexLock lock(&stripes_[s].mu);
    total += static_cast<int64_t>(stripes_[s].index.size());
  }
  return total;
}

int64_t SparseShard::bytes() const {
  int64_t total = 0;
  const int64_t block_bytes =
      rows_per_block_ * record_floats_ * int64_t{sizeof(float)};
  for (int s = 0; s < kStripes; ++s) {
    const Stripe& stripe = stripes_[s];
    absl::ReaderMutexLock lock(&stripe.mu);
    total += static_cast<int64_t>(stripe.blocks.size()) * block_bytes;
    total += static_cast<int64_t>(stripe.blocks.capacity() *
                                  sizeof(stripe.blocks[0]));
    total += IndexBytes(stripe.index);
  }
  return total;
}

int64_t SparseShard::raw_bytes() const {
  return rows() * record_floats_ * int64_t{sizeof(float)};
}

}  // namespace ps::server
