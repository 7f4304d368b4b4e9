// Round-based learning modes over a ParamStore (docs/design.md, "Learning
// modes"): local SGD with model averaging, and decentralised mixing through
// per-rank copies of the model. One BSP clock is one round: a rank pulls at
// clock r, trains on its own copy, and pushes once as clock r.
#ifndef PS_WORKER_TRAIN_LOCAL_SGD_H_
#define PS_WORKER_TRAIN_LOCAL_SGD_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/data/fashion_mnist.h"
#include "worker/model/model.h"
#include "worker/train/trainer.h"

namespace ps::worker {

struct LocalSgdOptions {
  int local_steps = 1;         // K, >= 1
  float learning_rate = 0.1f;  // of the local plain-SGD steps
  // Row-major num_workers x num_workers weights (rows sum to 1). Empty:
  // plain averaging, and the store holds one model. Otherwise the store
  // holds num_workers copies of the model, in rank order, and the servers
  // must run plain SGD at learning_rate (a rank's push turns its own copy
  // into its local model).
  std::vector<float> mixing;
  int num_workers = 1;
};

// Plain SGD on a local copy of the parameters, keeping the sum of the
// gradients of its steps. Not thread-safe.
class LocalSteps {
 public:
  // `train` and `model` are not owned and must outlive this object.
  LocalSteps(const Examples& train, Model* model, int batch_size, float lr);

  // Starts from `params` (model->num_params() floats); the sum restarts.
  void Start(const float* params);
  // One step on rows order[first, first + rows) of the training data:
  // params -= lr * g, sum += g (the first step copies g, so one step's sum
  // is its gradient bit for bit). Adds the batch's stats to *window.
  absl::Status Step(const std::vector<int64_t>& order, int64_t first,
                    int64_t rows, BatchStats* window);

  std::vector<float>& params() { return params_; }
  // The sum of the gradients since Start(); zeros before the first step.
  std::vector<float>& gradient_sum() { return sum_; }
  int64_t steps() const { return steps_; }

 private:
  const Examples& train_;
  Model* const model_;
  const float lr_;
  std::vector<float> params_, grads_, sum_, x_;
  std::vector<int32_t> y_;
  int64_t steps_ = 0;
};

// One round of a round loop: trains round `round` (0-based), adds its
// training stats to *window, sets *epoch (1-based, of its data), and
// returns the staleness of its pull.
using TrainingRound = absl::FunctionRef<absl::StatusOr<int64_t>(
    int64_t round, BatchStats* window, int* epoch)>;

// Runs rounds [options.first_step, rounds), checking *cancelled (may be
// null) before each, and reports to `sink` every options.report_every_steps
// rounds and after the last. Progress counts rounds (step, total_steps), so
// a rank taken over resumes at a round; a window without examples (a
// federated rank that sat the rounds out) reports loss and accuracy 0.
absl::Status RunRoundLoop(const TrainerOptions& options, int64_t rounds,
                          ProgressSink* sink,
                          const std::atomic<bool>* cancelled,
                          TrainingRound round);

// Rounds of local SGD over a shard: ceil(TotalSteps / K); the last round
// may take fewer steps.
int64_t LocalSgdRounds(const TrainerOptions& options,
                       const LocalSgdOptions& local, int64_t shard_count);

// Local SGD: in round r the rank pulls at clock r, trains steps
// [r*K, (r+1)*K) of the data order Train() uses, and pushes as clock r:
//   - plain averaging: the sum of its local gradients. With K = 1 that is
//     Train()'s push bit for bit.
//   - mixing: starts from sum_j w_ij theta_j over the pulled copies, and
//     pushes num_workers * (theta_i - local model) / lr into its own copy and
//     zeros into the others, so that with server SGD its copy becomes its
//     local model (up to float rounding).
absl::Status TrainLocalSgd(const TrainerOptions& options,
                           const LocalSgdOptions& local, const Examples& train,
                           Model* model, ParamStore* store, ProgressSink* sink,
                           const std::atomic<bool>* cancelled);

// Pulls at `clock` the model a round-based job evaluates into `params`
// (num_params floats): the store's model, or with copies > 1 (mixing) the
// mean of the copies.
absl::Status PullModel(ParamStore* store, int64_t clock, int copies,
                       int64_t num_params, float* params);

}  // namespace ps::worker

#endif  // PS_WORKER_TRAIN_LOCAL_SGD_H_
