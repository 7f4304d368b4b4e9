// The worker's training loop for the flight-delay models (SPARSE_LR,
// WIDE_DEEP; see flights_model.h), independent of gRPC: per minibatch,
// deduplicate the batch's keys, pull the dense parameters and one row per
// distinct key of each sparse table through a SparseParamStore, compute,
// and push the dense gradients and one gradient row per key. The real
// SparseParamStore talks to the servers; tests use an in-memory one.
//
// Clocks, progress, data order and cancellation are those of trainer.h:
// step c pulls at clock c and pushes as clock c; each epoch visits a prefix
// of examples_per_epoch examples of EpochOrder's shuffle.
//
// Throughput: everything a step needs is allocated once per call (the
// shuffled order once per epoch), and the per-step work is linear in the
// batch's keys: BatchKeys dedup with the shuffled rows prefetched, one pass
// each to gather, compute and scatter. A SPARSE_LR step of 1024 examples
// costs about 80 us on one core of the development machine, store excluded
// (bench/sparse_trainer_bench.cc).

#ifndef PS_WORKER_TRAIN_SPARSE_TRAINER_H_
#define PS_WORKER_TRAIN_SPARSE_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/auc.h"
#include "worker/data/feature_hash.h"
#include "worker/model/flights_model.h"
#include "worker/model/model.h"
#include "worker/train/trainer.h"

namespace ps::worker {

// One sparse table's part of a step: distinct keys and one row per key.
struct SparseBlock {
  std::string table;  // "wide" (dim 1) or "embed" (dim embedding_dim)
  int dim = 0;
  std::vector<uint64_t> keys;  // distinct keys of the batch
  // keys.size() * dim: rows after Pull, gradients for Push
  std::vector<float> values;
};

// The job's parameters as the trainer sees them: a flat dense buffer
// (FlightsModel::num_dense() floats) and the sparse tables of
// FlightsModel::table_dims(), in that order ("wide", then "embed").
//
// Blocks come in table order, each with distinct keys; the trainer owns
// them and reuses their memory from step to step, so an implementation
// must not keep pointers into them after a call returns.
class SparseParamStore {
 public:
  virtual ~SparseParamStore() = default;
  // Fills dense[0, num_dense) and, for every block, block.values (already
  // sized) with the rows of block.keys, as a worker at `clock` may read them;
  // returns the staleness.
  virtual absl::StatusOr<int64_t> Pull(float* dense,
                                       std::vector<SparseBlock>* blocks,
                                       int64_t clock) = 0;
  // Sends dense gradients (num_dense floats) and each block's values as the
  // gradient of its keys, as step `clock`.
  virtual absl::Status Push(const float* dense_grads,
                            const std::vector<SparseBlock>& blocks,
                            int64_t clock) = 0;
  // Push(dense_grads, push_blocks, push_clock), then Pull(dense,
  // pull_blocks, pull_clock). A store may send both at once when the job's
  // consistency model allows (ASP), saving a round trip per step; the pull
  // may then miss this push.
  virtual absl::StatusOr<int64_t> PushAndPull(
      const float* dense_grads, const std::vector<SparseBlock>& push_blocks,
      int64_t push_clock, float* dense, std::vector<SparseBlock>* pull_blocks,
      int64_t pull_clock) {
    if (absl::Status s = Push(dense_grads, push_blocks, push_clock); !s.ok()) {
      return s;
    }
    return Pull(dense, pull_blocks, pull_clock);
  }
};

// Trains `model` on `train` for options.epochs (options.batch_size at most
// the model's max_batch). Step c's push and step c + 1's pull go to the
// store in one call (SparseParamStore::PushAndPull), which may send them
// together, so a step costs one round trip to the servers, not two. Labels are
// FlightFeatures.labels (> 0.5 counts as delayed). Progress goes to `sink`
// every options.report_every_steps steps and after the last: loss and accuracy
// (see FlightsModel::ForwardBackward) over the steps since the previous report,
// examples per second, the largest staleness so far.
//
// Errors, before any pull:
//   InvalidArgument:    train's slots differ from the model's, its keys or
//                       labels do not match its count, batch_size outside
//                       [1, max_batch], or report_every_steps < 1.
//   FailedPrecondition: the shard is empty.
// Later, the status of a failed pull, compute, push or report, or
// CANCELLED once *cancelled (may be null) becomes true between steps.
absl::Status TrainSparse(const TrainerOptions& options,
                         const FlightFeatures& train, FlightsModel* model,
                         SparseParamStore* store, ProgressSink* sink,
                         const std::atomic<bool>* cancelled);

// A model's predictions on a test set.
struct SparseEvaluation {
  // loss_sum: summed log-loss; correct: examples with (p >= 0.5) == label;
  // count: examples.
  BatchStats stats;
  ScoreHistogram histogram;  // p of every example, for the AUC.
};

// Predicts every example of `data` in order, in batches of batch_size
// (at most the model's max_batch), each pulled from `store` at `clock`
// (nothing is pushed). Errors: TrainSparse's InvalidArgument cases, and the
// status of a failed pull or compute. An empty `data` gives empty results.
absl::StatusOr<SparseEvaluation> EvaluateSparse(const FlightFeatures& data,
                                                int batch_size, int64_t clock,
                                                FlightsModel* model,
                                                SparseParamStore* store);

}  // namespace ps::worker

#endif  // PS_WORKER_TRAIN_SPARSE_TRAINER_H_
