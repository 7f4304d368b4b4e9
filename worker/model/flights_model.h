// The compute of the flight-delay models (ModelType SPARSE_LR and WIDE_DEEP
// in proto/ps/v1/ps.proto) over one deduplicated minibatch. Like
// embedding_model.h, a model never sees keys: the trainer
// (sparse_trainer.h) deduplicates the batch's keys, pulls one row per
// distinct key of each sparse table, and passes the rows with, for every
// (example, slot), the index of its row. Every table shares that indexing:
// row r of "wide" and row r of "embed" belong to the same key.
//
// Parameters, as the coordinator creates the tables:
//   SPARSE_LR  sparse "wide" (dim 1); dense ["bias" (1 float)].
//              logit = bias + sum over the example's slots of wide[key].
//   WIDE_DEEP  sparse "wide" (dim 1) and "embed" (dim embedding_dim);
//              dense ["bias" (1), then the MLP in mlp_spec.h's flat layout
//              for layer sizes {slots * embedding_dim, hidden_sizes..., 1}].
//              logit = bias + sum of wide + MLP(concatenated embeddings).
// p = sigmoid(logit); the loss is the mean log-loss over the batch, and
// every gradient is that of the mean. A row used by several (example, slot)
// pairs gets the sum of their gradients.

#ifndef PS_WORKER_MODEL_FLIGHTS_MODEL_H_
#define PS_WORKER_MODEL_FLIGHTS_MODEL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/model/compute.h"
#include "worker/model/model.h"

namespace ps::worker {

// Sparse table names, as the coordinator creates them.
inline constexpr char kWideTable[] = "wide";
inline constexpr char kEmbedTable[] = "embed";

enum class FlightsModelType { kSparseLr, kWideDeep };

struct FlightsModelSpec {
  FlightsModelType type = FlightsModelType::kSparseLr;
  // Keys per example (FlightFeatures.slots), at least 1.
  int64_t slots = 6;
  // WIDE_DEEP only: the "embed" row width (at least 1) and the MLP's ReLU
  // hidden layers (may be empty: a linear deep part).
  int64_t embedding_dim = 8;
  std::vector<int64_t> hidden_sizes;
  // Largest batch, in examples (at least 1); scratch is sized for it.
  int64_t max_batch = 1024;
};

// A borrowed view of one deduplicated batch.
struct FlightsBatch {
  // examples x slots, example-major: the row of example e's key in slot f.
  const int32_t* row_index = nullptr;
  const int32_t* labels = nullptr;  // examples labels, 0 or 1.
  int64_t examples = 0;
  int64_t num_rows = 0;  // Rows of every table's block: distinct keys.
};

// Borrowed parameters: dense (num_dense() floats) and num_rows rows of each
// sparse table, row-major. embed is unused (may be null) for SPARSE_LR.
struct FlightsParams {
  const float* dense = nullptr;
  const float* wide = nullptr;
  const float* embed = nullptr;
};

// Where the gradients go, laid out as FlightsParams; all overwritten.
struct FlightsGrads {
  float* dense = nullptr;
  float* wide = nullptr;
  float* embed = nullptr;
};

// Not thread-safe: an instance owns reusable scratch. The compute methods
// return InvalidArgument, without touching the outputs, for a null pointer
// or a batch that does not fit (examples outside [1, max_batch], num_rows
// outside [1, max_batch * slots], a row index outside [0, num_rows), a
// label other than 0 or 1); a device backend may also return Internal.
class FlightsModel {
 public:
  virtual ~FlightsModel() = default;

  virtual const FlightsModelSpec& spec() const = 0;

  // Length of the dense parameter and gradient buffers.
  virtual int64_t num_dense() const = 0;

  // Width of the sparse tables' rows in table order: {1} for SPARSE_LR,
  // {1, embedding_dim} for WIDE_DEEP ("wide", then "embed").
  virtual std::vector<int64_t> table_dims() const = 0;

  // Gradients of the batch's mean log-loss. Adds the loss sum, the correct
  // count and the example count to *stats. SPARSE_LR counts an example as
  // correct when (p >= 0.5) == label; WIDE_DEEP takes the embedding model's
  // count, (p > 0.5) == label, which differs only at p exactly 0.5.
  virtual absl::Status ForwardBackward(const FlightsParams& params,
                                       const FlightsBatch& batch,
                                       const FlightsGrads& grads,
                                       BatchStats* stats) = 0;

  // The batch's logits (examples values): p = sigmoid(logit).
  virtual absl::Status Logits(const FlightsParams& params,
                              const FlightsBatch& batch, float* logits) = 0;
};

// InvalidArgument naming the field and value unless slots, max_batch and
// (WIDE_DEEP) embedding_dim are at least 1 and the embedding model accepts
// the shape (see ValidateEmbeddingSpec).
absl::Status ValidateFlightsModelSpec(const FlightsModelSpec& spec);

// SPARSE_LR always computes on the CPU (a few adds per key: no BLAS, no
// device). WIDE_DEEP's deep part runs on the backend `options` resolves to
// (CreateEmbeddingModel). Errors: ValidateFlightsModelSpec's, and
// CreateEmbeddingModel's.
absl::StatusOr<std::unique_ptr<FlightsModel>> CreateFlightsModel(
    const FlightsModelSpec& spec, const ComputeOptions& options);

}  // namespace ps::worker

#endif  // PS_WORKER_MODEL_FLIGHTS_MODEL_H_
