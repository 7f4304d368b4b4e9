// The CPU backend's layers as free functions over row-major host arrays,
// templated on the scalar type: float for training, double for the gradient
// checks. Matrix products go to OpenBLAS (sgemm / dgemm); the rest are plain
// loops the compiler vectorises. No function allocates or checks its
// arguments: callers (CpuDenseStack, CpuEmbeddingModel) validate shapes once.

#ifndef PS_WORKER_CPU_CPU_KERNELS_H_
#define PS_WORKER_CPU_CPU_KERNELS_H_

#include <cstdint>

#include "worker/model/model.h"

namespace ps::worker::cpu {

enum class Transpose { kNo, kYes };

// C (m x n) = op(A) * op(B) + beta * C, where op(A) is m x k and op(B) is
// k x n; A and B are stored untransposed as row-major matrices. Dimensions
// must fit in an int (ValidateMlpShape bounds them).
template <typename T>
void Gemm(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k,
          const T* a, const T* b, T beta, T* c);

// Writes `row` (cols values) into each of the `rows` rows of out: the bias
// a following Gemm with beta = 1 adds its product to.
template <typename T>
void BroadcastRows(const T* row, int64_t rows, int64_t cols, T* out);

// x = max(x, 0) elementwise.
template <typename T>
void Relu(int64_t n, T* x);

// Zeroes grad wherever the ReLU's output (hence its input) was <= 0.
template <typename T>
void ReluBackward(const T* activations, int64_t n, T* grad);

// sums[c] = sum over rows of x[r][c]: the bias gradient.
template <typename T>
void ColumnSums(const T* x, int64_t rows, int64_t cols, T* sums);

// Adds each row's softmax cross-entropy and correctness to *stats. When
// dlogits is non-null it receives d(mean loss)/d(logits). Subtracting the
// row max before exp keeps large logits from overflowing.
template <typename T>
void SoftmaxCrossEntropy(const T* logits, const int32_t* labels, int64_t rows,
                         int64_t classes, T* dlogits, BatchStats* stats);

// The same for one logit per row and labels 0/1: loss
// softplus(z) - y * z, computed without overflow; gradient
// (sigmoid(z) - y) / rows.
template <typename T>
void LogisticLoss(const T* logits, const int32_t* labels, int64_t rows,
                  T* dlogits, BatchStats* stats);

// Embedding gather: for each of the n = examples * slots (example, slot)
// pairs j, out[j * dim .. +dim) = table[index[j] * dim .. +dim). With the
// pairs example-major this lays each example's slots side by side.
template <typename T>
void GatherRows(const T* table, const int32_t* index, int64_t n, int64_t dim,
                T* out);

// The gather's backward pass: table_grad[index[j]] += grad[j] for each pair,
// so a row used by several pairs receives the sum. Adds to table_grad;
// callers zero it first.
template <typename T>
void ScatterAddRows(const T* grad, const int32_t* index, int64_t n, int64_t dim,
                    T* table_grad);

}  // namespace ps::worker::cpu

#endif  // PS_WORKER_CPU_CPU_KERNELS_H_
