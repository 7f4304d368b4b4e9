// gpu_kernels.h in a build without the CUDA toolkit (worker/cuda/cuda.bzl).
// Unreachable in practice (no Stream can be created without CUDA), but
// defined so that the CUDA models link: each answers FAILED_PRECONDITION.
#include "worker/cuda/gpu_kernels.h"

namespace ps::worker::gpu {

namespace {

absl::Status NoCuda() {
  return absl::FailedPreconditionError(
      "this ps_worker was built without CUDA: no GPU kernels");
}

}  // namespace

template <typename T>
absl::Status AddBiasActivation(const Stream&, const T*, int64_t, int64_t,
                               Activation, T*) {
  return NoCuda();
}
template <typename T>
absl::Status AddTo(const Stream&, const T*, int64_t, T*) {
  return NoCuda();
}
template <typename T>
absl::Status ReluBackward(const Stream&, const T*, int64_t, T*) {
  return NoCuda();
}
template <typename T>
absl::Status ColumnSums(const Stream&, const T*, int64_t, int64_t, T*) {
  return NoCuda();
}
template <typename T>
absl::Status SoftmaxCrossEntropy(const Stream&, const T*, const int32_t*,
                                 int64_t, int64_t, T*, T*, int32_t*) {
  return NoCuda();
}
template <typename T>
absl::Status LogisticLoss(const Stream&, const T*, const int32_t*, int64_t,
                          T*, T*, int32_t*) {
  return NoCuda();
}
template <typename T>
absl::Status GatherRows(const Stream&, const T*, const int32_t*, int64_t,
                        int64_t, T*) {
  return NoCuda();
}
template <typename T>
absl::Status ScatterAddRows(const Stream&, const T*, const int32_t*, int64_t,
                            int64_t, T*) {
  return NoCuda();
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
