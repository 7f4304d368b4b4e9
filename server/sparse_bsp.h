// BSP's gradient sums for the sparse tables of one job on one server: the
// rows pushed for the open clock are summed per key, and once every worker
// has finished the clock the mean is applied to each pushed row through its
// shard's update rule, once (rows no worker pushed are not touched, as a
// dense value with a zero gradient would be). The sparse counterpart of
// BspAccumulator; the store drives both from the same clock.
//
// Memory: the sums of the open clock, bytes() (about 8 + dim * 4 bytes per
// distinct key plus the index), released by ApplyAndReset.
//
// Thread-safe: one lock over all sums, as in BspAccumulator.
#ifndef PS_SERVER_SPARSE_BSP_H_
#define PS_SERVER_SPARSE_BSP_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "server/sparse_shard.h"
#include "server/value_pieces.h"

namespace ps::server {

class SparseBspAccumulator {
 public:
  // The shards must outlive the accumulator.
  explicit SparseBspAccumulator(const std::vector<SparseShard*>& shards);

  // For each i: sum[keys[i]] += floats [first + i * dim, first + (i + 1) *
  // dim) of `grads` (dim: shard->dim()). `shard` is one given to the
  // constructor. Keys may repeat (within a call and across calls).
  void Add(SparseShard* shard, absl::Span<const uint64_t> keys,
           const ValuePieces& grads, int64_t first);

  // Applies sum * scale to the row of every key summed since the last
  // reset, creating missing rows, then drops the sums.
  void ApplyAndReset(float scale);

  // Bytes the sums hold now. Cheap (an atomic load, no lock).
  int64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

  // Snapshots (server/group_snapshot.h). Whether `shard` was given to the
  // constructor.
  bool Holds(SparseShard* shard) const;
  // Replaces *keys with the keys summed for `shard` (one given to the
  // constructor) since the last reset, ascending, and *sums with their
  // sums, dim floats each.
  void ExportSums(SparseShard* shard, std::vector<uint64_t>* keys,
                  std::vector<float>* sums) const;
  // Replaces the sums of `shard` (one given to the constructor) with
  // keys[i] -> floats [i * dim, (i + 1) * dim) of `sums` (which need not be
  // aligned). Keys must be distinct.
  void RestoreSums(SparseShard* shard, absl::Span<const uint64_t> keys,
                   const void* sums);

 private:
  struct Sums {
    absl::flat_hash_map<uint64_t, int64_t> row;  // key -> index in keys
    std::vector<uint64_t> keys;
    std::vector<float> values;  // keys.size() rows of dim floats
  };
  // The sum row of `key` in `sums`, zeroed when new.
  static float* RowOf(Sums& sums, uint64_t key, int dim);
  int64_t BytesLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<SparseShard*, Sums> sums_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> bytes_{0};
};

}  // namespace ps::server

#endif  // PS_SERVER_SPARSE_BSP_H_
