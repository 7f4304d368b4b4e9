#include "server/sparse_shard.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "absl/base/internal/raw_logging.h"
#include "common/hash.h"
#include "server/initializer.h"

namespace ps::server {
namespace {

// The key sits in the first two floats of its record.
constexpr int64_t kKeyFloats = 2;

// An index slot: the low kRowBits hold row + 1 (0: empty slot), the rest a
// tag of the key's hash that rejects most other keys without reading their
// records.
constexpr int kRowBits = 27;
constexpr uint32_t kRowMask = (uint32_t{1} << kRowBits) - 1;
constexpr uint32_t kMinCapacity = 16;

// Drawn once per process, so that where a key lands is not something a
// peer can aim at: keys chosen to share one stripe would fill it to
// kMaxRowsPerStripe (the process aborts there) and crowd one probe sequence.
const uint64_t kHashSalt = [] {
  std::random_device seed;
  return (uint64_t{seed()} << 32) ^ seed();
}();

// One mix per key, cut into disjoint bits: the stripe (top 6), the home
// slot (32 below those) and the tag (the low 5).
uint64_t Hash(uint64_t key) { return SplitMix64(key ^ kHashSalt); }
uint32_t Tag(uint64_t hash) {
  return (static_cast<uint32_t>(hash) & 31u) << kRowBits;
}
uint32_t Home(uint64_t hash, uint32_t capacity) {
  // Lemire's multiply-shift: a uniform slot in [0, capacity) without a
  // division, for capacities that are not powers of two.
  return static_cast<uint32_t>(((hash >> 26) & 0xffffffffu) * capacity >> 32);
}
// Most rows an index of `capacity` slots takes: 85%.
bool Fits(int64_t rows, uint32_t capacity) {
  return rows * 20 <= int64_t{capacity} * 17;
}

uint64_t KeyOf(const float* record) {
  uint64_t key;
  std::memcpy(&key, record, sizeof(key));
  return key;
}

}  // namespace

SparseShard::SparseShard(const v1::TableDef& def, int dim,
                         std::unique_ptr<UpdateRule> rule)
    : init_(def.init()),
      optimizer_(def.optimizer()),
      dim_(dim),
      rule_(std::move(rule)),
      planes_(rule_->StateFloats()),
      record_floats_(kKeyFloats + int64_t{1 + planes_} * dim),
      rows_per_block_(std::max<int64_t>(
          1, kBlockBytes / (record_floats_ * int64_t{sizeof(float)}))),
      stripes_(new Stripe[kStripes]) {
  ABSL_RAW_CHECK(dim_ >= 1, "sparse table dim must be at least 1");
  ABSL_RAW_CHECK(planes_ <= kMaxStatePlanes,
                 "update rule keeps more state planes than kMaxStatePlanes");
}

SparseShard::Stripe& SparseShard::StripeOf(uint64_t hash) const {
  return stripes_[hash >> 58];
}

float* SparseShard::Record(const Stripe& stripe, uint32_t row) const {
  const int64_t block = row / rows_per_block_;
  const int64_t within = row % rows_per_block_;
  return stripe.blocks[block].get() + within * record_floats_;
}

float* SparseShard::Find(const Stripe& stripe, uint64_t key,
                         uint64_t hash) const {
  const uint32_t capacity = stripe.capacity;
  if (capacity == 0) return nullptr;
  const uint32_t tag = Tag(hash);
  // Ends: the index is never full, so an empty slot follows every run.
  for (uint32_t i = Home(hash, capacity);; i = i + 1 == capacity ? 0 : i + 1) {
    const uint32_t slot = stripe.slots[i];
    if (slot == 0) return nullptr;
    if ((slot & ~kRowMask) != tag) continue;
    float* record = Record(stripe, (slot & kRowMask) - 1);
    if (KeyOf(record) == key) return record;
  }
}

void SparseShard::Reserve(Stripe& stripe) {
  int64_t grown = 0;  // bytes
  if (!Fits(int64_t{stripe.rows} + 1, stripe.capacity)) {
    const uint32_t capacity =
        std::max(kMinCapacity, stripe.capacity + stripe.capacity / 2);
    auto slots = std::make_unique<uint32_t[]>(capacity);  // zeroed: empty
    for (uint32_t row = 0; row < stripe.rows; ++row) {
      const uint64_t hash = Hash(KeyOf(Record(stripe, row)));
      uint32_t i = Home(hash, capacity);
      while (slots[i] != 0) i = i + 1 == capacity ? 0 : i + 1;
      slots[i] = Tag(hash) | (row + 1);
    }
    grown += (int64_t{capacity} - stripe.capacity) * int64_t{sizeof(uint32_t)};
    stripe.slots = std::move(slots);
    stripe.capacity = capacity;
  }
  if (int64_t{stripe.rows} ==
      static_cast<int64_t>(stripe.blocks.size()) * rows_per_block_) {
    const size_t table_before = stripe.blocks.capacity();
    // Uninitialised on purpose: each record is filled when its row is made.
    stripe.blocks.emplace_back(new float[rows_per_block_ * record_floats_]);
    grown += rows_per_block_ * record_floats_ * int64_t{sizeof(float)};
    grown += static_cast<int64_t>((stripe.blocks.capacity() - table_before) *
                                  sizeof(stripe.blocks[0]));
  }
  if (grown != 0) bytes_.fetch_add(grown, std::memory_order_relaxed);
}

float* SparseShard::FindOrCreate(Stripe& stripe, uint64_t key, uint64_t hash) {
  if (float* record = Find(stripe, key, hash)) return record;
  float* record = Insert(stripe, key, hash);
  FillInitialRow(init_, key, dim_, record + kKeyFloats);
  // Planes start zeroed.
  std::fill(record + kKeyFloats + dim_, record + record_floats_, 0.0f);
  return record;
}

float* SparseShard::Insert(Stripe& stripe, uint64_t key, uint64_t hash) {
  ABSL_RAW_CHECK(stripe.rows < kMaxRowsPerStripe,
                 "sparse shard stripe holds kMaxRowsPerStripe rows");
  Reserve(stripe);
  const uint32_t row = stripe.rows++;
  uint32_t i = Home(hash, stripe.capacity);
  while (stripe.slots[i] != 0) i = i + 1 == stripe.capacity ? 0 : i + 1;
  stripe.slots[i] = Tag(hash) | (row + 1);
  float* record = Record(stripe, row);
  std::memcpy(record, &key, sizeof(key));
  return record;
}

void SparseShard::Clear(Stripe& stripe) {
  // What Reserve counted for this stripe.
  const int64_t freed =
      int64_t{stripe.capacity} * int64_t{sizeof(uint32_t)} +
      static_cast<int64_t>(stripe.blocks.size()) * rows_per_block_ *
          record_floats_ * int64_t{sizeof(float)} +
      static_cast<int64_t>(stripe.blocks.capacity() * sizeof(stripe.blocks[0]));
  stripe.slots.reset();
  stripe.capacity = 0;
  stripe.rows = 0;
  std::vector<std::unique_ptr<float[]>>().swap(stripe.blocks);
  if (freed != 0) bytes_.fetch_sub(freed, std::memory_order_relaxed);
}

namespace {

// The keys of one call grouped by stripe: by_stripe[start[s], start[s + 1])
// are the indexes of the keys in stripe s, in call order. Per thread, so a
// call allocates only when it is the largest the thread has seen.
struct StripeGroups {
  std::vector<uint64_t> hashes;
  std::vector<uint32_t> by_stripe;
  std::vector<uint32_t> missing;
  uint32_t start[SparseShard::kStripes + 1];

  void Group(absl::Span<const uint64_t> keys) {
    const size_t n = keys.size();
    hashes.resize(n);
    by_stripe.resize(n);
    uint32_t count[SparseShard::kStripes] = {};
    for (size_t i = 0; i < n; ++i) {
      hashes[i] = Hash(keys[i]);
      ++count[hashes[i] >> 58];
    }
    start[0] = 0;
    for (int s = 0; s < SparseShard::kStripes; ++s) {
      start[s + 1] = start[s] + count[s];
    }
    uint32_t next[SparseShard::kStripes];
    std::copy(start, start + SparseShard::kStripes, next);
    for (size_t i = 0; i < n; ++i) {
      by_stripe[next[hashes[i] >> 58]++] = static_cast<uint32_t>(i);
    }
  }
};

StripeGroups& ThreadGroups() {
  thread_local StripeGroups groups;
  return groups;
}

// Per-thread scratch is kept between calls up to this many elements; a
// bigger request's scratch is freed after it, so that one huge request does
// not pin memory (outside max_bytes) on every thread that served one.
constexpr size_t kKeptScratch = size_t{1} << 20;

template <typename T>
void TrimScratch(std::vector<T>& v) {
  if (v.capacity() > kKeptScratch) std::vector<T>().swap(v);
}

void TrimGroups(StripeGroups& g) {
  TrimScratch(g.hashes);
  TrimScratch(g.by_stripe);
  TrimScratch(g.missing);
}

}  // namespace

void SparseShard::Read(absl::Span<const uint64_t> keys, void* out) {
  const size_t row_bytes = static_cast<size_t>(dim_) * sizeof(float);
  char* dst = static_cast<char*>(out);
  StripeGroups& g = ThreadGroups();
  g.Group(keys);
  for (int s = 0; s < kStripes; ++s) {
    if (g.start[s] == g.start[s + 1]) continue;
    Stripe& stripe = stripes_[s];
    g.missing.clear();
    {
      // Existing rows, the common case, only need the shared lock.
      absl::ReaderMutexLock lock(&stripe.mu);
      for (uint32_t k = g.start[s]; k < g.start[s + 1]; ++k) {
        const uint32_t i = g.by_stripe[k];
        if (const float* record = Find(stripe, keys[i], g.hashes[i])) {
          std::memcpy(dst + i * row_bytes, record + kKeyFloats, row_bytes);
        } else {
          g.missing.push_back(i);
        }
      }
    }
    if (g.missing.empty()) continue;
    absl::MutexLock lock(&stripe.mu);
    for (uint32_t i : g.missing) {
      std::memcpy(dst + i * row_bytes,
                  FindOrCreate(stripe, keys[i], g.hashes[i]) + kKeyFloats,
                  row_bytes);
    }
  }
  TrimGroups(g);
}

void SparseShard::ApplyRows(absl::Span<const uint64_t> keys,
                            const float* const* grads) {
  StripeGroups& g = ThreadGroups();
  g.Group(keys);
  float* planes[kMaxStatePlanes];
  for (int s = 0; s < kStripes; ++s) {
    if (g.start[s] == g.start[s + 1]) continue;
    Stripe& stripe = stripes_[s];
    absl::MutexLock lock(&stripe.mu);
    for (uint32_t k = g.start[s]; k < g.start[s + 1]; ++k) {
      const uint32_t i = g.by_stripe[k];
      float* values = FindOrCreate(stripe, keys[i], g.hashes[i]) + kKeyFloats;
      for (int p = 0; p < planes_; ++p) planes[p] = values + (p + 1) * dim_;
      rule_->Apply(values, planes, grads[i], dim_);
    }
  }
  TrimGroups(g);
}

void SparseShard::Apply(absl::Span<const uint64_t> keys, const float* grads) {
  thread_local std::vector<const float*> rows;
  rows.resize(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) rows[i] = grads + i * dim_;
  ApplyRows(keys, rows.data());
  TrimScratch(rows);
}

void SparseShard::Apply(absl::Span<const uint64_t> keys,
                        const ValuePieces& grads, int64_t first) {
  // ForEachRun's runs are valid only during its callback (a float split
  // across pieces is handed out from a temporary), and the rows are applied
  // stripe by stripe afterwards: gather them first. One copy of the
  // gradients costs less than taking each stripe's lock once per key.
  thread_local std::vector<float> gathered;
  gathered.resize(keys.size() * static_cast<size_t>(dim_));
  grads.ForEachRun(first, static_cast<int64_t>(gathered.size()),
                   [](int64_t at, const float* v, int64_t n) {
                     std::memcpy(gathered.data() + at, v, n * sizeof(float));
                   });
  Apply(keys, gathered.data());
  TrimScratch(gathered);
}

void SparseShard::Scan(
    int64_t max_rows,
    absl::FunctionRef<bool(absl::Span<const uint64_t>, const float*)> fn)
    const {
  max_rows = std::clamp<int64_t>(max_rows, 1, kMaxRowsPerStripe);
  std::vector<uint64_t> keys;
  std::vector<float> rows;
  for (int s = 0; s < kStripes; ++s) {
    const Stripe& stripe = stripes_[s];
    for (uint32_t first = 0;; first += static_cast<uint32_t>(max_rows)) {
      keys.clear();
      rows.clear();
      {
        absl::ReaderMutexLock lock(&stripe.mu);
        const uint32_t end = static_cast<uint32_t>(
            std::min<int64_t>(stripe.rows, first + max_rows));
        if (first >= end) break;
        for (uint32_t row = first; row < end; ++row) {
          const float* record = Record(stripe, row);
          keys.push_back(KeyOf(record));
          rows.insert(rows.end(), record + kKeyFloats,
                      record + kKeyFloats + dim_);
        }
      }
      if (!fn(keys, rows.data())) return;
    }
  }
}

// ExportRows and RestoreRows hold every stripe at once, in index order (no
// other call holds more than one, so this cannot deadlock).
void SparseShard::ExportRows(std::vector<uint64_t>* keys,
                             std::vector<float>* rows) const {
  for (int s = 0; s < kStripes; ++s) stripes_[s].mu.ReaderLock();
  std::vector<std::pair<uint64_t, const float*>> held;
  for (int s = 0; s < kStripes; ++s) {
    const Stripe& stripe = stripes_[s];
    for (uint32_t row = 0; row < stripe.rows; ++row) {
      const float* record = Record(stripe, row);
      held.emplace_back(KeyOf(record), record + kKeyFloats);
    }
  }
  std::sort(held.begin(), held.end());
  const int64_t n = row_floats();
  keys->resize(held.size());
  rows->resize(held.size() * n);
  for (size_t i = 0; i < held.size(); ++i) {
    (*keys)[i] = held[i].first;
    std::copy(held[i].second, held[i].second + n, rows->data() + i * n);
  }
  for (int s = kStripes - 1; s >= 0; --s) stripes_[s].mu.ReaderUnlock();
}

void SparseShard::RestoreRows(absl::Span<const uint64_t> keys,
                              const void* rows) {
  for (int s = 0; s < kStripes; ++s) stripes_[s].mu.Lock();
  for (int s = 0; s < kStripes; ++s) Clear(stripes_[s]);
  const char* from = static_cast<const char*>(rows);
  const size_t row_bytes = row_floats() * sizeof(float);
  for (uint64_t key : keys) {
    const uint64_t hash = Hash(key);
    Stripe& stripe = StripeOf(hash);
    float* record = Find(stripe, key, hash);
    if (record == nullptr) record = Insert(stripe, key, hash);
    std::memcpy(record + kKeyFloats, from, row_bytes);
    from += row_bytes;
  }
  for (int s = kStripes - 1; s >= 0; --s) stripes_[s].mu.Unlock();
}

int64_t SparseShard::rows() const {
  int64_t total = 0;
  for (int s = 0; s < kStripes; ++s) {
    absl::ReaderMutexLock lock(&stripes_[s].mu);
    total += stripes_[s].rows;
  }
  return total;
}

int64_t SparseShard::raw_bytes() const {
  return rows() * (record_floats_ - kKeyFloats) * int64_t{sizeof(float)};
}

}  // namespace ps::server
