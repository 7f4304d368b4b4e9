#include "worker/task/task_runner.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/ps_client.h"
#include "common/logging.h"
#include "common/model_layout.h"
#include "common/rpc.h"
#include "common/status.h"
#include "worker/data/fashion_mnist.h"
#include "worker/data/feature_hash.h"
#include "worker/data/flights_data.h"
#include "worker/model/compute.h"
#include "worker/model/flights_model.h"
#include "worker/train/sparse_trainer.h"
#include "worker/train/trainer.h"

namespace ps::worker {
namespace {

constexpr int kEvalBatch = 1000;
// Test batches of the flight models: large, since a batch costs one pull.
constexpr int kSparseEvalBatch = 4096;

// The coordinator answers FAILED_PRECONDITION once the job is no longer
// RUNNING (cancelled, or failed by another rank): for this task that means
// stop, not fail.
absl::Status JobEndedIsCancelled(absl::Status s) {
  if (s.code() != absl::StatusCode::kFailedPrecondition) return s;
  return absl::CancelledError(s.message());
}

// The job's tables as one flat buffer on the servers.
class ServerParamStore : public ParamStore {
 public:
  ServerParamStore(std::unique_ptr<client::PsClient> client,
                   std::vector<client::TableRef> refs)
      : client_(std::move(client)), refs_(std::move(refs)) {}
  absl::StatusOr<int64_t> Pull(float* params, int64_t clock) override {
    int64_t staleness = 0;
    absl::Status s = client_->Pull(refs_, params, clock, &staleness);
    if (!s.ok()) return s;
    return staleness;
  }
  absl::Status Push(const float* grads, int64_t clock) override {
    return client_->Push(refs_, grads, clock);
  }

 private:
  std::unique_ptr<client::PsClient> client_;
  std::vector<client::TableRef> refs_;
};

// A sparse model's tables on the servers: the DENSE tables as one flat
// buffer, the sparse ones row by row.
class ServerSparseParamStore : public SparseParamStore {
 public:
  // `overlap`: send a step's push and the next step's pull together (ASP
  // only; see PsClient::PushAndPull).
  ServerSparseParamStore(std::unique_ptr<client::PsClient> client,
                         std::vector<client::TableRef> dense, bool overlap)
      : client_(std::move(client)),
        dense_(std::move(dense)),
        overlap_(overlap) {}
  absl::StatusOr<int64_t> Pull(float* dense, std::vector<SparseBlock>* blocks,
                               int64_t clock) override {
    int64_t staleness = 0;
    absl::Status s =
        client_->Pull(dense_, dense, PullRefs(blocks), clock, &staleness);
    if (!s.ok()) return s;
    return staleness;
  }
  absl::Status Push(const float* dense_grads,
                    const std::vector<SparseBlock>& blocks,
                    int64_t clock) override {
    return client_->Push(dense_, dense_grads, PushRefs(blocks), clock);
  }
  absl::StatusOr<int64_t> PushAndPull(
      const float* dense_grads, const std::vector<SparseBlock>& push_blocks,
      int64_t push_clock, float* dense, std::vector<SparseBlock>* pull_blocks,
      int64_t pull_clock) override {
    if (!overlap_) {
      return SparseParamStore::PushAndPull(dense_grads, push_blocks, push_clock,
                                           dense, pull_blocks, pull_clock);
    }
    int64_t staleness = 0;
    absl::Status s = client_->PushAndPull(
        dense_, dense_grads, PushRefs(push_blocks), push_clock, dense_, dense,
        PullRefs(pull_blocks), pull_clock, &staleness);
    if (!s.ok()) return s;
    return staleness;
  }

 private:
  // The blocks as the client's refs, in buffers reused from call to call.
  const std::vector<client::SparsePullRef>& PullRefs(
      std::vector<SparseBlock>* blocks) {
    pull_refs_.clear();
    for (SparseBlock& b : *blocks) {
      pull_refs_.push_back({b.table, b.keys, b.values.data()});
    }
    return pull_refs_;
  }
  const std::vector<client::SparsePushRef>& PushRefs(
      const std::vector<SparseBlock>& blocks) {
    push_refs_.clear();
    for (const SparseBlock& b : blocks) {
      push_refs_.push_back({b.table, b.keys, b.values.data()});
    }
    return push_refs_;
  }

  std::unique_ptr<client::PsClient> client_;
  std::vector<client::TableRef> dense_;
  const bool overlap_;
  std::vector<client::SparsePullRef> pull_refs_;
  std::vector<client::SparsePushRef> push_refs_;
};

class CoordinatorSink : public ProgressSink {
 public:
  CoordinatorSink(const v1::Task& task, const TaskRunnerOptions& options)
      : task_(task), options_(options) {}
  absl::Status Report(const Progress& p) override {
    v1::ReportProgressRequest r;
    r.set_member_id(options_.member_id);
    r.set_job_id(task_.job_id());
    r.set_rank(task_.rank());
    r.set_step(p.step);
    r.set_total_steps(p.total_steps);
    r.set_epoch(p.epoch);
    r.set_loss(p.loss);
    r.set_accuracy(p.accuracy);
    r.set_examples_per_sec(p.examples_per_sec);
    r.set_max_staleness(p.max_staleness);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(options_.rpc_timeout));
    v1::ReportProgressResponse response;
    return JobEndedIsCancelled(FromGrpcStatus(
        options_.coordinator->ReportProgress(&ctx, r, &response)));
  }

 private:
  const v1::Task& task_;
  const TaskRunnerOptions& options_;
};

absl::StatusOr<std::unique_ptr<ParamStore>> ConnectStore(
    const v1::Task& task, const TaskRunnerOptions& options, int64_t num_params,
    const std::atomic<bool>* cancelled) {
  std::vector<client::TableRef> refs;
  int64_t offset = 0;
  for (const v1::TableDef& t : task.partition_map().tables()) {
    refs.push_back({t.name(), 0, t.size(), offset});
    offset += t.size();
  }
  if (offset != num_params) {
    return absl::InvalidArgumentError(
        absl::StrCat("the job's tables hold ", offset,
                     " values but the model has ", num_params, " parameters"));
  }
  absl::StatusOr<std::unique_ptr<client::PsClient>> client =
      client::PsClient::Create(
          task.job_id(), task.partition_map(),
          {.worker_id = options.member_id, .cancelled = cancelled});
  if (!client.ok()) return client.status();
  return std::make_unique<ServerParamStore>(*std::move(client),
                                            std::move(refs));
}

absl::StatusOr<std::unique_ptr<SparseParamStore>> ConnectSparseStore(
    const v1::Task& task, const TaskRunnerOptions& options,
    const FlightsModel& model, const std::atomic<bool>* cancelled) {
  std::vector<client::TableRef> dense;
  int64_t offset = 0;
  std::vector<int64_t> sparse_dims;
  for (const v1::TableDef& t : task.partition_map().tables()) {
    if (t.kind() == v1::SPARSE) {
      sparse_dims.push_back(t.dim());
      continue;
    }
    dense.push_back({t.name(), 0, t.size(), offset});
    offset += t.size();
  }
  if (offset != model.num_dense() || sparse_dims != model.table_dims()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the job's tables hold ", offset, " dense values and ",
                     sparse_dims.size(), " sparse tables but the model has ",
                     model.num_dense(), " dense parameters and ",
                     model.table_dims().size(), " sparse tables"));
  }
  absl::StatusOr<std::unique_ptr<client::PsClient>> client =
      client::PsClient::Create(
          task.job_id(), task.partition_map(),
          {.worker_id = options.member_id, .cancelled = cancelled});
  if (!client.ok()) return client.status();
  const v1::Consistency mode = task.spec().training().consistency();
  const bool asp = mode == v1::ASP || mode == v1::CONSISTENCY_UNSPECIFIED;
  return std::make_unique<ServerSparseParamStore>(*std::move(client),
                                                  std::move(dense), asp);
}

// The examples a finished training loop went through, and its duration.
void RecordTrainingLoop(const TrainerOptions& topt, int64_t shard_count,
                        absl::Duration took, v1::CompleteTaskRequest* done) {
  done->set_train_examples(ExamplesPerEpoch(topt, shard_count) * topt.epochs);
  done->set_train_loop_seconds(absl::ToDoubleSeconds(took));
}

// Meets the other ranks at the "trained" barrier, waiting up to
// options.barrier_timeout in calls of at most kBarrierSlice (arrival is
// recorded once; asking again only waits again), so that a cancelled task,
// and a worker told to stop, return within a slice.
absl::Status AwaitOthers(const v1::Task& task, const TaskRunnerOptions& options,
                         const std::atomic<bool>* cancelled) {
  constexpr absl::Duration kBarrierSlice = absl::Seconds(1);
  const absl::Time deadline = absl::Now() + options.barrier_timeout;
  while (true) {
    if (cancelled != nullptr && cancelled->load()) {
      return absl::CancelledError("task cancelled at the trained barrier");
    }
    const absl::Duration left = deadline - absl::Now();
    v1::BarrierRequest b;
    b.set_job_id(task.job_id());
    b.set_rank(task.rank());
    b.set_name("trained");
    b.set_timeout_ms(std::max<int64_t>(
        1, absl::ToInt64Milliseconds(std::min(left, kBarrierSlice))));
    grpc::ClientContext ctx;
    ctx.set_deadline(
        DeadlineIn(std::min(left, kBarrierSlice) + options.rpc_timeout));
    v1::BarrierResponse response;
    absl::Status s = JobEndedIsCancelled(
        FromGrpcStatus(options.coordinator->Barrier(&ctx, b, &response)));
    // The coordinator's DEADLINE_EXCEEDED names the missing ranks.
    if (!absl::IsDeadlineExceeded(s) || left <= kBarrierSlice) return s;
  }
}

// The flight-delay models: trains and evaluates; fills the evaluation,
// with the AUC histogram, into *done.
absl::Status TrainAndEvaluateSparse(const v1::Task& task,
                                    const TaskRunnerOptions& options,
                                    const std::atomic<bool>* cancelled,
                                    v1::CompleteTaskRequest* done) {
  const v1::JobSpec& spec = task.spec();
  absl::StatusOr<SparseModelShape> shape = SparseShapeOf(spec);
  if (!shape.ok()) return shape.status();
  FeatureHashOptions hash{.num_bits = shape->hash_bits};
  for (v1::FlightFeature f : shape->features) {
    absl::StatusOr<FlightFeature> feature = FlightFeatureFromNumber(f);
    if (!feature.ok()) return feature.status();
    hash.features.push_back(*feature);
  }
  // Each rank streams only its shard of each file.
  const std::string dir = spec.data().dir();
  absl::StatusOr<FlightRows> train_rows = LoadFlights(
      absl::StrCat(dir, "/train.psf"), task.rank(), task.num_workers());
  if (!train_rows.ok()) return train_rows.status();
  absl::StatusOr<FlightFeatures> train = HashFlightFeatures(*train_rows, hash);
  if (!train.ok()) return train.status();
  const int64_t train_split = train_rows->split_count;
  train_rows = FlightRows();  // the keys are all training needs
  absl::StatusOr<FlightRows> test_rows = LoadFlights(
      absl::StrCat(dir, "/test.psf"), task.rank(), task.num_workers());
  if (!test_rows.ok()) return test_rows.status();
  absl::StatusOr<FlightFeatures> test = HashFlightFeatures(*test_rows, hash);
  if (!test.ok()) return test.status();
  test_rows = FlightRows();
  FlightsModelSpec model_spec{
      .type = spec.model().type() == v1::SPARSE_LR
                  ? FlightsModelType::kSparseLr
                  : FlightsModelType::kWideDeep,
      .slots = static_cast<int64_t>(hash.features.size()),
      .embedding_dim = shape->embedding_dim,
      .hidden_sizes = {spec.model().hidden_sizes().begin(),
                       spec.model().hidden_sizes().end()},
      .max_batch = std::max(spec.training().batch_size(), kSparseEvalBatch)};
  absl::StatusOr<std::unique_ptr<FlightsModel>> model =
      CreateFlightsModel(model_spec, options.compute);
  if (!model.ok()) return model.status();
  absl::StatusOr<std::unique_ptr<SparseParamStore>> store =
      ConnectSparseStore(task, options, **model, cancelled);
  if (!store.ok()) return store.status();
  Logger("worker")->info(
      "{} rank {}/{}: {} train and {} test flights, {} features, {} dense "
      "parameters",
      task.job_id(), task.rank(), task.num_workers(), train->count, test->count,
      hash.features.size(), (*model)->num_dense());
  CoordinatorSink sink(task, options);
  TrainerOptions topt{
      .epochs = spec.training().epochs(),
      .batch_size = spec.training().batch_size(),
      .report_every_steps = spec.training().report_every_steps(),
      .seed = spec.training().seed(),
      .rank = task.rank(),
      .examples_per_epoch = train_split / task.num_workers()};
  const absl::Time start = absl::Now();
  absl::Status s =
      TrainSparse(topt, *train, model->get(), store->get(), &sink, cancelled);
  RecordTrainingLoop(topt, train->count, absl::Now() - start, done);
  if (s.ok()) s = AwaitOthers(task, options, cancelled);
  if (!s.ok()) return s;
  // Read at the clock after the last step: under BSP/SSP that waits for
  // every worker's updates.
  absl::StatusOr<SparseEvaluation> eval =
      EvaluateSparse(*test, kSparseEvalBatch, TotalSteps(topt, train->count),
                     model->get(), store->get());
  if (!eval.ok()) return eval.status();
  done->set_test_examples(eval->stats.count);
  done->set_test_correct(eval->stats.correct);
  done->set_test_loss_sum(eval->stats.loss_sum);
  *done->mutable_score_hist_pos() = {eval->histogram.pos.begin(),
                                     eval->histogram.pos.end()};
  *done->mutable_score_hist_neg() = {eval->histogram.neg.begin(),
                                     eval->histogram.neg.end()};
  return absl::OkStatus();
}

// Trains and evaluates; fills the evaluation into *done.
absl::Status TrainAndEvaluate(const v1::Task& task,
                              const TaskRunnerOptions& options,
                              const std::atomic<bool>* cancelled,
                              v1::CompleteTaskRequest* done) {
  const v1::JobSpec& spec = task.spec();
  if (IsSparseModel(spec.model().type())) {
    return TrainAndEvaluateSparse(task, options, cancelled, done);
  }
  absl::StatusOr<std::vector<int64_t>> sizes = LayerSizes(spec);
  if (!sizes.ok()) return sizes.status();
  absl::StatusOr<Examples> train = LoadFashionMnist(
      spec.data().dir(), Split::kTrain, task.rank(), task.num_workers());
  if (!train.ok()) return train.status();
  absl::StatusOr<Examples> test = LoadFashionMnist(
      spec.data().dir(), Split::kTest, task.rank(), task.num_workers());
  if (!test.ok()) return test.status();
  Standardize(kFashionMnistMean, kFashionMnistStd, &*train);
  Standardize(kFashionMnistMean, kFashionMnistStd, &*test);
  if (train->dim != sizes->front()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model input size ", sizes->front(),
                     " does not match the data's ", train->dim, " features"));
  }
  absl::StatusOr<std::unique_ptr<Model>> model =
      CreateModel(*sizes, std::max(spec.training().batch_size(), kEvalBatch),
                  options.compute);
  if (!model.ok()) return model.status();
  absl::StatusOr<std::unique_ptr<ParamStore>> store =
      ConnectStore(task, options, (*model)->num_params(), cancelled);
  if (!store.ok()) return store.status();
  Logger("worker")->info(
      "{} rank {}/{}: {} train and {} test examples, {} parameters",
      task.job_id(), task.rank(), task.num_workers(), train->count, test->count,
      (*model)->num_params());
  CoordinatorSink sink(task, options);
  TrainerOptions topt{
      .epochs = spec.training().epochs(),
      .batch_size = spec.training().batch_size(),
      .report_every_steps = spec.training().report_every_steps(),
      .seed = spec.training().seed(),
      .rank = task.rank(),
      .examples_per_epoch = train->split_count / task.num_workers()};
  const absl::Time start = absl::Now();
  absl::Status s =
      Train(topt, *train, model->get(), store->get(), &sink, cancelled);
  RecordTrainingLoop(topt, train->count, absl::Now() - start, done);
  if (s.ok()) s = AwaitOthers(task, options, cancelled);
  if (!s.ok()) return s;
  // Read at the clock after the last step: under BSP/SSP that waits for
  // every worker's updates.
  std::vector<float> params((*model)->num_params());
  absl::StatusOr<int64_t> final_pull =
      (*store)->Pull(params.data(), TotalSteps(topt, train->count));
  if (!final_pull.ok()) return final_pull.status();
  absl::StatusOr<BatchStats> eval =
      Evaluate(*test, kEvalBatch, params.data(), model->get());
  if (!eval.ok()) return eval.status();
  done->set_test_examples(eval->count);
  done->set_test_correct(eval->correct);
  done->set_test_loss_sum(eval->loss_sum);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunTask(const v1::Task& task, const TaskRunnerOptions& options,
                     const std::atomic<bool>* cancelled) {
  auto log = Logger("worker");
  v1::CompleteTaskRequest done;
  done.set_member_id(options.member_id);
  done.set_job_id(task.job_id());
  done.set_rank(task.rank());
  absl::Status outcome = TrainAndEvaluate(task, options, cancelled, &done);
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
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(options.rpc_timeout));
  v1::CompleteTaskResponse response;
  absl::Status reported =
      FromGrpcStatus(options.coordinator->CompleteTask(&ctx, done, &response));
  if (!reported.ok())
    log->warn("{}: completing task: {}", task.job_id(), reported.ToString());
  log->info("{} rank {} done: {} of {} test examples correct", task.job_id(),
            task.rank(), done.test_correct(), done.test_examples());
  return outcome;
}

}  // namespace ps::worker
