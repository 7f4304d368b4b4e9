// A multi-layer perceptron on the CPU, using OpenBLAS for the matrix products.

#ifndef PS_WORKER_CPU_CPU_MLP_H_
#define PS_WORKER_CPU_CPU_MLP_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model/mlp_spec.h"
#include "worker/model/model.h"

namespace ps::worker {

// Builds an MLP with layer_sizes[0] inputs, layer_sizes.back() classes and a
// hidden layer for each size in between: {784, 256, 10} is a one-hidden-layer
// MLP, {784, 10} is softmax regression. Hidden layers use ReLU; the last
// layer's outputs are logits for a softmax cross-entropy loss. The parameter
// layout is the one mlp_spec.h describes (weight [in x out] row-major, then
// bias [out], per layer), shared with the CUDA backend.
//
// T is float for training and double for gradient checks.
//
// All scratch memory is allocated here for batches of up to max_batch_rows,
// so training steps never allocate. OpenBLAS may use its own thread pool;
// callers running one model per thread usually want OPENBLAS_NUM_THREADS=1.
//
// Returns InvalidArgument if ValidateMlpShape rejects the sizes, and
// ResourceExhausted if parameters, gradients and scratch together exceed the
// machine's memory.
template <typename T = float>
absl::StatusOr<std::unique_ptr<BasicModel<T>>> CreateCpuMlp(
    std::vector<int64_t> layer_sizes, int64_t max_batch_rows);

extern template absl::StatusOr<std::unique_ptr<BasicModel<float>>>
    CreateCpuMlp<float>(std::vector<int64_t>, int64_t);
extern template absl::StatusOr<std::unique_ptr<BasicModel<double>>>
    CreateCpuMlp<double>(std::vector<int64_t>, int64_t);

}  // namespace ps::worker

#endif  // PS_WORKER_CPU_CPU_MLP_H_
