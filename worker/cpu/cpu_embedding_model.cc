#include "worker/cpu/cpu_embedding_model.h"

#include <algorithm>
#include <vector>

#include "absl/status/status.h"
#include "worker/cpu/cpu_dense_stack.h"
#include "worker/cpu/cpu_kernels.h"

namespace ps::worker {
namespace {

template <typename T>
class CpuEmbeddingModel final : public BasicEmbeddingModel<T> {
 public:
  explicit CpuEmbeddingModel(const EmbeddingModelSpec& spec)
      : spec_(spec),
        stack_(EmbeddingDenseSizes(spec), spec.head, spec.max_batch_rows),
        x_(spec.max_batch_rows * spec.slots * spec.dim),
        dx_(x_.size()) {}

  const EmbeddingModelSpec& spec() const override { return spec_; }
  int64_t num_dense_params() const override { return stack_.num_params(); }

  absl::Status ForwardBackward(const T* dense_params,
                               const BasicEmbeddingBatch<T>& batch,
                               T* dense_grads, T* row_grads,
                               BatchStats* stats) override {
    if (absl::Status s = CheckEmbeddingTrainCall(spec_, dense_params, batch,
                                                 dense_grads, row_grads, stats);
        !s.ok()) {
      return s;
    }
    const int64_t pairs = batch.examples * spec_.slots;
    cpu::GatherRows(batch.rows, batch.row_index, pairs, spec_.dim, x_.data());
    const T* logits = Forward(dense_params, batch);
    stack_.LossAndGradient(batch.labels, batch.examples, stats);
    if (batch.logit_grads != nullptr) {
      LogisticLogitGradients(logits, batch.labels, batch.examples,
                             batch.logit_grads);
    }
    stack_.Backward(dense_params, x_.data(), batch.examples, dense_grads,
                    dx_.data());
    std::fill_n(row_grads, batch.num_rows * spec_.dim, T{0});
    cpu::ScatterAddRows(dx_.data(), batch.row_index, pairs, spec_.dim,
                        row_grads);
    return absl::OkStatus();
  }

  absl::Status Evaluate(const T* dense_params,
                        const BasicEmbeddingBatch<T>& batch, BatchStats* stats,
                        T* logits) override {
    if (absl::Status s = CheckEmbeddingCall(spec_, dense_params, batch, stats);
        !s.ok()) {
      return s;
    }
    cpu::GatherRows(batch.rows, batch.row_index, batch.examples * spec_.slots,
                    spec_.dim, x_.data());
    const T* out = Forward(dense_params, batch);
    stack_.Loss(batch.labels, batch.examples, stats);
    if (logits != nullptr) {
      std::copy_n(out, batch.examples * stack_.outputs(), logits);
    }
    return absl::OkStatus();
  }

 private:
  // The stack on the gathered x_, plus the batch's logit offset, added in
  // place where the stack's loss reads the logits.
  const T* Forward(const T* dense_params, const BasicEmbeddingBatch<T>& batch) {
    stack_.Forward(dense_params, x_.data(), batch.examples);
    T* logits = stack_.mutable_logits();
    if (batch.logit_offset != nullptr) {
      for (int64_t e = 0; e < batch.examples; ++e) {
        logits[e] += batch.logit_offset[e];
      }
    }
    return logits;
  }

  EmbeddingModelSpec spec_;
  CpuDenseStack<T> stack_;
  std::vector<T> x_;   // Gathered embeddings: examples x (slots * dim).
  std::vector<T> dx_;  // Their gradient.
};

}  // namespace

template <typename T>
absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<T>>> CreateCpuEmbeddingModel(
    const EmbeddingModelSpec& spec) {
  if (absl::Status s = ValidateEmbeddingSpec(spec); !s.ok()) return s;
  const std::vector<int64_t> sizes = EmbeddingDenseSizes(spec);
  const double values = 2.0 * MlpParamCount(sizes) +
                        MlpScratchCount(sizes, spec.max_batch_rows) +
                        2.0 * spec.max_batch_rows * spec.slots * spec.dim;
  if (absl::Status s =
          CheckFitsHostMemory(values * sizeof(T),
                              "the embedding model's dense parameters, "
                              "gradients and scratch");
      !s.ok()) {
    return s;
  }
  return std::make_unique<CpuEmbeddingModel<T>>(spec);
}

template absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<float>>>
CreateCpuEmbeddingModel<float>(const EmbeddingModelSpec&);
template absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<double>>>
CreateCpuEmbeddingModel<double>(const EmbeddingModelSpec&);

}  // namespace ps::worker
