// The dense models' training in the job's learning mode (TrainingSpec
// averaging / federated, docs/design.md "Learning modes"): plain
// per-step SGD, local SGD with model averaging or mixing, or FedAvg.
#ifndef PS_WORKER_TASK_LEARNING_MODES_H_
#define PS_WORKER_TASK_LEARNING_MODES_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "proto/ps/v1/ps.pb.h"
#include "worker/data/fashion_mnist.h"
#include "worker/model/model.h"
#include "worker/train/trainer.h"

namespace ps::worker {

// The clock after the last push of a dense job's rank: its steps, or in a
// learning mode its rounds. The final evaluation pulls at this clock.
int64_t DenseFinalClock(const v1::Task& task, const TrainerOptions& options,
                        int64_t shard_count);

// Copies of the model in the job's store: ModelCopies(task.spec()).
int DenseCopies(const v1::Task& task);

// This rank's shard of the Fashion-MNIST training split as the job's
// DataSpec.shard divides it (not yet standardised).
absl::StatusOr<Examples> LoadTrainShard(const v1::Task& task);

// Trains `model` over `store` in the job's learning mode. Federated jobs
// also evaluate the global model on `test` after every round into
// done->rounds, in batches of eval_batch, and set done->train_examples.
absl::Status TrainDense(const v1::Task& task, const TrainerOptions& options,
                        const Examples& train, const Examples& test,
                        int eval_batch, Model* model, ParamStore* store,
                        ProgressSink* sink, const std::atomic<bool>* cancelled,
                        v1::CompleteTaskRequest* done);

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_LEARNING_MODES_H_
