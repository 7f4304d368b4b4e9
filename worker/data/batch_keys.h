// The distinct keys of one minibatch, each with a dense index: the worker's
// deduplication before a sparse pull. The trainer maps every (example, slot)
// key to an index here, pulls one row per distinct key, and lets the model
// read rows through those indices (EmbeddingBatch.row_index).

#ifndef PS_WORKER_DATA_BATCH_KEYS_H_
#define PS_WORKER_DATA_BATCH_KEYS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ps::worker {

// An open-addressing hash table (linear probing, load factor at most 1/2)
// whose slots are stamped with the batch's generation, so that Clear() is
// O(1) and a training step never touches the allocator. (absl's
// flat_hash_map::clear() frees any table above 127 slots, so each step
// would allocate and regrow it.)
//
// Not thread-safe.
class BatchKeys {
 public:
  // Room for max_keys distinct keys per batch; max_keys >= 1. Allocates
  // everything here: about 32 bytes per key.
  explicit BatchKeys(int64_t max_keys);

  // Forgets every key: the next batch starts.
  void Clear();

  // The index of `key` in keys(), appending it if it is new to this batch.
  // At most max_keys distinct keys between two Clear() calls: a caller sizes
  // the table for its largest batch, so more is a programmer error and
  // crashes.
  inline int32_t Insert(uint64_t key);

  // The batch's distinct keys in first-seen order.
  const std::vector<uint64_t>& keys() const { return keys_; }
  int64_t size() const { return static_cast<int64_t>(keys_.size()); }

 private:
  struct Slot {
    uint64_t key = 0;
    uint32_t generation = 0;  // The slot is in use iff this is generation_.
    int32_t index = 0;
  };

  // Claims the free `slot` for `key`.
  int32_t Add(Slot& slot, uint64_t key);

  int64_t max_keys_;
  int shift_;  // 64 - log2(slots_.size()): Fibonacci hashing's shift.
  uint32_t generation_ = 1;
  std::vector<Slot> slots_;  // A power of two >= 2 * max_keys.
  std::vector<uint64_t> keys_;
};

// Inline: the trainer calls this once per (example, slot), and the probe is
// a handful of instructions.
int32_t BatchKeys::Insert(uint64_t key) {
  const std::size_t mask = slots_.size() - 1;
  // Fibonacci hashing: the top bits of key * 2^64/phi spread sequential and
  // masked keys alike over the table.
  std::size_t i =
      static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ULL) >> shift_);
  for (;; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.generation != generation_) return Add(slot, key);
    if (slot.key == key) return slot.index;
  }
}

}  // namespace ps::worker

#endif  // PS_WORKER_DATA_BATCH_KEYS_H_
