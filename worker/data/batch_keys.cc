#include "worker/data/batch_keys.h"

#include <algorithm>

#include "absl/base/internal/raw_logging.h"

namespace ps::worker {

BatchKeys::BatchKeys(int64_t max_keys) : max_keys_(max_keys) {
  ABSL_RAW_CHECK(max_keys >= 1, "BatchKeys needs room for at least 1 key");
  int bits = 1;
  while ((int64_t{1} << bits) < 2 * max_keys) ++bits;
  shift_ = 64 - bits;
  slots_.resize(size_t{1} << bits);
  keys_.reserve(max_keys);
}

void BatchKeys::Clear() {
  keys_.clear();
  if (++generation_ == 0) {  // Wrapped: stale stamps could match again.
    std::fill(slots_.begin(), slots_.end(), Slot());
    generation_ = 1;
  }
}

int32_t BatchKeys::Add(Slot& slot, uint64_t key) {
  ABSL_RAW_CHECK(size() < max_keys_,
                 "more distinct keys in a batch than BatchKeys holds");
  slot = Slot{key, generation_, static_cast<int32_t>(keys_.size())};
  keys_.push_back(key);
  return slot.index;
}

}  // namespace ps::worker
