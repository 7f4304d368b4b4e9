// The dense layers and loss head that the CPU models share: CpuMlp runs it
// on a batch's features, CpuEmbeddingModel on gathered embeddings (and then
// also needs the gradient with respect to the stack's input).

#ifndef PS_WORKER_CPU_CPU_DENSE_STACK_H_
#define PS_WORKER_CPU_CPU_DENSE_STACK_H_

#include <cstdint>
#include <vector>

#include "worker/model/mlp_spec.h"
#include "worker/model/model.h"

namespace ps::worker {

// Not thread-safe; holds the scratch for one batch at a time. The layout of
// params is MlpSpec's (see mlp_spec.h). No method checks its arguments:
// callers validate the shape with ValidateMlpShape before constructing and
// the batch with CheckBatchRows / CheckLabels before each call.
template <typename T>
class CpuDenseStack {
 public:
  // Allocates all scratch for batches of up to max_rows rows.
  CpuDenseStack(std::vector<int64_t> layer_sizes, Head head, int64_t max_rows);

  const std::vector<int64_t>& layer_sizes() const { return sizes_; }
  int64_t num_params() const { return num_params_; }
  int64_t max_rows() const { return max_rows_; }
  int64_t outputs() const { return sizes_.back(); }

  // Runs every layer on x (rows x layer_sizes[0]) and returns the logits
  // (rows x outputs()), valid until the next call.
  const T* Forward(const T* params, const T* x, int64_t rows);

  // The last Forward's logits, writable: a caller may shift them (a wide
  // part's logit, say) before Loss or LossAndGradient, which read them from
  // here. Backward never reads the output layer's values (that layer has no
  // activation), so a shift changes the loss and its gradient only.
  T* mutable_logits() { return activations_.back().data(); }

  // Adds the loss of the last Forward's rows to *stats.
  void Loss(const int32_t* labels, int64_t rows, BatchStats* stats);

  // Loss, and keeps d(mean loss)/d(logits) for Backward.
  void LossAndGradient(const int32_t* labels, int64_t rows, BatchStats* stats);

  // Back-propagates the gradient LossAndGradient kept through the layers of
  // the last Forward (which must have seen the same params and x): writes
  // d(mean loss)/d(params) to grads and, when dx is non-null, d(mean
  // loss)/d(x) to dx (rows x layer_sizes[0]).
  void Backward(const T* params, const T* x, int64_t rows, T* grads, T* dx);

 private:
  int num_layers() const { return static_cast<int>(sizes_.size()) - 1; }

  std::vector<int64_t> sizes_;
  Head head_;
  int64_t max_rows_;
  int64_t num_params_;
  std::vector<int64_t> offsets_;  // Start of layer l's weight in params.
  std::vector<std::vector<T>> activations_;  // Layer l's output.
  std::vector<T> delta_;       // d(loss)/d(current layer's output).
  std::vector<T> next_delta_;  // d(loss)/d(current layer's input).
};

extern template class CpuDenseStack<float>;
extern template class CpuDenseStack<double>;

}  // namespace ps::worker

#endif  // PS_WORKER_CPU_CPU_DENSE_STACK_H_
