// A multi-layer perceptron on the CPU, using OpenBLAS for the matrix products.

#ifndef PS_WORKER_CPU_MLP_H_
#define PS_WORKER_CPU_MLP_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model.h"

namespace ps::worker {

// Number of floats in the parameter buffer of an MLP with these layer sizes:
// the sum over layers of in * out + out. Expects sizes CreateCpuMlp accepts.
int64_t MlpParamCount(const std::vector<int64_t>& layer_sizes);

// Builds an MLP with layer_sizes[0] inputs, layer_sizes.back() classes and a
// hidden layer for each size in between: {784, 256, 10} is a one-hidden-layer
// MLP, {784, 10} is softmax regression. Hidden layers use ReLU; the last
// layer's outputs are logits for a softmax cross-entropy loss.
//
// Parameter layout, for layer l = 0 .. L-1 in order, with in = layer_sizes[l]
// and out = layer_sizes[l + 1]:
//   weight: in x out floats, row-major, so a layer computes y = x * W + b;
//   bias:   out floats.
//
// All scratch memory is allocated here for batches of up to max_batch_rows,
// so training steps never allocate. OpenBLAS may use its own thread pool;
// callers running one model per thread usually want OPENBLAS_NUM_THREADS=1.
//
// Returns InvalidArgument if there are fewer than 2 layer sizes, any size is
// below 1, or max_batch_rows is below 1.
absl::StatusOr<std::unique_ptr<Model>> CreateCpuMlp(
    std::vector<int64_t> layer_sizes, int64_t max_batch_rows);

}  // namespace ps::worker

#endif  // PS_WORKER_CPU_MLP_H_
