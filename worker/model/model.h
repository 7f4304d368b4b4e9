// The compute interface a worker trains through. Parameters live outside the
// model, in a flat buffer the worker pulls from and pushes gradients to the
// parameter servers, so a backend (CPU, CUDA, ...) holds only scratch space
// and can be swapped without touching the training loop.
//
// The interface is templated on the scalar type: production uses float
// (Model, Batch); the gradient checks use double so finite differences are
// exact enough to check every layer tightly.

#ifndef PS_WORKER_MODEL_MODEL_H_
#define PS_WORKER_MODEL_MODEL_H_

#include <cstdint>

#include "absl/status/status.h"

namespace ps::worker {

// A borrowed view of `rows` labelled examples; the caller keeps the memory
// alive for the duration of the call.
template <typename T>
struct BasicBatch {
  const T* x = nullptr;        // rows * dim features, row-major.
  const int32_t* y = nullptr;  // rows class labels.
  int64_t rows = 0;
  int64_t dim = 0;
};

// Running totals a caller accumulates over many batches; mean loss is
// loss_sum / count and accuracy is correct / count.
struct BatchStats {
  double loss_sum = 0;  // Sum of per-example cross-entropy losses.
  int64_t correct = 0;  // Examples whose highest-scoring class is the label.
  int64_t count = 0;    // Examples seen.
};

// A differentiable classifier over a flat parameter buffer.
//
// Not thread-safe: an instance owns reusable scratch buffers, so use one per
// worker thread. The parameter layout is fixed by the factory that built the
// model, and every backend for the same architecture must agree on it so
// that parameters and gradients mean the same thing on every worker.
//
// Both compute methods return InvalidArgument, without touching the outputs,
// when the batch does not fit the model (wrong dim, too many or too few rows,
// a label out of range) or a pointer is null. A device backend may also
// return Internal when its device fails; the outputs are then unspecified.
template <typename T>
class BasicModel {
 public:
  virtual ~BasicModel() = default;

  // Length of the parameter and gradient buffers.
  virtual int64_t num_params() const = 0;

  // A hint that `batch` comes next: a device backend starts copying it to
  // the device so the copy overlaps with what the caller does before the
  // compute call (the trainer pulls parameters meanwhile). The next
  // ForwardBackward or Evaluate given a batch with the same pointers and
  // shape uses that copy, so the caller must not change the batch's memory
  // in between. Any other batch is copied as usual. Errors are those of the
  // compute calls; the default does nothing.
  virtual absl::Status Prefetch(const BasicBatch<T>& /*batch*/) {
    return absl::OkStatus();
  }

  // Computes the gradient of the mean loss over `batch` with respect to
  // `params` (num_params() values) and writes it to `grads` (num_params()
  // values, overwritten; must not alias params). Adds the batch's loss sum,
  // correct count and row count to *stats.
  virtual absl::Status ForwardBackward(const T* params,
                                       const BasicBatch<T>& batch, T* grads,
                                       BatchStats* stats) = 0;

  // Forward pass only: adds the batch's loss sum, correct count and row
  // count to *stats. Gives the same loss as ForwardBackward for equal inputs.
  virtual absl::Status Evaluate(const T* params, const BasicBatch<T>& batch,
                                BatchStats* stats) = 0;

  // Forward pass only: writes the batch's logits, rows x classes row-major,
  // to `logits` (the softmax of a row is its class probabilities). Reads
  // no labels: batch.y may be null. An ensemble mixes its members'
  // probabilities from these. The default, for backends that do not
  // offer it (CUDA), returns Unimplemented.
  virtual absl::Status Logits(const T* /*params*/,
                              const BasicBatch<T>& /*batch*/, T* /*logits*/) {
    return absl::UnimplementedError("this backend does not return logits");
  }
};

using Batch = BasicBatch<float>;
using Model = BasicModel<float>;

}  // namespace ps::worker

#endif  // PS_WORKER_MODEL_MODEL_H_
