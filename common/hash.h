// The 64-bit mixing functions every component agrees on. Changing any of
// them changes hashed feature keys, initial values and where sparse keys
// live: they are part of the wire contract.
#ifndef PS_COMMON_HASH_H_
#define PS_COMMON_HASH_H_

#include <cstdint>

namespace ps {

// The splitmix64 finalizer: a bijective, well-mixed 64-bit to 64-bit map.
constexpr uint64_t Mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// splitmix64's step: Mix64(x + golden gamma). A fast, well-mixed hash.
constexpr uint64_t SplitMix64(uint64_t x) {
  return Mix64(x + 0x9E3779B97F4A7C15ULL);
}

// The virtual partition of a sparse key (PartitionMap.sparse_partitions);
// partitions must be >= 1.
constexpr uint32_t SparsePartition(uint64_t key, uint32_t partitions) {
  return static_cast<uint32_t>(Mix64(key) % partitions);
}

}  // namespace ps

#endif  // PS_COMMON_HASH_H_
