#include "worker/task_runner.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/ps_client.h"
#include "common/logging.h"
#include "common/model_layout.h"
#include "common/rpc.h"
#include "common/status.h"
#include "worker/compute.h"
#include "worker/fashion_mnist.h"
#include "worker/trainer.h"

namespace ps::worker {
namespace {

constexpr int kEvalBatch = 1000;

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
    return JobEndedIsCancelled(
        FromGrpcStatus(options_.coordinator->ReportProgress(&ctx, r, &response)));
  }

 private:
  const v1::Task& task_;
  const TaskRunnerOptions& options_;
};

absl::StatusOr<std::unique_ptr<ParamStore>> ConnectStore(
    const v1::Task& task, const TaskRunnerOptions& options, int64_t num_params) {
  std::vector<client::TableRef> refs;
  int64_t offset = 0;
  for (const v1::TableDef& t : task.partition_map().tables()) {
    refs.push_back({t.name(), 0, t.size(), offset});
    offset += t.size();
  }
  if (offset != num_params) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the job's tables hold ", offset, " values but the model has ",
        num_params, " parameters"));
  }
  absl::StatusOr<std::unique_ptr<client::PsClient>> client =
      client::PsClient::Create(task.job_id(), task.partition_map(),
                               {.worker_id = options.member_id});
  if (!client.ok()) return client.status();
  return std::make_unique<ServerParamStore>(*std::move(client), std::move(refs));
}

absl::Status AwaitOthers(const v1::Task& task, const TaskRunnerOptions& options) {
  v1::BarrierRequest b;
  b.set_job_id(task.job_id());
  b.set_rank(task.rank());
  b.set_name("trained");
  b.set_timeout_ms(absl::ToInt64Milliseconds(options.barrier_timeout));
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(options.barrier_timeout + options.rpc_timeout));
  v1::BarrierResponse response;
  return JobEndedIsCancelled(
      FromGrpcStatus(options.coordinator->Barrier(&ctx, b, &response)));
}

// Trains and evaluates; fills the evaluation into *done.
absl::Status TrainAndEvaluate(const v1::Task& task,
                              const TaskRunnerOptions& options,
                              const std::atomic<bool>* cancelled,
                              v1::CompleteTaskRequest* done) {
  const v1::JobSpec& spec = task.spec();
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
    return absl::InvalidArgumentError(absl::StrCat(
        "model input size ", sizes->front(), " does not match the data's ",
        train->dim, " features"));
  }
  absl::StatusOr<std::unique_ptr<Model>> model =
      CreateModel(*sizes, std::max(spec.training().batch_size(), kEvalBatch),
                  options.compute);
  if (!model.ok()) return model.status();
  absl::StatusOr<std::unique_ptr<ParamStore>> store =
      ConnectStore(task, options, (*model)->num_params());
  if (!store.ok()) return store.status();
  Logger("worker")->info("{} rank {}/{}: {} train and {} test examples, {} parameters",
                         task.job_id(), task.rank(), task.num_workers(),
                         train->count, test->count, (*model)->num_params());
  CoordinatorSink sink(task, options);
  TrainerOptions topt{.epochs = spec.training().epochs(),
                      .batch_size = spec.training().batch_size(),
                      .report_every_steps = spec.training().report_every_steps(),
                      .seed = spec.training().seed(),
                      .rank = task.rank(),
                      .examples_per_epoch = train->split_count / task.num_workers()};
  absl::Status s = Train(topt, *train, model->get(), store->get(), &sink, cancelled);
  if (s.ok()) s = AwaitOthers(task, options);
  if (!s.ok()) return s;
  // Read at the clock after the last step: under BSP/SSP that waits for
  // every worker's updates.
  std::vector<float> params((*model)->num_params());
  absl::StatusOr<int64_t> final_pull =
      (*store)->Pull(params.data(), TotalSteps(topt, train->count));
  if (!final_pull.ok()) return final_pull.status();
  absl::StatusOr<BatchStats> eval = Evaluate(*test, kEvalBatch, params.data(), model->get());
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
    log->info("{} rank {} stopped: {}", task.job_id(), task.rank(), outcome.ToString());
    return outcome;
  }
  if (!outcome.ok()) {
    log->error("{} rank {} failed: {}", task.job_id(), task.rank(), outcome.ToString());
    done.set_failed(true);
    done.set_reason(outcome.ToString());
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(options.rpc_timeout));
  v1::CompleteTaskResponse response;
  absl::Status reported =
      FromGrpcStatus(options.coordinator->CompleteTask(&ctx, done, &response));
  if (!reported.ok()) log->warn("{}: completing task: {}", task.job_id(), reported.ToString());
  log->info("{} rank {} done: {} of {} test examples correct", task.job_id(),
            task.rank(), done.test_correct(), done.test_examples());
  return outcome;
}

}  // namespace ps::worker
