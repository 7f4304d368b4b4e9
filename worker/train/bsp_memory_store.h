// A BSP parameter store in memory for tests of the round-based trainers:
// n ranks share one table updated by plain SGD on the mean of the clock's
// gradients, summed in rank order (deterministic), as the servers do under
// BSP. Thread-safe; a pull at clock c waits until clock c - 1 is applied.
#ifndef PS_WORKER_TRAIN_BSP_MEMORY_STORE_H_
#define PS_WORKER_TRAIN_BSP_MEMORY_STORE_H_

#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "worker/train/trainer.h"

namespace ps::worker {

class BspMemoryTable {
 public:
  BspMemoryTable(std::vector<float> initial, int ranks, float lr)
      : values_(std::move(initial)),
        pending_(ranks, std::vector<float>(values_.size())),
        lr_(lr) {}

  // The store rank `rank` trains through; lives as long as this table.
  std::unique_ptr<ParamStore> Rank(int rank) {
    return std::make_unique<RankStore>(this, rank);
  }
  std::vector<float> values() const {
    absl::MutexLock lock(&mu_);
    return values_;
  }

 private:
  class RankStore : public ParamStore {
   public:
    RankStore(BspMemoryTable* table, int rank) : table_(table), rank_(rank) {}
    absl::StatusOr<int64_t> Pull(float* params, int64_t clock) override {
      return table_->Pull(params, clock);
    }
    absl::Status Push(const float* grads, int64_t clock) override {
      return table_->Push(rank_, grads, clock);
    }

   private:
    BspMemoryTable* const table_;
    const int rank_;
  };

  absl::StatusOr<int64_t> Pull(float* params, int64_t clock) {
    absl::MutexLock lock(&mu_);
    auto applied = [this, clock] { return applied_ >= clock; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&applied), absl::Seconds(60))) {
      return absl::DeadlineExceededError("BSP pull waited 60 s");
    }
    std::copy(values_.begin(), values_.end(), params);
    return 0;
  }

  absl::Status Push(int rank, const float* grads, int64_t clock) {
    absl::MutexLock lock(&mu_);
    if (clock != applied_) {
      return absl::FailedPreconditionError("push for a clock not open");
    }
    std::copy_n(grads, values_.size(), pending_[rank].begin());
    if (++arrived_ < static_cast<int>(pending_.size())) return absl::OkStatus();
    const float scale = 1.0f / pending_.size();
    for (size_t i = 0; i < values_.size(); ++i) {
      float sum = 0;
      for (const std::vector<float>& g : pending_) sum += g[i];
      values_[i] -= lr_ * (sum * scale);
    }
    arrived_ = 0;
    ++applied_;
    return absl::OkStatus();
  }

  mutable absl::Mutex mu_;
  std::vector<float> values_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<float>> pending_ ABSL_GUARDED_BY(mu_);  // by rank
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t applied_ ABSL_GUARDED_BY(mu_) = 0;  // clocks applied
  const float lr_;
};

}  // namespace ps::worker

#endif  // PS_WORKER_TRAIN_BSP_MEMORY_STORE_H_
