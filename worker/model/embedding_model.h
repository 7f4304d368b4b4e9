// The compute interface of an embedding + MLP model: each example is a fixed
// number of categorical slots (origin, destination, hour, ...), each slot's
// key mapped to a row of a sparse embedding table that the worker pulls from
// the servers. The model concatenates an example's slot embeddings and feeds
// them to dense layers with a logistic (click/delay prediction) or softmax
// head.
//
// The model never sees keys. The worker deduplicates the batch's keys, pulls
// one row per distinct key into a dense block, and passes the block with,
// for every (example, slot), the index of its row in the block. Backward
// returns the dense gradients plus one gradient row per block row, already
// summed over every use of that row, which the worker pushes under the same
// keys.
//
// A wide & deep model adds a linear ("wide") part to the logistic head's
// logit: the caller computes it per example, passes it as
// batch.logit_offset, and gets d(mean loss)/d(logit) back in
// batch.logit_grads to back-propagate into the wide part itself.

#ifndef PS_WORKER_MODEL_EMBEDDING_MODEL_H_
#define PS_WORKER_MODEL_EMBEDDING_MODEL_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "worker/model/mlp_spec.h"
#include "worker/model/model.h"

namespace ps::worker {

struct EmbeddingModelSpec {
  // Categorical slots per example (F) and the width of each embedding row.
  // Both at least 1; slots * dim is the first dense layer's input size.
  int64_t slots = 1;
  int64_t dim = 8;
  // Widths of the ReLU hidden layers between the embeddings and the head;
  // empty gives a linear model on the embeddings.
  std::vector<int64_t> hidden_sizes;
  Head head = Head::kLogistic;
  // Softmax head: number of classes (at least 1). Logistic head: must be 1.
  int64_t outputs = 1;
  // Largest batch (examples); blocks may hold up to max_batch_rows * slots
  // rows, the most a batch can touch.
  int64_t max_batch_rows = 1024;
};

// Dense layer sizes of the spec: {slots * dim, hidden_sizes..., outputs}.
// Their parameters use the flat MLP layout of mlp_spec.h.
std::vector<int64_t> EmbeddingDenseSizes(const EmbeddingModelSpec& spec);

// InvalidArgument naming the field unless slots, dim and outputs are at least
// 1 (outputs exactly 1 for the logistic head), slots * dim and the hidden
// sizes are valid layer sizes, and max_batch_rows * slots fits in an int32
// row index.
absl::Status ValidateEmbeddingSpec(const EmbeddingModelSpec& spec);

// A borrowed view of one batch; the caller keeps the memory alive for the
// duration of the call.
template <typename T>
struct BasicEmbeddingBatch {
  const T* rows = nullptr;  // num_rows x dim embedding rows, row-major.
  int64_t num_rows = 0;
  // examples x slots, example-major: row_index[e * slots + f] is the row of
  // `rows` holding example e's embedding for slot f. Rows may repeat.
  const int32_t* row_index = nullptr;
  const int32_t* labels = nullptr;  // examples labels, as the head expects.
  int64_t examples = 0;
  // Optional, logistic head only: `examples` values added to the examples'
  // logits before the sigmoid, so p = sigmoid(deep logit + logit_offset[e]).
  // Null adds nothing. The logits Evaluate writes include the offset.
  const T* logit_offset = nullptr;
  // Optional output of ForwardBackward, logistic head only: `examples`
  // values, d(mean loss)/d(logit) = (p - label) / examples per example,
  // which is also the gradient with respect to logit_offset. Null skips it;
  // Evaluate ignores it.
  T* logit_grads = nullptr;
};

// InvalidArgument, naming the field and value, unless the required pointers
// are non-null, 1 <= examples <= max_batch_rows, 1 <= num_rows <=
// max_batch_rows * slots, every row index is in [0, num_rows), every label
// is one the head accepts, and logit_offset and logit_grads are null unless
// the head is logistic.
template <typename T>
absl::Status CheckEmbeddingBatch(const EmbeddingModelSpec& spec,
                                 const BasicEmbeddingBatch<T>& batch);

// The checks both backends make before computing: CheckEmbeddingBatch, and
// InvalidArgument when dense_params or stats is null.
template <typename T>
absl::Status CheckEmbeddingCall(const EmbeddingModelSpec& spec,
                                const T* dense_params,
                                const BasicEmbeddingBatch<T>& batch,
                                const BatchStats* stats) {
  if (dense_params == nullptr || stats == nullptr) {
    return absl::InvalidArgumentError(
        "dense_params and stats must be non-null");
  }
  return CheckEmbeddingBatch(spec, batch);
}

// CheckEmbeddingCall for ForwardBackward, after InvalidArgument when
// dense_grads or row_grads is null.
template <typename T>
absl::Status CheckEmbeddingTrainCall(const EmbeddingModelSpec& spec,
                                     const T* dense_params,
                                     const BasicEmbeddingBatch<T>& batch,
                                     const T* dense_grads, const T* row_grads,
                                     const BatchStats* stats) {
  if (dense_grads == nullptr || row_grads == nullptr) {
    return absl::InvalidArgumentError(
        "dense_grads and row_grads must be non-null");
  }
  return CheckEmbeddingCall(spec, dense_params, batch, stats);
}

// Not thread-safe: an instance owns reusable scratch. Both compute methods
// return CheckEmbeddingBatch's error, without touching the outputs, for a
// batch that does not fit, and InvalidArgument for a null required pointer.
// A device backend may also return Internal when its device fails; the
// outputs are then unspecified.
template <typename T>
class BasicEmbeddingModel {
 public:
  virtual ~BasicEmbeddingModel() = default;

  virtual const EmbeddingModelSpec& spec() const = 0;

  // Length of the dense parameter and gradient buffers.
  virtual int64_t num_dense_params() const = 0;

  // Gradient of the mean loss over the batch: d/d(dense params) into
  // dense_grads (num_dense_params() values) and d/d(batch.rows) into
  // row_grads (num_rows x dim, row-major); both overwritten. A block row no
  // example uses gets a zero gradient. With batch.logit_grads, also
  // d(mean loss)/d(logit) there. Adds loss, correct count and example
  // count to *stats.
  virtual absl::Status ForwardBackward(const T* dense_params,
                                       const BasicEmbeddingBatch<T>& batch,
                                       T* dense_grads, T* row_grads,
                                       BatchStats* stats) = 0;

  // Forward pass only: adds loss, correct count and example count to *stats
  // and, when logits is non-null, writes the head's inputs there (examples x
  // outputs; for the logistic head sigmoid(logit) is the predicted
  // probability, which AUC needs, and the logit includes
  // batch.logit_offset).
  virtual absl::Status Evaluate(const T* dense_params,
                                const BasicEmbeddingBatch<T>& batch,
                                BatchStats* stats, T* logits) = 0;
};

// d(mean loss)/d(logit) of the logistic head for `examples` final logits
// (offset included): (sigmoid(z) - label) / examples, as the backends
// compute it, written to grads. For the backends' logit_grads output.
template <typename T>
void LogisticLogitGradients(const T* logits, const int32_t* labels,
                            int64_t examples, T* grads);

using EmbeddingBatch = BasicEmbeddingBatch<float>;
using EmbeddingModel = BasicEmbeddingModel<float>;

extern template absl::Status CheckEmbeddingBatch<float>(
    const EmbeddingModelSpec&, const BasicEmbeddingBatch<float>&);
extern template absl::Status CheckEmbeddingBatch<double>(
    const EmbeddingModelSpec&, const BasicEmbeddingBatch<double>&);
extern template void LogisticLogitGradients<float>(const float*, const int32_t*,
                                                   int64_t, float*);
extern template void LogisticLogitGradients<double>(const double*,
                                                    const int32_t*, int64_t,
                                                    double*);

}  // namespace ps::worker

#endif  // PS_WORKER_MODEL_EMBEDDING_MODEL_H_
