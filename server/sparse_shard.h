// The rows of one sparse table held by this server: a uint64 key maps to a
// row of `dim` floats, created on first touch (by a Read or an Apply) with
// values that depend only on (init.seed, key), so a key starts from the same
// row whichever server holds it and whenever it is first touched.
//
// Storage: each row lives in one record: its key (8 bytes), then the `dim`
// values, then one dim-float slice per optimizer state plane, so a row's
// update touches one contiguous stretch of memory. Records sit in fixed-size
// blocks that are never moved or freed while the shard lives: growth
// allocates a new block and never copies rows, and the unused tail is at
// most one block per stripe. Rows are never deleted.
//
// Index: per stripe, an open-addressing table (linear probing, at most 85%
// full, grown by half when full) of 4-byte slots, each a row number plus a
// few bits of the key's hash, so that probing rarely touches another key's
// record. With the key in the record that is 8 + 4 / load bytes per row
// (13 to 15), where a hash map of (key, row) slots took 17 / load (20 to 39).
//
// Memory: bytes() / raw_bytes() is at most 1.5 once a shard holds about a
// million rows whose raw payload, dim * 4 * (1 + StateFloats()), is at least
// 64 bytes (SGD from dim 16, ADAGRAD from dim 8): at most ~15 bytes of key
// and index per row plus at most one block of slack per stripe (256 KiB per
// shard, which dominates small shards). Narrower rows pay the per-row bytes
// relatively more. Measured for 1M rows (sparse_shard_test): SGD dim 1
// 4.54, dim 8 1.45, dim 16 1.23; ADAGRAD dim 1 2.77, dim 4 1.45, dim 8
// 1.23, dim 64 1.03.
//
// A call takes each stripe's lock once for all of its keys (keys are
// grouped by stripe first), not once per key.
//
// Thread-safety: thread-safe. Keys are spread over kStripes stripes by a
// hash; each stripe has its own lock, index and blocks. Every key is handled
// under its own stripe's lock, so a row is never seen half-updated, but a
// call covering several keys is not atomic as a whole: a Read running beside
// an Apply may see some of that Apply's rows updated and others not. Reads
// of existing rows share their stripe's lock; creating a row or applying an
// update takes it exclusively.
#ifndef PS_SERVER_SPARSE_SHARD_H_
#define PS_SERVER_SPARSE_SHARD_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "proto/ps/v1/ps.pb.h"
#include "server/initializer.h"
#include "server/update_rule.h"
#include "server/value_pieces.h"

namespace ps::server {

class SparseShard {
 public:
  // Lock stripes: enough that a few dozen RPC threads rarely collide.
  static constexpr int kStripes = 64;
  // Target size of one storage block. Bounds the slack (at most one block
  // per stripe, 256 KiB per shard, which matters for small tables) while
  // keeping the block table small (8 bytes per 4 KiB).
  static constexpr int64_t kBlockBytes = int64_t{4} << 10;
  // Most rows one stripe holds (an index slot packs a row number with hash
  // bits): ~8.6e9 rows per shard, far more than TableStoreOptions::max_bytes
  // lets a server hold; reaching it is a CHECK failure.
  static constexpr int64_t kMaxRowsPerStripe = (int64_t{1} << 27) - 1;

  // `def.init()` must have passed ValidateInitializer and `rule` must be
  // the table's rule (MakeUpdateRule(def.optimizer())); dim >= 1. Only
  // def.init() is kept; def.size() is not used (a sparse table has no
  // fixed size).
  SparseShard(const v1::TableDef& def, int dim,
              std::unique_ptr<UpdateRule> rule);

  SparseShard(const SparseShard&) = delete;
  SparseShard& operator=(const SparseShard&) = delete;

  int dim() const { return dim_; }

  // Copies the rows of `keys`, as float32, to bytes [i * dim * 4,
  // (i + 1) * dim * 4) of `out`, creating any that are missing. Repeated
  // keys are fine. `out` holds keys.size() * dim floats and need not be
  // aligned.
  void Read(absl::Span<const uint64_t> keys, void* out);

  // Applies the update rule with grads[i * dim, (i + 1) * dim) to the row of
  // keys[i], creating it first if missing. Keys must be unique within a call
  // (the caller checks); a repeated key would simply be updated twice.
  void Apply(absl::Span<const uint64_t> keys, const float* grads);
  // The same with the gradients in floats [first, first + keys.size() * dim)
  // of `grads`, gathered into one buffer first (pieces may split floats and
  // rows anywhere).
  void Apply(absl::Span<const uint64_t> keys, const ValuePieces& grads,
             int64_t first);

  // Calls fn(keys, rows) with every row held, in blocks of at most
  // max_rows rows (clamped to >= 1): keys[i]'s row is
  // rows[i * dim, (i + 1) * dim). Each block is copied under its stripe's
  // shared lock and handed out after it is released; rows changed meanwhile
  // may be seen before or after. Stops early when fn returns false.
  void Scan(int64_t max_rows,
            absl::FunctionRef<bool(absl::Span<const uint64_t> keys,
                                   const float* rows)>
                fn) const;

  // Snapshots (server/group_snapshot.h). The initializer and optimizer spec
  // the shard was built with, and the rule's state planes per row.
  const v1::Initializer& init() const { return init_; }
  const v1::OptimizerSpec& optimizer() const { return optimizer_; }
  int state_planes() const { return planes_; }
  // Floats per row in ExportRows and RestoreRows: dim * (1 + state_planes()),
  // the values, then each state plane's dim floats in turn.
  int64_t row_floats() const { return int64_t{1 + planes_} * dim_; }
  // Replaces *keys and *rows with every row held, in ascending key order:
  // keys[i]'s values and state are rows[i * row_floats(), (i + 1) *
  // row_floats()). Taken at one instant: every stripe is held for reading
  // meanwhile (updates wait; this copies all rows and sorts their keys).
  void ExportRows(std::vector<uint64_t>* keys, std::vector<float>* rows) const
      ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // Replaces every row held with keys[i] -> floats [i * row_floats(), (i +
  // 1) * row_floats()) of `rows` (which need not be aligned), at one
  // instant: every stripe is held for writing. Keys must be distinct (a
  // repeated key keeps its last row); at most kMaxRowsPerStripe land in one
  // stripe, as for any growth.
  void RestoreRows(absl::Span<const uint64_t> keys,
                   const void* rows) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // Rows held.
  int64_t rows() const;
  // Bytes held for rows: allocated blocks (keys, values, state and unused
  // tail), block tables and index slots. Excludes the fixed per-object size
  // (locks, the stripe array). Cheap: one atomic load, no lock, so callers
  // may check it on every request; may lag a concurrent growth.
  int64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  // rows() * dim * 4 * (1 + StateFloats()): the payload without overhead.
  int64_t raw_bytes() const;

 private:
  struct Stripe {
    mutable absl::Mutex mu;
    // `capacity` slots; 0 is empty, else (tag << kRowBits) | (row + 1).
    std::unique_ptr<uint32_t[]> slots ABSL_GUARDED_BY(mu);
    uint32_t capacity ABSL_GUARDED_BY(mu) = 0;
    uint32_t rows ABSL_GUARDED_BY(mu) = 0;
    // Block b holds rows [b * rows_per_block_, (b + 1) * rows_per_block_).
    std::vector<std::unique_ptr<float[]>> blocks ABSL_GUARDED_BY(mu);
  };

  Stripe& StripeOf(uint64_t hash) const;
  // The record of row `row` of `stripe`.
  float* Record(const Stripe& stripe, uint32_t row) const
      ABSL_SHARED_LOCKS_REQUIRED(stripe.mu);
  // The record of `key` (whose hash is `hash`), or nullptr when it has no
  // row yet.
  float* Find(const Stripe& stripe, uint64_t key, uint64_t hash) const
      ABSL_SHARED_LOCKS_REQUIRED(stripe.mu);
  // The record of `key`, creating and initialising the row if missing.
  float* FindOrCreate(Stripe& stripe, uint64_t key, uint64_t hash)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // A new record for `key`, which has no row yet, with only its key set.
  float* Insert(Stripe& stripe, uint64_t key, uint64_t hash)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Drops every row of `stripe` and frees its index and blocks.
  void Clear(Stripe& stripe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Makes room for one more row in the index (rehashing into a larger
  // table) and, when the last block is full, in the blocks.
  void Reserve(Stripe& stripe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);
  // Applies the update rule with grads[i] (dim floats) to the row of
  // keys[i], for every i. Locks each stripe once for all of its keys.
  void ApplyRows(absl::Span<const uint64_t> keys, const float* const* grads);

  const v1::Initializer init_;
  const v1::OptimizerSpec optimizer_;
  const int dim_;
  const std::unique_ptr<UpdateRule> rule_;
  const int planes_;             // rule_->StateFloats()
  const int64_t record_floats_;  // kKeyFloats + (1 + planes_) * dim_
  const int64_t rows_per_block_;
  const std::unique_ptr<Stripe[]> stripes_;
  std::atomic<int64_t> bytes_{0};
};

}  // namespace ps::server

#endif  // PS_SERVER_SPARSE_SHARD_H_
