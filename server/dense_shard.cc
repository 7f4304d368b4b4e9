#include "server/dense_shard.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>

#include "absl/base/internal/raw_logging.h"
#include "server/initializer.h"

namespace ps::server {

namespace {

// Calls fn(stripe, first, n) for each stripe that values [at, at + count)
// (indices from begin) touch: values [first, first + n) of that stripe.
template <typename Fn>
void ForEachStripe(int64_t at, int64_t count, Fn fn) {
  while (count > 0) {
    const int64_t stripe = at / DenseShard::kStripeValues;
    const int64_t first = at % DenseShard::kStripeValues;
    const int64_t n = std::min(count, DenseShard::kStripeValues - first);
    fn(stripe, first, n);
    at += n;
    count -= n;
  }
}

}  // namespace

DenseShard::DenseShard(const v1::TableDef& def, int64_t begin, int64_t end,
                       std::unique_ptr<UpdateRule> rule)
    : begin_(begin),
      end_(end),
      init_(def.init()),
      optimizer_(def.optimizer()),
      rule_(std::move(rule)),
      stripes_(new absl::Mutex[Stripes(begin, end)]) {
  ABSL_RAW_CHECK(rule_->StateFloats() <= kMaxStatePlanes,
                 "update rule keeps more state planes than kMaxStatePlanes");
  // Not shared yet: no lock needed.
  blocks_.reserve(Stripes(begin, end));
  for (int64_t i = 0; i < Stripes(begin, end); ++i) {
    const int64_t n = StripeValues(i);
    blocks_.emplace_back(new float[n]);
    FillInitial(def.init(), begin + i * kStripeValues, n, blocks_.back().get());
  }
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
  return (end_ - begin_ + static_cast<int64_t>(state_.size())) *
         int64_t{sizeof(float)};
}

int64_t DenseShard::StripeValues(int64_t stripe) const {
  return std::min(kStripeValues, end_ - begin_ - stripe * kStripeValues);
}

void DenseShard::Read(int64_t offset, int64_t count, void* out) const {
  RangeLock lock(*this, offset, count, Access::kRead);
  char* to = static_cast<char*>(out);
  ForEachStripe(
      offset - begin_, count, [&](int64_t stripe, int64_t first, int64_t n) {
        std::memcpy(to, blocks_[stripe].get() + first, n * sizeof(float));
        to += n * sizeof(float);
      });
}

void DenseShard::Share(int64_t offset, int64_t count,
                       std::vector<SharedValues>* out) const {
  RangeLock lock(*this, offset, count, Access::kRead);
  ForEachStripe(offset - begin_, count,
                [&](int64_t stripe, int64_t first, int64_t n) {
                  const std::shared_ptr<float[]>& block = blocks_[stripe];
                  // Aliasing: owns the block, points at the first value.
                  out->push_back(SharedValues{
                      std::shared_ptr<const float>(block, block.get() + first),
                      n});
                });
}

float* DenseShard::WritableBlock(int64_t stripe) {
  std::shared_ptr<float[]>& block = blocks_[stripe];
  // No SharedValues can be taken while the stripe is held for writing, so
  // the count only falls meanwhile; at worst this copies a block whose last
  // reference is being dropped.
  if (block.use_count() > 1) {
    const int64_t n = StripeValues(stripe);
    // An update must not fail halfway: without memory for the copy, the
    // block is written in place, and a response still being sent may show
    // part of this update.
    if (float* fresh = new (std::nothrow) float[n]; fresh != nullptr) {
      std::memcpy(fresh, block.get(), n * sizeof(float));
      block.reset(fresh);
      return fresh;
    }
    ABSL_RAW_LOG(WARNING,
                 "no memory to copy a shared block of %lld values; "
                 "updating it in place",
                 static_cast<long long>(n));
  }
  // use_count() loads the count without ordering. Every release of a
  // reference is a release operation (an acq_rel decrement in libstdc++,
  // the toolchain here, as in libc++ and MSVC's library), so this fence
  // puts the writes that follow after every read the holders made (a
  // socket write, for a response).
  std::atomic_thread_fence(std::memory_order_acquire);
  return block.get();
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

int64_t DenseShard::state_floats() const {
  return (1 + int64_t{rule_->StateFloats()}) * (end_ - begin_);
}

void DenseShard::ExportState(void* out) const {
  RangeLock lock(*this, begin_, end_ - begin_, Access::kRead);
  char* to = static_cast<char*>(out);
  ForEachStripe(
      0, end_ - begin_, [&](int64_t stripe, int64_t first, int64_t n) {
        std::memcpy(to, blocks_[stripe].get() + first, n * sizeof(float));
        to += n * sizeof(float);
      });
  if (!state_.empty()) {
    std::memcpy(to, state_.data(), state_.size() * sizeof(float));
  }
}

void DenseShard::RestoreState(const void* in) {
  RangeLock lock(*this, begin_, end_ - begin_, Access::kWrite);
  const char* from = static_cast<const char*>(in);
  ForEachStripe(
      0, end_ - begin_, [&](int64_t stripe, int64_t first, int64_t n) {
        std::memcpy(WritableBlock(stripe) + first, from, n * sizeof(float));
        from += n * sizeof(float);
      });
  if (!state_.empty()) {
    std::memcpy(state_.data(), from, state_.size() * sizeof(float));
  }
}

bool DenseShard::ReadState(
    absl::FunctionRef<bool(void* to, size_t bytes)> read) {
  constexpr size_t kPiece = size_t{1} << 20;
  RangeLock lock(*this, begin_, end_ - begin_, Access::kWrite);
  bool ok = true;
  ForEachStripe(0, end_ - begin_,
                [&](int64_t stripe, int64_t first, int64_t n) {
                  // A stripe's block is a MiB (kStripeValues floats).
                  if (ok) {
                    ok = read(WritableBlock(stripe) + first, n * sizeof(float));
                  }
                });
  char* to = reinterpret_cast<char*>(state_.data());
  for (size_t left = state_.size() * sizeof(float); ok && left > 0;) {
    const size_t n = std::min(left, kPiece);
    ok = read(to, n);
    to += n;
    left -= n;
  }
  return ok;
}

void DenseShard::ResetState() {
  RangeLock lock(*this, begin_, end_ - begin_, Access::kWrite);
  ForEachStripe(0, end_ - begin_,
                [&](int64_t stripe, int64_t first, int64_t n) {
                  FillInitial(init_, begin_ + stripe * kStripeValues + first,
                              n, WritableBlock(stripe) + first);
                });
  std::fill(state_.begin(), state_.end(), 0.0f);
}

void DenseShard::ApplyLocked(int64_t offset, int64_t count, const float* grad) {
  const int64_t size = end_ - begin_;
  ForEachStripe(offset - begin_, count,
                [&](int64_t stripe, int64_t first, int64_t n) {
                  const int64_t at = stripe * kStripeValues + first;
                  float* planes[kMaxStatePlanes];
                  for (int k = 0; k < rule_->StateFloats(); ++k) {
                    planes[k] = state_.data() + k * size + at;
                  }
                  // Each value is updated on its own (update_rule.h), so
                  // the rule may see the range stripe by stripe.
                  rule_->Apply(WritableBlock(stripe) + first, planes, grad, n);
                  grad += n;
                });
}

}  // namespace ps::server
