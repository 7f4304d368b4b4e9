#include "server/dense_shard.h"

#include <cstring>

#include "absl/base/internal/raw_logging.h"
#include "server/initializer.h"

namespace ps::server {

DenseShard::DenseShard(const v1::TableDef& def, int64_t begin, int64_t end,
                       std::unique_ptr<UpdateRule> rule)
    : begin_(begin),
      end_(end),
      rule_(std::move(rule)),
      stripes_(
          new absl::Mutex[(end - begin + kStripeValues - 1) / kStripeValues]) {
  ABSL_RAW_CHECK(rule_->StateFloats() <= kMaxStatePlanes,
                 "update rule keeps more state planes than kMaxStatePlanes");
  // Not shared yet: no lock needed.
  values_.resize(end - begin);
  FillInitial(def.init(), begin, end - begin, values_.data());
  state_.assign((end - begin) * rule_->StateFloats(), 0.0f);
}

DenseShard::RangeLock::RangeLock(const DenseShard& shard, int64_t offset,
                                 int64_t count, Access access)
    : first_(shard.stripes_.get() + (offset - shard.begin_) / kStripeValues),
      last_(count <= 0
                ? first_
                : shard.stripes_.get() +
                      (offset + count - 1 - shard.begin_) / kStripeValues + 1),
      access_(access) {
  for (absl::Mutex* m = first_; m != last_; ++m) {
    if (access_ == Access::kWrite) {
      m->Lock();
    } else {
      m->ReaderLock();
    }
  }
}

DenseShard::RangeLock::~RangeLock() {
  for (absl::Mutex* m = first_; m != last_; ++m) {
    if (access_ == Access::kWrite) {
      m->Unlock();
    } else {
      m->ReaderUnlock();
    }
  }
}

int64_t DenseShard::bytes() const {
  // The sizes never change after construction.
  return static_cast<int64_t>((values_.size() + state_.size()) * sizeof(float));
}

void DenseShard::Read(int64_t offset, int64_t count, void* out) const {
  RangeLock lock(*this, offset, count, Access::kRead);
  std::memcpy(out, values_.data() + (offset - begin_), count * sizeof(float));
}

void DenseShard::Apply(int64_t offset, int64_t count, const float* grad) {
  RangeLock lock(*this, offset, count, Access::kWrite);
  ApplyLocked(offset, count, grad);
}

void DenseShard::Apply(int64_t offset, int64_t count, const ValuePieces& grad,
                       int64_t first) {
  RangeLock lock(*this, offset, count, Access::kWrite);
  grad.ForEachRun(first, count, [&](int64_t at, const float* g, int64_t n) {
    ApplyLocked(offset + at, n, g);
  });
}

void DenseShard::ApplyLocked(int64_t offset, int64_t count, const float* grad) {
  const int64_t at = offset - begin_;
  const int64_t size = end_ - begin_;
  float* planes[kMaxStatePlanes];
  for (int k = 0; k < rule_->StateFloats(); ++k) {
    planes[k] = state_.data() + k * size + at;
  }
  rule_->Apply(values_.data() + at, planes, grad, count);
}

}  // namespace ps::server
