// The MLP of cpu_mlp.h on a CUDA GPU: same parameter layout, same checks,
// results within float rounding of the CPU backend's. cuBLAS runs the GEMMs,
// gpu_kernels.h the rest; see cuda_dense_stack.h for what overlaps.

#ifndef PS_WORKER_CUDA_CUDA_MLP_H_
#define PS_WORKER_CUDA_CUDA_MLP_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model/model.h"

namespace ps::worker {

// Builds the MLP on GPU `gpu_index` with all device memory, pinned staging
// buffers, streams and events allocated here and reused by every call. The
// model makes its GPU current in each calling thread, so it may be used from
// a thread other than the one that built it (one thread at a time).
//
// Returns InvalidArgument for sizes ValidateMlpShape rejects;
// FailedPrecondition when there is no such GPU or no usable driver;
// ResourceExhausted, naming bytes needed and free, when the parameters,
// gradients and activations do not fit in the GPU's free memory.
template <typename T = float>
absl::StatusOr<std::unique_ptr<BasicModel<T>>> CreateCudaMlp(
    std::vector<int64_t> layer_sizes, int64_t max_batch_rows, int gpu_index);

extern template absl::StatusOr<std::unique_ptr<BasicModel<float>>>
CreateCudaMlp<float>(std::vector<int64_t>, int64_t, int);
extern template absl::StatusOr<std::unique_ptr<BasicModel<double>>>
CreateCudaMlp<double>(std::vector<int64_t>, int64_t, int);

}  // namespace ps::worker

#endif  // PS_WORKER_CUDA_CUDA_MLP_H_
