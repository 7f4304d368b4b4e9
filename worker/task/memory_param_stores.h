// ParamStores for tests: each task's parameters in its own memory, updated
// by plain SGD, so a task runs without parameter servers.
#ifndef PS_WORKER_TASK_MEMORY_PARAM_STORES_H_
#define PS_WORKER_TASK_MEMORY_PARAM_STORES_H_

#include <memory>
#include <random>
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
    return std::make_unique<DenseStore>(num_params);
  }
  absl::StatusOr<std::unique_ptr<SparseParamStore>> ConnectSparse(
      const v1::Task& task, const std::string& worker_id,
      const FlightsModel& model, const std::atomic<bool>* cancelled) override {
    absl::MutexLock lock(&mu_);
    ++connections_;
    return std::make_unique<InMemorySparseStore>(
        std::vector<float>(model.num_dense(), 0.0f),
        InMemorySparseStoreOptions{});
  }
  int connections() const {
    absl::MutexLock lock(&mu_);
    return connections_;
  }

 private:
  // Values start uniform in +-0.05 (seeded); pulls are never stale.
  class DenseStore : public ParamStore {
   public:
    explicit DenseStore(int64_t n) : values_(n) {
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
      return absl::OkStatus();
    }

   private:
    std::vector<float> values_;
  };

  mutable absl::Mutex mu_;
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_MEMORY_PARAM_STORES_H_
