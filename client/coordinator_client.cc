#include "client/coordinator_client.h"

#include <algorithm>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "common/rpc.h"
#include "common/status.h"

namespace ps::client {

absl::StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Connect(
    const std::string& address, CoordinatorClientOptions options) {
  return Create(MakeChannel(address), options);
}

absl::StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Create(
    std::shared_ptr<grpc::Channel> channel, CoordinatorClientOptions options) {
  if (options.rpc_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("rpc_timeout ", absl::FormatDuration(options.rpc_timeout),
                     " must be > 0"));
  }
  return absl::WrapUnique(new CoordinatorClient(
      v1::Coordinator::NewStub(std::move(channel)), options));
}

std::unique_ptr<grpc::ClientContext> CoordinatorClient::Context(
    absl::Duration extra) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(DeadlineIn(options_.rpc_timeout + extra));
  return ctx;
}

absl::StatusOr<std::string> CoordinatorClient::SubmitJob(
    const v1::JobSpec& spec) {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  v1::SubmitJobResponse response;
  absl::Status s =
      FromGrpcStatus(stub_->SubmitJob(Context().get(), request, &response));
  if (!s.ok()) return s;
  return response.job_id();
}

absl::StatusOr<v1::Job> CoordinatorClient::GetJob(const std::string& job_id) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job job;
  absl::Status s =
      FromGrpcStatus(stub_->GetJob(Context().get(), request, &job));
  if (!s.ok()) return s;
  return job;
}

absl::StatusOr<std::vector<v1::Job>> CoordinatorClient::ListJobs() {
  v1::ListJobsResponse response;
  absl::Status s =
      FromGrpcStatus(stub_->ListJobs(Context().get(), {}, &response));
  if (!s.ok()) return s;
  return std::vector<v1::Job>(response.jobs().begin(), response.jobs().end());
}

absl::StatusOr<v1::JobState> CoordinatorClient::CancelJob(
    const std::string& job_id) {
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  v1::CancelJobResponse response;
  absl::Status s =
      FromGrpcStatus(stub_->CancelJob(Context().get(), request, &response));
  if (!s.ok()) return s;
  return response.state();
}

absl::StatusOr<v1::GetClusterResponse> CoordinatorClient::GetCluster() {
  v1::GetClusterResponse response;
  absl::Status s =
      FromGrpcStatus(stub_->GetCluster(Context().get(), {}, &response));
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::Job> CoordinatorClient::WatchJob(
    const std::string& job_id, absl::Duration timeout,
    const std::function<void(const v1::Job&)>& on_update,
    const std::function<void(grpc::ClientContext*)>& on_context) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(timeout));
  if (on_context) on_context(&ctx);
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  auto reader = stub_->WatchJob(&ctx, request);
  v1::Job job;
  while (reader->Read(&job)) on_update(job);
  absl::Status s = FromGrpcStatus(reader->Finish());
  if (on_context) on_context(nullptr);  // ctx ends with this call
  if (!s.ok()) return s;
  return job;
}

absl::Status CoordinatorClient::ReportProgress(
    const v1::ReportProgressRequest& request) {
  v1::ReportProgressResponse response;
  return FromGrpcStatus(
      stub_->ReportProgress(Context().get(), request, &response));
}

absl::Status CoordinatorClient::Barrier(const v1::BarrierRequest& request) {
  v1::BarrierResponse response;
  const absl::Duration wait =
      absl::Milliseconds(std::max<int64_t>(request.timeout_ms(), 0));
  return FromGrpcStatus(
      stub_->Barrier(Context(wait).get(), request, &response));
}

absl::Status CoordinatorClient::CompleteTask(
    const v1::CompleteTaskRequest& request) {
  v1::CompleteTaskResponse response;
  return FromGrpcStatus(
      stub_->CompleteTask(Context().get(), request, &response));
}

}  // namespace ps::client
