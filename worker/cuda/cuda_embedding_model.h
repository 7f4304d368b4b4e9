// The embedding + MLP model (embedding_model.h) on a CUDA GPU: the gather
// and the scatter-add of repeated rows run as kernels of our own, the dense
// layers as in cuda_mlp.h. Results agree with the CPU backend's within float
// rounding (the scatter-add's atomic sums run in no fixed order).

#ifndef PS_WORKER_CUDA_CUDA_EMBEDDING_MODEL_H_
#define PS_WORKER_CUDA_CUDA_EMBEDDING_MODEL_H_

#include <memory>

#include "absl/status/statusor.h"
#include "worker/model/embedding_model.h"

namespace ps::worker {

// Builds the model on GPU `gpu_index`, allocating everything for
// spec.max_batch_rows examples here. Errors as CreateCudaMlp's, with
// ValidateEmbeddingSpec's for a bad spec.
template <typename T = float>
absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<T>>>
CreateCudaEmbeddingModel(const EmbeddingModelSpec& spec, int gpu_index);

extern template absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<float>>>
CreateCudaEmbeddingModel<float>(const EmbeddingModelSpec&, int);
extern template absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<double>>>
CreateCudaEmbeddingModel<double>(const EmbeddingModelSpec&, int);

}  // namespace ps::worker

#endif  // PS_WORKER_CUDA_CUDA_EMBEDDING_MODEL_H_
