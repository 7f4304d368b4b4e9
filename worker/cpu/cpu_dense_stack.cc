#include "worker/cpu/cpu_dense_stack.h"

#include <algorithm>
#include <utility>

#include "worker/cpu/cpu_kernels.h"

namespace ps::worker {

using cpu::Transpose;

template <typename T>
CpuDenseStack<T>::CpuDenseStack(std::vector<int64_t> layer_sizes, Head head,
                                int64_t max_rows)
    : sizes_(std::move(layer_sizes)),
      head_(head),
      max_rows_(max_rows),
      num_params_(MlpParamCount(sizes_)),
      offsets_(MlpLayerOffsets(sizes_)) {
  int64_t widest = 0;
  for (int l = 0; l < num_layers(); ++l) {
    activations_.emplace_back(max_rows * sizes_[l + 1]);
    widest = std::max(widest, sizes_[l + 1]);
  }
  delta_.resize(max_rows * widest);
  next_delta_.resize(max_rows * widest);
}

// Each layer starts from its bias broadcast over the rows and lets the GEMM
// add x * W to it (beta = 1): one pass over the output instead of two.
template <typename T>
const T* CpuDenseStack<T>::Forward(const T* params, const T* x, int64_t rows) {
  const T* in = x;
  for (int l = 0; l < num_layers(); ++l) {
    const int64_t n_in = sizes_[l];
    const int64_t n_out = sizes_[l + 1];
    const T* weight = params + offsets_[l];
    T* out = activations_[l].data();
    cpu::BroadcastRows(weight + n_in * n_out, rows, n_out, out);
    cpu::Gemm(Transpose::kNo, Transpose::kNo, rows, n_out, n_in, in, weight,
              T{1}, out);
    if (l + 1 < num_layers()) cpu::Relu(rows * n_out, out);
    in = out;
  }
  return in;
}

template <typename T>
void CpuDenseStack<T>::Loss(const int32_t* labels, int64_t rows,
                            BatchStats* stats) {
  const T* logits = activations_.back().data();
  if (head_ == Head::kLogistic) {
    cpu::LogisticLoss<T>(logits, labels, rows, nullptr, stats);
  } else {
    cpu::SoftmaxCrossEntropy<T>(logits, labels, rows, outputs(), nullptr,
                                stats);
  }
}

template <typename T>
void CpuDenseStack<T>::LossAndGradient(const int32_t* labels, int64_t rows,
                                       BatchStats* stats) {
  const T* logits = activations_.back().data();
  if (head_ == Head::kLogistic) {
    cpu::LogisticLoss(logits, labels, rows, delta_.data(), stats);
  } else {
    cpu::SoftmaxCrossEntropy(logits, labels, rows, outputs(), delta_.data(),
                             stats);
  }
}

template <typename T>
void CpuDenseStack<T>::Backward(const T* params, const T* x, int64_t rows,
                                T* grads, T* dx) {
  T* dy = delta_.data();
  T* dz = next_delta_.data();
  for (int l = num_layers() - 1; l >= 0; --l) {
    const int64_t n_in = sizes_[l];
    const int64_t n_out = sizes_[l + 1];
    const T* in = l == 0 ? x : activations_[l - 1].data();
    T* grad_weight = grads + offsets_[l];
    cpu::Gemm(Transpose::kYes, Transpose::kNo, n_in, n_out, rows, in, dy, T{0},
              grad_weight);
    cpu::ColumnSums(dy, rows, n_out, grad_weight + n_in * n_out);
    // Layer 0's input gradient is only wanted when x is itself trained.
    T* out = l > 0 ? dz : dx;
    if (out == nullptr) break;
    cpu::Gemm(Transpose::kNo, Transpose::kYes, rows, n_in, n_out, dy,
              params + offsets_[l], T{0}, out);
    if (l == 0) break;
    cpu::ReluBackward(in, rows * n_in, dz);
    std::swap(dy, dz);
  }
}

template class CpuDenseStack<float>;
template class CpuDenseStack<double>;

}  // namespace ps::worker
