#include "worker/cpu/cpu_kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

namespace ps::worker::cpu {
namespace {

CBLAS_TRANSPOSE ToCblas(Transpose t) {
  return t == Transpose::kNo ? CblasNoTrans : CblasTrans;
}

void BlasGemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
              const float* a, int lda, const float* b, int ldb, float beta,
              float* c) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, n);
}

void BlasGemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
              const double* a, int lda, const double* b, int ldb, double beta,
              double* c) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, n);
}

}  // namespace

template <typename T>
void Gemm(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k,
          const T* a, const T* b, T beta, T* c) {
  const int64_t lda = trans_a == Transpose::kNo ? k : m;
  const int64_t ldb = trans_b == Transpose::kNo ? n : k;
  BlasGemm(ToCblas(trans_a), ToCblas(trans_b), m, n, k, a, lda, b, ldb, beta,
           c);
}

template <typename T>
void BroadcastRows(const T* row, int64_t rows, int64_t cols, T* out) {
  for (int64_t r = 0; r < rows; ++r) std::copy_n(row, cols, out + r * cols);
}

template <typename T>
void Relu(int64_t n, T* x) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], T{0});
}

template <typename T>
void ReluBackward(const T* activations, int64_t n, T* grad) {
  for (int64_t i = 0; i < n; ++i) {
    grad[i] = activations[i] > T{0} ? grad[i] : T{0};
  }
}

template <typename T>
void ColumnSums(const T* x, int64_t rows, int64_t cols, T* sums) {
  std::fill(sums, sums + cols, T{0});
  for (int64_t r = 0; r < rows; ++r, x += cols) {
    for (int64_t c = 0; c < cols; ++c) sums[c] += x[c];
  }
}

template <typename T>
void SoftmaxCrossEntropy(const T* logits, const int32_t* labels, int64_t rows,
                         int64_t classes, T* dlogits, BatchStats* stats) {
  const T inv_rows = T{1} / static_cast<T>(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const T* z = logits + r * classes;
    const int64_t argmax = std::max_element(z, z + classes) - z;
    const T max = z[argmax];
    T sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(z[c] - max);
    stats->loss_sum += std::log(sum) - (z[labels[r]] - max);
    stats->correct += argmax == labels[r];
    if (dlogits == nullptr) continue;
    T* d = dlogits + r * classes;
    for (int64_t c = 0; c < classes; ++c) {
      d[c] = std::exp(z[c] - max) / sum * inv_rows;
    }
    d[labels[r]] -= inv_rows;
  }
  stats->count += rows;
}

template <typename T>
void LogisticLoss(const T* logits, const int32_t* labels, int64_t rows,
                  T* dlogits, BatchStats* stats) {
  const T inv_rows = T{1} / static_cast<T>(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const T z = logits[r];
    const T y = static_cast<T>(labels[r]);
    // softplus(z) - y z, with softplus(z) = max(z, 0) + log1p(exp(-|z|)).
    stats->loss_sum +=
        std::max(z, T{0}) - y * z + std::log1p(std::exp(-std::abs(z)));
    stats->correct += (z > T{0}) == (labels[r] == 1);
    if (dlogits == nullptr) continue;
    const T e = std::exp(-std::abs(z));  // in (0, 1]: never overflows.
    const T sigmoid = z >= T{0} ? T{1} / (T{1} + e) : e / (T{1} + e);
    dlogits[r] = (sigmoid - y) * inv_rows;
  }
  stats->count += rows;
}

template <typename T>
void GatherRows(const T* table, const int32_t* index, int64_t n, int64_t dim,
                T* out) {
  for (int64_t j = 0; j < n; ++j) {
    std::copy_n(table + static_cast<int64_t>(index[j]) * dim, dim,
                out + j * dim);
  }
}

template <typename T>
void ScatterAddRows(const T* grad, const int32_t* index, int64_t n, int64_t dim,
                    T* table_grad) {
  for (int64_t j = 0; j < n; ++j) {
    T* row = table_grad + static_cast<int64_t>(index[j]) * dim;
    const T* g = grad + j * dim;
    for (int64_t d = 0; d < dim; ++d) row[d] += g[d];
  }
}

#define PS_INSTANTIATE_CPU_KERNELS(T)                                          \
  template void Gemm<T>(Transpose, Transpose, int64_t, int64_t, int64_t,       \
                        const T*, const T*, T, T*);                            \
  template void BroadcastRows<T>(const T*, int64_t, int64_t, T*);              \
  template void Relu<T>(int64_t, T*);                                          \
  template void ReluBackward<T>(const T*, int64_t, T*);                        \
  template void ColumnSums<T>(const T*, int64_t, int64_t, T*);                 \
  template void SoftmaxCrossEntropy<T>(const T*, const int32_t*, int64_t,      \
                                       int64_t, T*, BatchStats*);              \
  template void LogisticLoss<T>(const T*, const int32_t*, int64_t, T*,         \
                                BatchStats*);                                  \
  template void GatherRows<T>(const T*, const int32_t*, int64_t, int64_t, T*); \
  template void ScatterAddRows<T>(const T*, const int32_t*, int64_t, int64_t,  \
                                  T*)

PS_INSTANTIATE_CPU_KERNELS(float);
PS_INSTANTIATE_CPU_KERNELS(double);

#undef PS_INSTANTIATE_CPU_KERNELS

}  // namespace ps::worker::cpu
