// The embedding + MLP model (embedding_model.h) on the CPU.

#ifndef PS_WORKER_CPU_CPU_EMBEDDING_MODEL_H_
#define PS_WORKER_CPU_CPU_EMBEDDING_MODEL_H_

#include <memory>

#include "absl/status/statusor.h"
#include "worker/model/embedding_model.h"

namespace ps::worker {

// T is float for training and double for gradient checks. Allocates all
// scratch for spec.max_batch_rows examples here. Returns
// ValidateEmbeddingSpec's error for a bad spec, and ResourceExhausted if the
// dense parameters, gradients and scratch exceed the machine's memory.
template <typename T = float>
absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<T>>> CreateCpuEmbeddingModel(
    const EmbeddingModelSpec& spec);

extern template absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<float>>>
CreateCpuEmbeddingModel<float>(const EmbeddingModelSpec&);
extern template absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<double>>>
CreateCpuEmbeddingModel<double>(const EmbeddingModelSpec&);

}  // namespace ps::worker

#endif  // PS_WORKER_CPU_CPU_EMBEDDING_MODEL_H_
