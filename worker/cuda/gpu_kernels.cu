// Built by nvcc (see worker/BUILD). Elementwise kernels use grid-stride
// loops so any size runs with a bounded grid; the loss kernels give each row
// a warp and reduce with shuffles.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>

#include "worker/cuda/gpu_kernels.h"
#include "worker/cuda/gpu_status.h"

namespace ps::worker::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1 << 16;
constexpr unsigned kFullWarp = 0xffffffffu;

int BlocksFor(int64_t n) {
  return static_cast<int>(std::min((n + kThreads - 1) / kThreads, kMaxBlocks));
}

cudaStream_t AsStream(const Stream& stream) {
  return static_cast<cudaStream_t>(stream.handle());
}

absl::Status LaunchStatus(const char* kernel) {
  return FromCuda(cudaGetLastError(), kernel);
}

__device__ inline float Exp(float x) { return expf(x); }
__device__ inline double Exp(double x) { return exp(x); }
__device__ inline float Log(float x) { return logf(x); }
__device__ inline double Log(double x) { return log(x); }
__device__ inline float Log1p(float x) { return log1pf(x); }
__device__ inline double Log1p(double x) { return log1p(x); }

__device__ inline int64_t GlobalThread() {
  return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
}
__device__ inline int64_t GridThreads() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

template <typename T>
__global__ void AddBiasActivationKernel(const T* bias, int64_t rows,
                                        int64_t cols, bool relu, T* out) {
  const int64_t n = rows * cols;
  for (int64_t i = GlobalThread(); i < n; i += GridThreads()) {
    const T v = out[i] + bias[i % cols];
    out[i] = relu && v < T(0) ? T(0) : v;
  }
}

template <typename T>
__global__ void AddToKernel(const T* x, int64_t n, T* y) {
  for (int64_t i = GlobalThread(); i < n; i += GridThreads()) y[i] += x[i];
}

template <typename T>
__global__ void ReluBackwardKernel(const T* activations, int64_t n, T* grad) {
  for (int64_t i = GlobalThread(); i < n; i += GridThreads()) {
    if (!(activations[i] > T(0))) grad[i] = T(0);
  }
}

// A block of 32 x 8 threads sums 32 columns: each of the 8 thread rows
// strides over the matrix rows, then the 8 partial sums are added.
template <typename T>
__global__ void ColumnSumsKernel(const T* x, int64_t rows, int64_t cols,
                                 T* sums) {
  __shared__ T partial[8][33];
  const int64_t c = blockIdx.x * 32 + threadIdx.x;
  T acc = T(0);
  if (c < cols) {
    for (int64_t r = threadIdx.y; r < rows; r += 8) acc += x[r * cols + c];
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    T sum = T(0);
    for (int i = 0; i < 8; ++i) sum += partial[i][threadIdx.x];
    sums[c] = sum;
  }
}

// Keeps the larger value; on ties the smaller index, as std::max_element
// does on the CPU. Index -1 means "no element".
template <typename T>
__device__ inline void KeepMax(T value, int index, T* best, int* best_index) {
  if (index < 0) return;
  if (*best_index < 0 || value > *best ||
      (value == *best && index < *best_index)) {
    *best = value;
    *best_index = index;
  }
}

// One warp per row; blockDim.x is a multiple of 32, so a warp never spans
// two rows and whole warps leave together.
template <typename T>
__global__ void SoftmaxCrossEntropyKernel(const T* logits,
                                          const int32_t* labels, int64_t rows,
                                          int64_t classes, T* dlogits,
                                          T* row_loss, int32_t* row_correct) {
  const int64_t row = GlobalThread() / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const T* z = logits + row * classes;
  T max = T(0);
  int argmax = -1;
  for (int64_t c = lane; c < classes; c += 32)
    KeepMax(z[c], int(c), &max, &argmax);
  for (int offset = 16; offset > 0; offset /= 2) {
    const T other = __shfl_down_sync(kFullWarp, max, offset);
    const int other_index = __shfl_down_sync(kFullWarp, argmax, offset);
    KeepMax(other, other_index, &max, &argmax);
  }
  max = __shfl_sync(kFullWarp, max, 0);
  argmax = __shfl_sync(kFullWarp, argmax, 0);
  T sum = T(0);
  for (int64_t c = lane; c < classes; c += 32) sum += Exp(z[c] - max);
  for (int offset = 16; offset > 0; offset /= 2) {
    sum += __shfl_xor_sync(kFullWarp, sum, offset);
  }
  const int32_t label = labels[row];
  if (lane == 0) {
    row_loss[row] = Log(sum) - (z[label] - max);
    row_correct[row] = argmax == label;
  }
  if (dlogits == nullptr) return;
  const T inv_rows = T(1) / T(rows);
  for (int64_t c = lane; c < classes; c += 32) {
    const T p = Exp(z[c] - max) / sum * inv_rows;
    dlogits[row * classes + c] = c == label ? p - inv_rows : p;
  }
}

template <typename T>
__global__ void LogisticLossKernel(const T* logits, const int32_t* labels,
                                   int64_t rows, T* dlogits, T* row_loss,
                                   int32_t* row_correct) {
  for (int64_t r = GlobalThread(); r < rows; r += GridThreads()) {
    const T z = logits[r];
    const T y = T(labels[r]);
    const T e = Exp(-fabs(z));  // In (0, 1]: never overflows.
    row_loss[r] = (z > T(0) ? z : T(0)) - y * z + Log1p(e);
    row_correct[r] = (z > T(0)) == (labels[r] == 1);
    if (dlogits != nullptr) {
      const T sigmoid = z >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
      dlogits[r] = (sigmoid - y) / T(rows);
    }
  }
}

template <typename T>
__global__ void GatherRowsKernel(const T* table, const int32_t* index,
                                 int64_t n, int64_t dim, T* out) {
  const int64_t total = n * dim;
  for (int64_t i = GlobalThread(); i < total; i += GridThreads()) {
    const int64_t j = i / dim;
    out[i] = table[static_cast<int64_t>(index[j]) * dim + (i - j * dim)];
  }
}

template <typename T>
__global__ void ScatterAddRowsKernel(const T* grad, const int32_t* index,
                                     int64_t n, int64_t dim, T* table_grad) {
  const int64_t total = n * dim;
  for (int64_t i = GlobalThread(); i < total; i += GridThreads()) {
    const int64_t j = i / dim;
    atomicAdd(&table_grad[static_cast<int64_t>(index[j]) * dim + (i - j * dim)],
              grad[i]);
  }
}

}  // namespace

template <typename T>
absl::Status AddBiasActivation(const Stream& stream, const T* bias,
                               int64_t rows, int64_t cols,
                               Activation activation, T* out) {
  if (rows * cols == 0) return absl::OkStatus();
  AddBiasActivationKernel<<<BlocksFor(rows * cols), kThreads, 0,
                            AsStream(stream)>>>(
      bias, rows, cols, activation == Activation::kRelu, out);
  return LaunchStatus("AddBiasActivation kernel");
}

template <typename T>
absl::Status AddTo(const Stream& stream, const T* x, int64_t n, T* y) {
  if (n == 0) return absl::OkStatus();
  AddToKernel<<<BlocksFor(n), kThreads, 0, AsStream(stream)>>>(x, n, y);
  return LaunchStatus("AddTo kernel");
}

template <typename T>
absl::Status ReluBackward(const Stream& stream, const T* activations, int64_t n,
                          T* grad) {
  if (n == 0) return absl::OkStatus();
  ReluBackwardKernel<<<BlocksFor(n), kThreads, 0, AsStream(stream)>>>(
      activations, n, grad);
  return LaunchStatus("ReluBackward kernel");
}

template <typename T>
absl::Status ColumnSums(const Stream& stream, const T* x, int64_t rows,
                        int64_t cols, T* sums) {
  if (cols == 0) return absl::OkStatus();
  const dim3 block(32, 8);
  const unsigned grid = static_cast<unsigned>((cols + 31) / 32);
  ColumnSumsKernel<<<grid, block, 0, AsStream(stream)>>>(x, rows, cols, sums);
  return LaunchStatus("ColumnSums kernel");
}

template <typename T>
absl::Status SoftmaxCrossEntropy(const Stream& stream, const T* logits,
                                 const int32_t* labels, int64_t rows,
                                 int64_t classes, T* dlogits, T* row_loss,
                                 int32_t* row_correct) {
  if (rows == 0) return absl::OkStatus();
  constexpr int kRowsPerBlock = kThreads / 32;
  const unsigned grid =
      static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  SoftmaxCrossEntropyKernel<<<grid, kThreads, 0, AsStream(stream)>>>(
      logits, labels, rows, classes, dlogits, row_loss, row_correct);
  return LaunchStatus("SoftmaxCrossEntropy kernel");
}

template <typename T>
absl::Status LogisticLoss(const Stream& stream, const T* logits,
                          const int32_t* labels, int64_t rows, T* dlogits,
                          T* row_loss, int32_t* row_correct) {
  if (rows == 0) return absl::OkStatus();
  LogisticLossKernel<<<BlocksFor(rows), kThreads, 0, AsStream(stream)>>>(
      logits, labels, rows, dlogits, row_loss, row_correct);
  return LaunchStatus("LogisticLoss kernel");
}

template <typename T>
absl::Status GatherRows(const Stream& stream, const T* table,
                        const int32_t* index, int64_t n, int64_t dim, T* out) {
  if (n * dim == 0) return absl::OkStatus();
  GatherRowsKernel<<<BlocksFor(n * dim), kThreads, 0, AsStream(stream)>>>(
      table, index, n, dim, out);
  return LaunchStatus("GatherRows kernel");
}

template <typename T>
absl::Status ScatterAddRows(const Stream& stream, const T* grad,
                            const int32_t* index, int64_t n, int64_t dim,
                            T* table_grad) {
  if (n * dim == 0) return absl::OkStatus();
  ScatterAddRowsKernel<<<BlocksFor(n * dim), kThreads, 0, AsStream(stream)>>>(
      grad, index, n, dim, table_grad);
  return LaunchStatus("ScatterAddRows kernel");
}

#define PS_INSTANTIATE_GPU_KERNELS(T)                                          \
  template absl::Status AddBiasActivation<T>(const Stream&, const T*, int64_t, \
                                             int64_t, Activation, T*);         \
  template absl::Status AddTo<T>(const Stream&, const T*, int64_t, T*);        \
  template absl::Status ReluBackward<T>(const Stream&, const T*, int64_t, T*); \
  template absl::Status ColumnSums<T>(const Stream&, const T*, int64_t,        \
                                      int64_t, T*);                            \
  template absl::Status SoftmaxCrossEntropy<T>(const Stream&, const T*,        \
                                               const int32_t*, int64_t,        \
                                               int64_t, T*, T*, int32_t*);     \
  template absl::Status LogisticLoss<T>(                                       \
      const Stream&, const T*, const int32_t*, int64_t, T*, T*, int32_t*);     \
  template absl::Status GatherRows<T>(const Stream&, const T*, const int32_t*, \
                                      int64_t, int64_t, T*);                   \
  template absl::Status ScatterAddRows<T>(                                     \
      const Stream&, const T*, const int32_t*, int64_t, int64_t, T*)

PS_INSTANTIATE_GPU_KERNELS(float);
PS_INSTANTIATE_GPU_KERNELS(double);

#undef PS_INSTANTIATE_GPU_KERNELS

}  // namespace ps::worker::gpu
