// The CUDA backend's own kernels, the device twins of cpu_kernels.h: bias and
// ReLU, an elementwise add, the bias gradient, the two loss heads, and the
// embedding gather and scatter-add. GEMMs go to cuBLAS (gpu_runtime.h). Each
// function queues one kernel on `stream` over device pointers and returns the
// launch's status; errors inside the kernel surface at the next
// synchronisation. T is float or double. Nothing here checks shapes or indices:
// callers validate them on the host first (CheckEmbeddingBatch, CheckLabels).

#ifndef PS_WORKER_CUDA_GPU_KERNELS_H_
#define PS_WORKER_CUDA_GPU_KERNELS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "worker/cuda/gpu_runtime.h"

namespace ps::worker::gpu {

enum class Activation { kNone, kRelu };

// out[r][c] = act(out[r][c] + bias[c]) for a rows x cols row-major out.
template <typename T>
absl::Status AddBiasActivation(const Stream& stream, const T* bias,
                               int64_t rows, int64_t cols,
                               Activation activation, T* out);

// y[i] += x[i] for i in [0, n): e.g. a per-example offset onto the logits.
template <typename T>
absl::Status AddTo(const Stream& stream, const T* x, int64_t n, T* y);

// Zeroes grad wherever the ReLU's output (hence its input) was <= 0.
template <typename T>
absl::Status ReluBackward(const Stream& stream, const T* activations, int64_t n,
                          T* grad);

// sums[c] = sum over rows of x[r][c]: the bias gradient.
template <typename T>
absl::Status ColumnSums(const Stream& stream, const T* x, int64_t rows,
                        int64_t cols, T* sums);

// Per row: row_loss = softmax cross-entropy, row_correct = (first argmax ==
// label); when dlogits is non-null it receives d(mean loss)/d(logits).
template <typename T>
absl::Status SoftmaxCrossEntropy(const Stream& stream, const T* logits,
                                 const int32_t* labels, int64_t rows,
                                 int64_t classes, T* dlogits, T* row_loss,
                                 int32_t* row_correct);

// The same for one logit per row and labels 0/1 (sigmoid cross-entropy).
template <typename T>
absl::Status LogisticLoss(const Stream& stream, const T* logits,
                          const int32_t* labels, int64_t rows, T* dlogits,
                          T* row_loss, int32_t* row_correct);

// out[j * dim .. +dim) = table[index[j] * dim .. +dim) for j in [0, n).
template <typename T>
absl::Status GatherRows(const Stream& stream, const T* table,
                        const int32_t* index, int64_t n, int64_t dim, T* out);

// table_grad[index[j]] += grad[j] for j in [0, n), atomically, so repeated
// rows sum (in no fixed order). Callers zero table_grad first.
template <typename T>
absl::Status ScatterAddRows(const Stream& stream, const T* grad,
                            const int32_t* index, int64_t n, int64_t dim,
                            T* table_grad);

}  // namespace ps::worker::gpu

#endif  // PS_WORKER_CUDA_GPU_KERNELS_H_
