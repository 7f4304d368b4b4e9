#include "server/dense_shard.h"

#include <cstring>

#include "absl/base/internal/raw_logging.h"

#include "server/initializer.h"

namespace ps::server {

DenseShard::DenseShard(const v1::TableDef& def, int64_t begin, int64_t end,
                       std::unique_ptr<UpdateRule> rule)
    : begin_(begin), end_(end), rule_(std::move(rule)) {
  ABSL_RAW_CHECK(rule_->StateFloats() <= kMaxStatePlanes,
                 "update rule keeps more state planes than kMaxStatePlanes");
  absl::MutexLock lock(&mu_);
  values_.resize(end - begin);
  FillInitial(def.init(), begin, end - begin, values_.data());
  state_.assign((end - begin) * rule_->StateFloats(), 0.0f);
}

int64_t DenseShard::bytes() const {
  absl::ReaderMutexLock lock(&mu_);
  return static_cast<int64_t>((values_.size() + state_.size()) * sizeof(float));
}

void DenseShard::Read(int64_t offset, int64_t count, float* out) const {
  absl::ReaderMutexLock lock(&mu_);
  std::memcpy(out, values_.data() + (offset - begin_), count * sizeof(float));
}

void DenseShard::Apply(int64_t offset, int64_t count, const float* grad) {
  absl::MutexLock lock(&mu_);
  const int64_t at = offset - begin_;
  const int64_t size = end_ - begin_;
  float* planes[kMaxStatePlanes];
  for (int k = 0; k < rule_->StateFloats(); ++k) {
    planes[k] = state_.data() + k * size + at;
  }
  rule_->Apply(values_.data() + at, planes, grad, count);
}

}  // namespace ps::server
