// One contiguous range [begin, end) of a dense table, with its optimizer state.
// Reads take a shared lock, updates an exclusive one, so concurrent pulls
// proceed in parallel and never see a half-applied update. Thread-safe.
#ifndef PS_SERVER_DENSE_SHARD_H_
#define PS_SERVER_DENSE_SHARD_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "proto/ps/v1/ps.pb.h"
#include "server/update_rule.h"

namespace ps::server {

class DenseShard {
 public:
  // `def` must have passed validation; [begin, end) within [0, def.size()).
  DenseShard(const v1::TableDef& def, int64_t begin, int64_t end,
             std::unique_ptr<UpdateRule> rule);

  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }
  bool Contains(int64_t offset, int64_t count) const {
    return offset >= begin_ && count >= 0 && offset + count <= end_;
  }
  // Bytes of values and optimizer state.
  int64_t bytes() const;

  // Copies values [offset, offset+count) (global indices, must be contained).
  void Read(int64_t offset, int64_t count, float* out) const;
  // Applies the update rule with `grad` to [offset, offset+count).
  void Apply(int64_t offset, int64_t count, const float* grad);

 private:
  const int64_t begin_, end_;
  const std::unique_ptr<UpdateRule> rule_;
  mutable absl::Mutex mu_;
  std::vector<float> values_ ABSL_GUARDED_BY(mu_);
  // StateFloats() planes of (end - begin) floats each, back to back.
  std::vector<float> state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::server

#endif  // PS_SERVER_DENSE_SHARD_H_
