// ParamStores for tests: each task's parameters in its own memory, updated
// by plain SGD, so a task runs without parameter servers.
#ifndef PS_WORKER_TASK_MEMORY_PARAM_STORES_H_
#define PS_WORKER_TASK_MEMORY_PARAM_STORES_H_

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "worker/task/param_stores.h"
#include "worker/train/in_memory_sparse_store.h"

namespace ps::worker {

// Thread-safe; the stores it returns are not (one task thread each).
class MemoryParamStores : public ParamStores {
 public:
  absl::StatusOr<std::unique_ptr<ParamStore>> ConnectDense(
      const v1::Task& task, const std::string& worker_id, int64_t num_params,
      const std::atomic<bool>* cancelled) override {
    absl::MutexLock lock(&mu_);
    ++connections_;
    worker_ids_.push_back(worker_id);
    return std::make_unique<DenseStore>(num_params, this);
  }
  absl::StatusOr<std::unique_ptr<SparseParamStore>> ConnectSparse(
      const v1::Task& task, const std::string& worker_id,
      const FlightsModel& model, const std::atomic<bool>* cancelled) override {
    absl::MutexLock lock(&mu_);
    ++connections_;
    worker_ids_.push_back(worker_id);
    return std::make_unique<InMemorySparseStore>(
        std::vector<float>(model.num_dense(), 0.0f),
        InMemorySparseStoreOptions{});
  }
  int connections() const {
    absl::MutexLock lock(&mu_);
    return connections_;
  }
  // The worker id of each connection, in order.
  std::vector<std::string> worker_ids() const {
    absl::MutexLock lock(&mu_);
    return worker_ids_;
  }
  // The clock of every push to a dense store, in order.
  std::vector<int64_t> pushed_clocks() const {
    absl::MutexLock lock(&mu_);
    return pushed_clocks_;
  }

 private:
  // Values start uniform in +-0.05 (seeded); pulls are never stale.
  class DenseStore : public ParamStore {
   public:
    DenseStore(int64_t n, MemoryParamStores* parent)
        : values_(n), parent_(parent) {
      std::mt19937 rng(1);
      std::uniform_real_distribution<float> init(-0.05f, 0.05f);
      for (float& v : values_) v = init(rng);
    }
    absl::StatusOr<int64_t> Pull(float* params, int64_t clock) override {
      std::copy(values_.begin(), values_.end(), params);
      return 0;
    }
    absl::Status Push(const float* grads, int64_t clock) override {
      for (size_t i = 0; i < values_.size(); ++i) values_[i] -= 0.1f * grads[i];
      absl::MutexLock lock(&parent_->mu_);
      parent_->pushed_clocks_.push_back(clock);
      return absl::OkStatus();
    }

   private:
    std::vector<float> values_;
    MemoryParamStores* const parent_;
  };

  mutable absl::Mutex mu_;
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> worker_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> pushed_clocks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_MEMORY_PARAM_STORES_H_
