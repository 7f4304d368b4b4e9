// The rows of one sparse table held by this server: a uint64 key maps to a
// row of `dim` floats, created on first touch (by a Read or an Apply) with
// values that depend only on (init.seed, key), so a key starts from the same
// row whichever server holds it and whenever it is first touched.
//
// Storage: each row lives in one record of (1 + StateFloats()) * dim floats,
// the values followed by one dim-float slice per optimizer state plane, so a
// row's update touches one contiguous stretch of memory. Records sit in
// fixed-size blocks that are never moved or freed while the shard lives:
// growth allocates a new block and never copies rows, and the unused tail is
// at most one block per stripe. Rows are never deleted.
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

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "proto/ps/v1/ps.pb.h"
#include "server/initializer.h"
#include "server/update_rule.h"

namespace ps::server {

class SparseShard {
 public:
  // Lock stripes: enough that a few dozen RPC threads rarely collide.
  static constexpr int kStripes = 64;
  // Target size of one storage block. Bounds the slack (at most one block
  // per stripe, 4 MiB per shard) while keeping the block table tiny.
  static constexpr int64_t kBlockBytes = int64_t{64} << 10;

  // `def.init()` must have passed ValidateInitializer and `rule` must be
  // the table's rule (MakeUpdateRule(def.optimizer())); dim >= 1. Only
  // def.init() is kept; def.size() is not used (a sparse table has no
  // fixed size).
  SparseShard(const v1::TableDef& def, int dim,
              std::unique_ptr<UpdateRule> rule);

  SparseShard(const SparseShard&) = delete;
  SparseShard& operator=(const SparseShard&) = delete;

  int dim() const { return dim_; }

  // Copies the rows of `keys` to out[i * dim, (i + 1) * dim), creating any
  // that are missing. Repeated keys are fine. `out` holds keys.size() * dim
  // floats.
  void Read(absl::Span<const uint64_t> keys, float* out);

  // Applies the update rule with grads[i * dim, (i + 1) * dim) to the row of
  // keys[i], creating it first if missing. Keys must be unique within a call
  // (the caller checks); a repeated key would simply be updated twice.
  void Apply(absl::Span<const uint64_t> keys, const float* grads);

  // Rows held.
  int64_t rows() const;
  // Bytes held for rows: allocated blocks (values, state and unused tail)
  // plus each stripe's index measured from its capacity and block table.
  // Excludes the fixed per-object size (locks, the stripe array).
  int64_t bytes() const;
  // rows() * dim * 4 * (1 + StateFloats()): the payload without overhead.
  int64_t raw_bytes() const;

 private:
  struct Stripe {
    mutable absl::Mutex mu;
    // Key -> row number within this stripe.
    absl::flat_hash_map<uint64_t, uint32_t> index ABSL_GUARDED_BY(mu);
    // Block b holds rows [b * rows_per_block_, (b + 1) * rows_per_block_).
    std::vector<std::unique_ptr<float[]>> blocks ABSL_GUARDED_BY(mu);
  };

  Stripe& StripeOf(uint64_t key);
  // The record of row `row` of `stripe`.
  float* Record(const Stripe& stripe, uint32_t row) const
      ABSL_SHARED_LOCKS_REQUIRED(stripe.mu);
  // The record of `key`, or nullptr when it has no row yet.
  float* Find(const Stripe& stripe, uint64_t key) const
      ABSL_SHARED_LOCKS_REQUIRED(stripe.mu);
  // The record of `key`, creating and initialising the row if missing.
  float* FindOrCreate(Stripe& stripe, uint64_t key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu);

  const v1::Initializer init_;
  const int dim_;
  const std::unique_ptr<UpdateRule> rule_;
  const int planes_;           // rule_->StateFloats()
  const int64_t record_floats_;  // (1 + planes_) * dim_
  const int64_t rows_per_block_;
  const std::unique_ptr<Stripe[]> stripes_;
};

}  // namespace ps::server

#endif  // PS_SERVER_SPARSE_SHARD_H_
