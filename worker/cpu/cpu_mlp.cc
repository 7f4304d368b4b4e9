#include "worker/cpu/cpu_mlp.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "worker/cpu/cpu_dense_stack.h"

namespace ps::worker {
namespace {

template <typename T>
class CpuMlp final : public BasicModel<T> {
 public:
  CpuMlp(std::vector<int64_t> sizes, int64_t max_rows)
      : stack_(std::move(sizes), Head::kSoftmax, max_rows) {}

  int64_t num_params() const override { return stack_.num_params(); }

  absl::Status ForwardBackward(const T* params, const BasicBatch<T>& batch,
                               T* grads, BatchStats* stats) override {
    if (grads == nullptr) return absl::InvalidArgumentError("grads is null");
    if (absl::Status s = CheckArgs(params, batch, stats); !s.ok()) return s;
    stack_.Forward(params, batch.x, batch.rows);
    stack_.LossAndGradient(batch.y, batch.rows, stats);
    stack_.Backward(params, batch.x, batch.rows, grads, /*dx=*/nullptr);
    return absl::OkStatus();
  }

  absl::Status Evaluate(const T* params, const BasicBatch<T>& batch,
                        BatchStats* stats) override {
    if (absl::Status s = CheckArgs(params, batch, stats); !s.ok()) return s;
    stack_.Forward(params, batch.x, batch.rows);
    stack_.Loss(batch.y, batch.rows, stats);
    return absl::OkStatus();
  }

  absl::Status Logits(const T* params, const BasicBatch<T>& batch,
                      T* logits) override {
    if (params == nullptr || batch.x == nullptr || logits == nullptr) {
      return absl::InvalidArgumentError(
          "params, batch.x and logits must all be non-null");
    }
    if (absl::Status s = CheckShape(batch); !s.ok()) return s;
    const T* out = stack_.Forward(params, batch.x, batch.rows);
    std::copy_n(out, batch.rows * stack_.outputs(), logits);
    return absl::OkStatus();
  }

 private:
  absl::Status CheckArgs(const T* params, const BasicBatch<T>& batch,
                         const BatchStats* stats) const {
    if (params == nullptr || stats == nullptr || batch.x == nullptr ||
        batch.y == nullptr) {
      return absl::InvalidArgumentError(
          "params, stats, batch.x and batch.y must all be non-null");
    }
    if (absl::Status s = CheckShape(batch); !s.ok()) return s;
    return CheckLabels("batch.y", batch.y, batch.rows, Head::kSoftmax,
                       stack_.outputs());
  }

  absl::Status CheckShape(const BasicBatch<T>& batch) const {
    const int64_t inputs = stack_.layer_sizes().front();
    if (batch.dim != inputs) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "batch.dim is %d, expected layer_sizes[0] = %d", batch.dim, inputs));
    }
    return CheckBatchRows("batch.rows", batch.rows, stack_.max_rows());
  }

  CpuDenseStack<T> stack_;
};

}  // namespace

template <typename T>
absl::StatusOr<std::unique_ptr<BasicModel<T>>> CreateCpuMlp(
    std::vector<int64_t> layer_sizes, int64_t max_batch_rows) {
  if (absl::Status s =
          ValidateMlpShape(layer_sizes, Head::kSoftmax, max_batch_rows);
      !s.ok()) {
    return s;
  }
  // The caller's parameter and gradient buffers count too: they are what
  // would fail to allocate next.
  const double values = 2.0 * MlpParamCount(layer_sizes) +
                        MlpScratchCount(layer_sizes, max_batch_rows);
  if (absl::Status s = CheckFitsHostMemory(
          values * sizeof(T), "the MLP's parameters, gradients and scratch");
      !s.ok()) {
    return s;
  }
  return std::make_unique<CpuMlp<T>>(std::move(layer_sizes), max_batch_rows);
}

template absl::StatusOr<std::unique_ptr<BasicModel<float>>> CreateCpuMlp<float>(
    std::vector<int64_t>, int64_t);
template absl::StatusOr<std::unique_ptr<BasicModel<double>>>
    CreateCpuMlp<double>(std::vector<int64_t>, int64_t);

}  // namespace ps::worker
