// The worker's training loop, independent of gRPC: pull -> compute -> push
// per minibatch through a ParamStore, progress through a ProgressSink. The
// real ParamStore talks to the servers; tests use an in-memory one.
#ifndef PS_WORKER_TRAIN_TRAINER_H_
#define PS_WORKER_TRAIN_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/data/fashion_mnist.h"
#include "worker/model/model.h"

namespace ps::worker {

// The job's parameters as one flat buffer, laid out as the Model expects.
//
// Clocks: a worker's clock is the number of steps it has finished. Step c
// pulls at clock c and pushes its gradient as clock c; the store may make the
// pull wait for other workers (BSP, SSP).
class ParamStore {
 public:
  virtual ~ParamStore() = default;
  // Overwrites params (num_params floats) with the values a worker at
  // `clock` may read; returns their staleness (steps of the slowest worker
  // they may be missing).
  virtual absl::StatusOr<int64_t> Pull(float* params, int64_t clock) = 0;
  // Sends the gradient of step `clock`.
  virtual absl::Status Push(const float* grads, int64_t clock) = 0;
};

struct Progress {
  int64_t step = 0;  // steps done, 1-based once training started.
  int64_t total_steps = 0;
  int32_t epoch = 0;    // 1-based.
  double loss = 0;      // mean over the report window.
  double accuracy = 0;  // training accuracy over the report window.
  double examples_per_sec = 0;
  int64_t max_staleness = 0;  // over all pulls so far
  int64_t window_examples = 0;  // examples trained on in the report window
};

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // A non-OK status stops training with that status (e.g. job cancelled).
  virtual absl::Status Report(const Progress& progress) = 0;
};

struct TrainerOptions {
  int epochs = 1;
  int batch_size = 32;
  int report_every_steps = 20;
  // Data order: each epoch shuffles this worker's shard with a generator
  // seeded from (seed, rank, epoch), so runs are reproducible.
  uint64_t seed = 0;
  int rank = 0;
  // Examples used per epoch: a prefix of each epoch's shuffled shard. 0 uses
  // the whole shard. Ranks of a BSP/SSP job must take the same number of
  // steps, so the task runner sets this to the smallest shard's size.
  int64_t examples_per_epoch = 0;
  // The first global step (0-based) to train: 0, or where a rank taken over
  // from a lost worker resumes (v1::Task.resume_step). The steps before it
  // are neither trained nor counted again; data order and clocks continue
  // as if the loop had run them.
  int64_t first_step = 0;
};

// The order in which Train() visits a shard of `count` examples in `epoch`
// (1-based): a shuffle seeded from (seed, rank, epoch).
std::vector<int64_t> EpochOrder(uint64_t seed, int rank, int epoch,
                                int64_t count);

// Gathers rows order[first, first + rows) of `data` into *x and *y (sized
// for at least `rows`) and returns them as a batch.
Batch GatherBatch(const Examples& data, const std::vector<int64_t>& order,
                  int64_t first, int64_t rows, std::vector<float>* x,
                  std::vector<int32_t>* y);

// Examples of a shard of `shard_count` that one epoch trains on:
// options.examples_per_epoch when set, at most the shard.
int64_t ExamplesPerEpoch(const TrainerOptions& options, int64_t shard_count);

// Steps one epoch of a shard of `shard_count` examples takes;
// FailedPrecondition when the epoch has no examples (an empty shard).
absl::StatusOr<int64_t> StepsPerEpoch(const TrainerOptions& options,
                                      int64_t shard_count);

// Steps Train() (and TrainSparse()) take over a shard of `shard_count`
// examples.
int64_t TotalSteps(const TrainerOptions& options, int64_t shard_count);

// INVALID_ARGUMENT unless options.first_step is in [0, total_steps].
absl::Status CheckFirstStep(const TrainerOptions& options, int64_t total_steps);

// Fills the report window's loss, accuracy and throughput into *progress
// and starts a new window.
void CloseWindow(BatchStats* window, absl::Time* window_start,
                 Progress* progress);

// One step of a training loop: trains on global step `step` (0-based over
// all epochs; epoch step / steps_per_epoch + 1), adding its loss and accuracy
// to *window, and returns the staleness of the parameters it pulled.
using TrainingStep = absl::FunctionRef<absl::StatusOr<int64_t>(
    int64_t step, BatchStats* window)>;

// The loop Train() and TrainSparse() share: runs steps
// [options.first_step, TotalSteps(options, shard_count)), checking *cancelled
// (may be null) before each, and reports progress to `sink` every
// options.report_every_steps steps and after the last. Stops with the status of
// a failed step or report, or CANCELLED.
absl::Status RunTrainingLoop(const TrainerOptions& options, int64_t shard_count,
                             ProgressSink* sink,
                             const std::atomic<bool>* cancelled,
                             TrainingStep step);

// Trains `model` on `train` for options.epochs. Stops early with the status
// of a failed pull/push/report, or CANCELLED once *cancelled becomes true.
absl::Status Train(const TrainerOptions& options, const Examples& train,
                   Model* model, ParamStore* store, ProgressSink* sink,
                   const std::atomic<bool>* cancelled);

// Evaluates `params` on `data` in batches of batch_size.
absl::StatusOr<BatchStats> Evaluate(const Examples& data, int batch_size,
                                    const float* params, Model* model);

}  // namespace ps::worker

#endif  // PS_WORKER_TRAIN_TRAINER_H_
