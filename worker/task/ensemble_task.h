// The parts of a dense task that an ensemble (ModelSpec.ensemble) changes:
// the training split less the rows held out to fit the weights on, the
// composite model, its training step (every member on a data order of its
// own, in the loop every model shares: RunTrainingLoop) and the evaluation
// of every member and of their weighted mixture. The task runner calls
// these.
#ifndef PS_WORKER_TASK_ENSEMBLE_TASK_H_
#define PS_WORKER_TASK_ENSEMBLE_TASK_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/ps/v1/ps.pb.h"
#include "worker/data/fashion_mnist.h"
#include "worker/model/compute.h"
#include "worker/model/model.h"
#include "worker/train/trainer.h"

namespace ps::worker {

// A rank's share of Fashion-MNIST's training split with `holdout_rows` rows
// held out of training.
struct TrainingShard {
  // The rank's contiguous shard of the first split_count - holdout_rows
  // rows (train.split_count is that count).
  Examples train;
  // The last holdout_rows rows of the split, the same on every rank; empty
  // when holdout_rows is 0.
  Examples holdout;
};

// Rows of a training split of `split_rows` that HoldoutFraction(spec)
// holds out: floor(fraction * split_rows).
int64_t HoldoutRows(const v1::JobSpec& spec, int64_t split_rows);

// Loads the training split from `dir` and splits it as TrainingShard
// describes, holding out HoldoutFraction(spec) of it; without a holdout
// this is LoadFashionMnist's shard. Errors are LoadFashionMnist's.
absl::StatusOr<TrainingShard> LoadTrainingShard(const std::string& dir,
                                                const v1::JobSpec& spec,
                                                int rank, int num_ranks);

// The ensemble's members (MemberLayerSizes) on the chosen backend as one
// EnsembleModel. Errors: CreateModel's.
absl::StatusOr<std::unique_ptr<Model>> CreateEnsemble(
    const v1::JobSpec& spec, int64_t max_batch_rows,
    const ComputeOptions& options);

// Trains the ensemble `model` (from CreateEnsemble) as Train() trains one
// model, but with each member visiting `train` in an order of its own:
// member i shuffles each epoch with EpochOrder(MemberSeed(spec, i), rank,
// epoch), so member 0 (seeded like the single model by default) sees the
// single model's batches and the others other ones, which makes their
// errors less alike. One pull and one push a step carry every member.
// InvalidArgument when `model` is not an EnsembleModel; otherwise Train()'s
// errors.
absl::Status TrainEnsemble(const TrainerOptions& options,
                           const v1::JobSpec& spec, const Examples& train,
                           Model* model, ParamStore* store, ProgressSink* sink,
                           const std::atomic<bool>* cancelled);

// Evaluates the ensemble whose parameters are `params` (the members' flat
// buffers in order): fits the weights on `holdout` unless the spec fixes
// them, then scores every member and the mixture on `test` (in batches of
// batch_rows, on the CPU backend, which returns logits). Fills done's
// test_examples, test_correct and test_loss_sum with the mixture's figures
// and done->members with each member's and its weight.
absl::Status EvaluateEnsemble(const v1::JobSpec& spec, const float* params,
                              const Examples& holdout, const Examples& test,
                              int batch_rows, v1::CompleteTaskRequest* done);

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_ENSEMBLE_TASK_H_
