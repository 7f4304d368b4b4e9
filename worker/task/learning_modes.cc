#include "worker/task/learning_modes.h"

#include <vector>

#include "common/model_layout.h"
#include "worker/data/label_shard.h"
#include "worker/train/federated.h"
#include "worker/train/local_sgd.h"

namespace ps::worker {
namespace {

LocalSgdOptions LocalSgdOptionsOf(const v1::Task& task) {
  const v1::JobSpec& spec = task.spec();
  const auto& mixing = spec.training().averaging().mixing();
  return LocalSgdOptions{
      .local_steps = spec.training().averaging().local_steps(),
      .learning_rate = spec.optimizer().learning_rate(),
      .mixing = {mixing.begin(), mixing.end()},
      .num_workers = task.num_workers()};
}

absl::Status TrainFederatedTask(const v1::Task& task,
                                const TrainerOptions& options,
                                const Examples& train, const Examples& test,
                                int eval_batch, Model* model, ParamStore* store,
                                ProgressSink* sink,
                                const std::atomic<bool>* cancelled,
                                v1::CompleteTaskRequest* done) {
  const v1::FederatedSpec& f = task.spec().training().federated();
  const FederatedOptions fed{
      .client_fraction = f.client_fraction(),
      .local_epochs = f.local_epochs(),
      .learning_rate = task.spec().optimizer().learning_rate(),
      .num_workers = task.num_workers(),
      .split_count = train.split_count};
  int64_t trained = 0;  // examples this rank trained on, as a client
  for (int64_t r = options.first_step; r < options.epochs; ++r) {
    const std::vector<int> clients =
        RoundClients(options.seed, r, fed.num_workers, fed.client_fraction);
    for (int k : clients) {
      if (k == options.rank) trained += train.count * fed.local_epochs;
    }
  }
  done->set_train_examples(trained);
  return TrainFederated(
      options, fed, train, model, store, sink, cancelled,
      [&](int64_t round, const std::vector<int>& clients,
          const float* params) -> absl::Status {
        absl::StatusOr<BatchStats> eval =
            Evaluate(test, eval_batch, params, model);
        if (!eval.ok()) return eval.status();
        v1::RoundEvaluation& e = *done->add_rounds();
        e.set_round(static_cast<int32_t>(round));
        e.set_test_examples(eval->count);
        e.set_test_correct(eval->correct);
        e.set_test_loss_sum(eval->loss_sum);
        *e.mutable_clients() = {clients.begin(), clients.end()};
        return absl::OkStatus();
      });
}

}  // namespace

int64_t DenseFinalClock(const v1::Task& task, const TrainerOptions& options,
                        int64_t shard_count) {
  const v1::TrainingSpec& t = task.spec().training();
  if (t.has_federated()) return options.epochs;
  if (t.has_averaging()) {
    return LocalSgdRounds(options, LocalSgdOptionsOf(task), shard_count);
  }
  return TotalSteps(options, shard_count);
}

int DenseCopies(const v1::Task& task) { return ModelCopies(task.spec()); }

absl::StatusOr<Examples> LoadTrainShard(const v1::Task& task) {
  const std::string& dir = task.spec().data().dir();
  if (task.spec().data().shard() != v1::DataSpec::BY_LABEL) {
    return LoadFashionMnist(dir, Split::kTrain, task.rank(),
                            task.num_workers());
  }
  absl::StatusOr<Examples> all = LoadFashionMnist(dir, Split::kTrain, 0, 1);
  if (!all.ok()) return all.status();
  return ShardByLabel(*all, task.rank(), task.num_workers());
}

absl::Status TrainDense(const v1::Task& task, const TrainerOptions& options,
                        const Examples& train, const Examples& test,
                        int eval_batch, Model* model, ParamStore* store,
                        ProgressSink* sink, const std::atomic<bool>* cancelled,
                        v1::CompleteTaskRequest* done) {
  const v1::TrainingSpec& t = task.spec().training();
  if (t.has_federated()) {
    return TrainFederatedTask(task, options, train, test, eval_batch, model,
                              store, sink, cancelled, done);
  }
  if (t.has_averaging()) {
    return TrainLocalSgd(options, LocalSgdOptionsOf(task), train, model, store,
                         sink, cancelled);
  }
  return Train(options, train, model, store, sink, cancelled);
}

}  // namespace ps::worker
