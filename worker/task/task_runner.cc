#include "worker/task/task_runner.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/model_layout.h"
#include "worker/data/fashion_mnist.h"
#include "worker/data/feature_hash.h"
#include "worker/data/flights_data.h"
#include "worker/model/compute.h"
#include "worker/model/flights_model.h"
#include "worker/task/learning_modes.h"
#include "worker/train/local_sgd.h"
#include "worker/task/ensemble_task.h"
#include "worker/train/sparse_trainer.h"
#include "worker/train/trainer.h"

namespace ps::worker {
namespace {

constexpr int kEvalBatch = 1000;
// Test batches of the flight models: large, since a batch costs one pull.
constexpr int kSparseEvalBatch = 4096;

// What every task shares while it runs.
struct TaskContext {
  const v1::Task& task;
  const TaskRunnerOptions& options;
  ParamStores& stores;
  const std::atomic<bool>* cancelled;
};

class CoordinatorSink : public ProgressSink {
 public:
  explicit CoordinatorSink(const TaskContext& ctx)
      : ctx_(ctx), last_step_(ctx.task.resume_step()) {}
  absl::Status Report(const Progress& p) override {
    if (ctx_.options.metrics != nullptr) {
      ctx_.options.metrics->Reported(ctx_.task.job_id(), p.step - last_step_,
                                     p);
    }
    last_step_ = p.step;
    v1::ReportProgressRequest r;
    r.set_member_id(ctx_.options.member_id);
    r.set_job_id(ctx_.task.job_id());
    r.set_rank(ctx_.task.rank());
    r.set_step(p.step);
    r.set_total_steps(p.total_steps);
    r.set_epoch(p.epoch);
    r.set_loss(p.loss);
    r.set_accuracy(p.accuracy);
    r.set_examples_per_sec(p.examples_per_sec);
    r.set_max_staleness(p.max_staleness);
    return ctx_.options.coordinator->ReportProgress(r);
  }

 private:
  const TaskContext& ctx_;
  int64_t last_step_;  // at the last report (the first step, before one)
};

// Meets the other ranks at the "trained" barrier, waiting up to
// options.barrier_timeout in calls of at most kBarrierSlice (arrival is
// recorded once; asking again only waits again), so that a cancelled task,
// and a worker told to stop, return within a slice.
absl::Status AwaitOthers(const TaskContext& ctx) {
  constexpr absl::Duration kBarrierSlice = absl::Seconds(1);
  const absl::Time deadline = absl::Now() + ctx.options.barrier_timeout;
  while (true) {
    if (ctx.cancelled != nullptr && ctx.cancelled->load()) {
      return absl::CancelledError("task cancelled at the trained barrier");
    }
    const absl::Duration left = deadline - absl::Now();
    v1::BarrierRequest b;
    b.set_job_id(ctx.task.job_id());
    b.set_rank(ctx.task.rank());
    b.set_name("trained");
    b.set_timeout_ms(std::max<int64_t>(
        1, absl::ToInt64Milliseconds(std::min(left, kBarrierSlice))));
    absl::Status s = ctx.options.coordinator->Barrier(b);
    if (!absl::IsDeadlineExceeded(s)) return s;
    if (left <= kBarrierSlice) {
      // The coordinator's message names the missing ranks, and the slice.
      return absl::DeadlineExceededError(absl::StrCat(
          "waited ", absl::FormatDuration(ctx.options.barrier_timeout),
          " at the trained barrier: ", s.message()));
    }
  }
}

// The training options of the job, for a split of `split_count` examples
// over all ranks: every rank takes the same number of steps.
TrainerOptions TrainerOptionsFor(const v1::Task& task, int64_t split_count) {
  const v1::TrainingSpec& t = task.spec().training();
  return TrainerOptions{.epochs = t.epochs(),
                        .batch_size = t.batch_size(),
                        .report_every_steps = t.report_every_steps(),
                        .seed = t.seed(),
                        .rank = task.rank(),
                        .examples_per_epoch = split_count / task.num_workers(),
                        .first_step = task.resume_step()};
}

// The worker id this rank's pushes carry: the rank's original worker's,
// also when this worker took the rank over, so that the servers' clock of
// the rank goes on.
std::string PushWorkerId(const TaskContext& ctx) {
  return ctx.task.push_worker_id().empty() ? ctx.options.member_id
                                           : ctx.task.push_worker_id();
}

// The part of a task both model kinds share: runs `train`, records the
// examples it went through and its duration in *done, meets the other ranks
// and, when all went well, runs `evaluate` at the clock after the last step
// (under BSP/SSP its pulls wait for every worker's updates), `final_clock`.
// A `train` that counts its examples itself sets done->train_examples.
absl::Status TrainMeetEvaluate(
    const TaskContext& ctx, const TrainerOptions& topt, int64_t shard_count,
    int64_t final_clock, absl::FunctionRef<absl::Status(ProgressSink*)> train,
    absl::FunctionRef<absl::Status(int64_t clock)> evaluate,
    v1::CompleteTaskRequest* done) {
  CoordinatorSink sink(ctx);
  const absl::Time start = absl::Now();
  absl::Status s = train(&sink);
  if (done->train_examples() == 0) {
    done->set_train_examples(ExamplesPerEpoch(topt, shard_count) * topt.epochs);
  }
  done->set_train_loop_seconds(absl::ToDoubleSeconds(absl::Now() - start));
  if (s.ok()) s = AwaitOthers(ctx);
  if (!s.ok()) return s;
  return evaluate(final_clock);
}

// This rank's shards of a flight-delay job's data, hashed.
struct FlightsShards {
  FeatureHashOptions hash;
  FlightFeatures train;
  FlightFeatures test;
  int64_t train_split = 0;  // flights in the whole training split
};

// Loads and hashes one file's shard; *split_count: the file's flights.
absl::StatusOr<FlightFeatures> LoadHashed(const std::string& path,
                                          const v1::Task& task,
                                          const FeatureHashOptions& hash,
                                          int64_t* split_count) {
  // Each rank streams only its shard of each file; the keys are all training
  // needs of the rows.
  absl::StatusOr<FlightRows> rows =
      LoadFlights(path, task.rank(), task.num_workers());
  if (!rows.ok()) return rows.status();
  *split_count = rows->split_count;
  return HashFlightFeatures(*rows, hash);
}

absl::StatusOr<FlightsShards> LoadFlightsShards(const v1::Task& task,
                                                const SparseModelShape& shape) {
  FlightsShards out;
  out.hash.num_bits = shape.hash_bits;
  for (v1::FlightFeature f : shape.features) {
    absl::StatusOr<FlightFeature> feature = FlightFeatureFromNumber(f);
    if (!feature.ok()) return feature.status();
    out.hash.features.push_back(*feature);
  }
  const std::string dir = task.spec().data().dir();
  absl::StatusOr<FlightFeatures> train = LoadHashed(
      absl::StrCat(dir, "/train.psf"), task, out.hash, &out.train_split);
  if (!train.ok()) return train.status();
  out.train = *std::move(train);
  int64_t test_split = 0;
  absl::StatusOr<FlightFeatures> test =
      LoadHashed(absl::StrCat(dir, "/test.psf"), task, out.hash, &test_split);
  if (!test.ok()) return test.status();
  out.test = *std::move(test);
  return out;
}

FlightsModelSpec FlightsModelSpecOf(const v1::JobSpec& spec,
                                    const SparseModelShape& shape,
                                    int64_t slots) {
  return FlightsModelSpec{
      .type = spec.model().type() == v1::SPARSE_LR
                  ? FlightsModelType::kSparseLr
                  : FlightsModelType::kWideDeep,
      .slots = slots,
      .embedding_dim = shape.embedding_dim,
      .hidden_sizes = {spec.model().hidden_sizes().begin(),
                       spec.model().hidden_sizes().end()},
      .max_batch = std::max(spec.training().batch_size(), kSparseEvalBatch)};
}

// The test set's evaluation, with the AUC histogram, into *done.
void FillSparseEvaluation(const SparseEvaluation& eval,
                          v1::CompleteTaskRequest* done) {
  done->set_test_examples(eval.stats.count);
  done->set_test_correct(eval.stats.correct);
  done->set_test_loss_sum(eval.stats.loss_sum);
  *done->mutable_score_hist_pos() = {eval.histogram.pos.begin(),
                                     eval.histogram.pos.end()};
  *done->mutable_score_hist_neg() = {eval.histogram.neg.begin(),
                                     eval.histogram.neg.end()};
}

// The flight-delay models: trains and evaluates; fills the evaluation,
// with the AUC histogram, into *done.
absl::Status TrainAndEvaluateSparse(const TaskContext& ctx,
                                    v1::CompleteTaskRequest* done) {
  const v1::Task& task = ctx.task;
  absl::StatusOr<SparseModelShape> shape = SparseShapeOf(task.spec());
  if (!shape.ok()) return shape.status();
  absl::StatusOr<FlightsShards> data = LoadFlightsShards(task, *shape);
  if (!data.ok()) return data.status();
  const int64_t slots = static_cast<int64_t>(data->hash.features.size());
  absl::StatusOr<std::unique_ptr<FlightsModel>> model = CreateFlightsModel(
      FlightsModelSpecOf(task.spec(), *shape, slots), ctx.options.compute);
  if (!model.ok()) return model.status();
  absl::StatusOr<std::unique_ptr<SparseParamStore>> store =
      ctx.stores.ConnectSparse(task, PushWorkerId(ctx), **model, ctx.cancelled);
  if (!store.ok()) return store.status();
  Logger("worker")->info(
      "{} rank {}/{}: {} train and {} test flights, {} features, {} dense "
      "parameters",
      task.job_id(), task.rank(), task.num_workers(), data->train.count,
      data->test.count, slots, (*model)->num_dense());
  const TrainerOptions topt = TrainerOptionsFor(task, data->train_split);
  return TrainMeetEvaluate(
      ctx, topt, data->train.count, TotalSteps(topt, data->train.count),
      [&](ProgressSink* sink) {
        return TrainSparse(topt, data->train, model->get(), store->get(), sink,
                           ctx.cancelled);
      },
      [&](int64_t clock) -> absl::Status {
        absl::StatusOr<SparseEvaluation> eval = EvaluateSparse(
            data->test, kSparseEvalBatch, clock, model->get(), store->get());
        if (!eval.ok()) return eval.status();
        FillSparseEvaluation(*eval, done);
        return absl::OkStatus();
      },
      done);
}

// This rank's shards of Fashion-MNIST, standardised, and an ensemble's
// held-out training rows (ensemble_task.h).
struct MnistShards {
  Examples train;
  Examples test;
  Examples holdout;
};

absl::StatusOr<MnistShards> LoadMnistShards(const v1::Task& task) {
  const std::string& dir = task.spec().data().dir();
  MnistShards out;
  if (IsEnsemble(task.spec())) {
    absl::StatusOr<TrainingShard> train =
        LoadTrainingShard(dir, task.spec(), task.rank(), task.num_workers());
    if (!train.ok()) return train.status();
    out.train = std::move(train->train);
    out.holdout = std::move(train->holdout);
  } else {
    absl::StatusOr<Examples> train = LoadTrainShard(task);
    if (!train.ok()) return train.status();
    out.train = *std::move(train);
  }
  absl::StatusOr<Examples> test =
      LoadFashionMnist(dir, Split::kTest, task.rank(), task.num_workers());
  if (!test.ok()) return test.status();
  out.test = *std::move(test);
  Standardize(kFashionMnistMean, kFashionMnistStd, &out.train);
  Standardize(kFashionMnistMean, kFashionMnistStd, &out.holdout);
  Standardize(kFashionMnistMean, kFashionMnistStd, &out.test);
  return out;
}

// Pulls the parameters at `clock` (the mean of the `copies` copies of a
// mixing job) and evaluates them on the test shard into *done (an ensemble:
// its members and their mixture).
absl::Status EvaluateDense(const v1::JobSpec& spec, const MnistShards& data,
                           int64_t clock, int copies, Model* model,
                           ParamStore* store, v1::CompleteTaskRequest* done) {
  std::vector<float> params(model->num_params());
  absl::Status final_pull =
      PullModel(store, clock, copies, model->num_params(), params.data());
  if (!final_pull.ok()) return final_pull;
  if (IsEnsemble(spec)) {
    return EvaluateEnsemble(spec, params.data(), data.holdout, data.test,
                            kEvalBatch, done);
  }
  const Examples& test = data.test;
  absl::StatusOr<BatchStats> eval =
      Evaluate(test, kEvalBatch, params.data(), model);
  if (!eval.ok()) return eval.status();
  done->set_test_examples(eval->count);
  done->set_test_correct(eval->correct);
  done->set_test_loss_sum(eval->loss_sum);
  return absl::OkStatus();
}

// The MLP on Fashion-MNIST: trains and evaluates; fills the evaluation into
// *done.
absl::Status TrainAndEvaluateDense(const TaskContext& ctx,
                                   v1::CompleteTaskRequest* done) {
  const v1::Task& task = ctx.task;
  const v1::JobSpec& spec = task.spec();
  absl::StatusOr<std::vector<int64_t>> sizes = LayerSizes(spec);
  if (!sizes.ok()) return sizes.status();
  absl::StatusOr<MnistShards> data = LoadMnistShards(task);
  if (!data.ok()) return data.status();
  if (data->train.dim != sizes->front()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model input size ", sizes->front(), " does not match the data's ",
        data->train.dim, " features"));
  }
  const int64_t max_rows = std::max(spec.training().batch_size(), kEvalBatch);
  absl::StatusOr<std::unique_ptr<Model>> model =
      IsEnsemble(spec) ? CreateEnsemble(spec, max_rows, ctx.options.compute)
                       : CreateModel(*sizes, max_rows, ctx.options.compute);
  if (!model.ok()) return model.status();
  const int copies = DenseCopies(task);
  absl::StatusOr<std::unique_ptr<ParamStore>> store = ctx.stores.ConnectDense(
      task, PushWorkerId(ctx), (*model)->num_params() * copies, ctx.cancelled);
  if (!store.ok()) return store.status();
  Logger("worker")->info(
      "{} rank {}/{}: {} train and {} test examples, {} parameters",
      task.job_id(), task.rank(), task.num_workers(), data->train.count,
      data->test.count, (*model)->num_params());
  const TrainerOptions topt = TrainerOptionsFor(task, data->train.split_count);
  return TrainMeetEvaluate(
      ctx, topt, data->train.count,
      DenseFinalClock(task, topt, data->train.count),
      [&](ProgressSink* sink) {
        if (IsEnsemble(spec)) {
          return TrainEnsemble(topt, spec, data->train, model->get(),
                               store->get(), sink, ctx.cancelled);
        }
        return TrainDense(task, topt, data->train, data->test, kEvalBatch,
                          model->get(), store->get(), sink, ctx.cancelled,
                          done);
      },
      [&](int64_t clock) {
        return EvaluateDense(spec, *data, clock, copies, model->get(),
                             store->get(), done);
      },
      done);
}

}  // namespace

absl::Status RunTask(const v1::Task& task, const TaskRunnerOptions& options,
                     const std::atomic<bool>* cancelled) {
  const ScopedLogJob log_job(task.job_id());
  auto log = Logger("worker");
  ServerParamStores servers(
      {.refresh =
           [&options](const std::string& job,
                      const std::vector<std::string>& unreachable) {
             return options.coordinator->RefreshMap(job, options.member_id,
                                                    unreachable);
           },
       .newest_epoch = options.map_epoch,
       .security = options.security,
       .job_token = options.job_token});
  const TaskContext ctx{
      .task = task,
      .options = options,
      .stores = options.stores != nullptr ? *options.stores : servers,
      .cancelled = cancelled};
  if (!task.push_worker_id().empty() &&
      task.push_worker_id() != options.member_id) {
    log->info("{} rank {}: taking the rank over from step {}, pushing as {}",
              task.job_id(), task.rank(), task.resume_step(),
              task.push_worker_id());
  }
  v1::CompleteTaskRequest done;
  done.set_member_id(options.member_id);
  done.set_job_id(task.job_id());
  done.set_rank(task.rank());
  done.set_attempt(task.attempt());
  absl::Status outcome = IsSparseModel(task.spec().model().type())
                             ? TrainAndEvaluateSparse(ctx, &done)
                             : TrainAndEvaluateDense(ctx, &done);
  if (outcome.code() == absl::StatusCode::kCancelled) {
    // The job ended elsewhere (cancelled, or failed by another rank).
    log->info("{} rank {} stopped: {}", task.job_id(), task.rank(),
              outcome.ToString());
    return outcome;
  }
  if (!outcome.ok()) {
    log->error("{} rank {} failed: {}", task.job_id(), task.rank(),
               outcome.ToString());
    done.set_failed(true);
    done.set_reason(outcome.ToString());
  }
  if (absl::Status reported = options.coordinator->CompleteTask(done);
      !reported.ok()) {
    log->warn("{}: completing task: {}", task.job_id(), reported.ToString());
  }
  log->info("{} rank {} done: {} of {} test examples correct", task.job_id(),
            task.rank(), done.test_correct(), done.test_examples());
  return outcome;
}

}  // namespace ps::worker
