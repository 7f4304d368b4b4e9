#include "client/coordinator_client.h"

#include <algorithm>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "common/rpc.h"
#include "common/status.h"

namespace ps::client {

absl::StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Connect(
    const std::string& address, CoordinatorClientOptions options,
    const RpcSecurity* security) {
  return Create(MakeChannel(security, address), options);
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

template <typename Response, typename Request>
absl::StatusOr<Response> CoordinatorClient::Call(
    grpc::Status (v1::Coordinator::Stub::*method)(grpc::ClientContext*,
                                                  const Request&, Response*),
    const Request& request, absl::Duration extra) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(options_.rpc_timeout + extra));
  Response response;
  absl::Status s =
      FromGrpcStatus((stub_.get()->*method)(&ctx, request, &response));
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<std::string> CoordinatorClient::SubmitJob(
    const v1::JobSpec& spec) {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  auto response = Call(&v1::Coordinator::Stub::SubmitJob, request);
  if (!response.ok()) return response.status();
  return response->job_id();
}

absl::StatusOr<v1::Job> CoordinatorClient::GetJob(const std::string& job_id) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  return Call(&v1::Coordinator::Stub::GetJob, request);
}

absl::StatusOr<std::vector<v1::Job>> CoordinatorClient::ListJobs() {
  auto response = Call(&v1::Coordinator::Stub::ListJobs, v1::ListJobsRequest());
  if (!response.ok()) return response.status();
  return std::vector<v1::Job>(response->jobs().begin(), response->jobs().end());
}

absl::StatusOr<v1::JobState> CoordinatorClient::CancelJob(
    const std::string& job_id) {
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  auto response = Call(&v1::Coordinator::Stub::CancelJob, request);
  if (!response.ok()) return response.status();
  return response->state();
}

absl::StatusOr<v1::GetJobTokenResponse> CoordinatorClient::GetJobToken(
    const std::string& job_id) {
  v1::GetJobTokenRequest request;
  request.set_job_id(job_id);
  return Call(&v1::Coordinator::Stub::GetJobToken, request, absl::ZeroDuration());
}

absl::StatusOr<v1::JobHistory> CoordinatorClient::GetJobHistory(
    const std::string& job_id, int max_points) {
  v1::GetJobHistoryRequest request;
  request.set_job_id(job_id);
  request.set_max_points(max_points);
  return Call(&v1::Coordinator::Stub::GetJobHistory, request,
              absl::ZeroDuration());
}

absl::StatusOr<v1::CheckpointInfo> CoordinatorClient::CheckpointJob(
    const std::string& job_id, absl::Duration timeout) {
  v1::CheckpointJobRequest request;
  request.set_job_id(job_id);
  return Call(&v1::Coordinator::Stub::CheckpointJob, request, timeout);
}

absl::StatusOr<v1::ResumeJobResponse> CoordinatorClient::ResumeJob(
    const v1::ResumeJobRequest& request) {
  return Call(&v1::Coordinator::Stub::ResumeJob, request);
}

absl::StatusOr<v1::GetClusterResponse> CoordinatorClient::GetCluster() {
  return Call(&v1::Coordinator::Stub::GetCluster, v1::GetClusterRequest());
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
  return Call(&v1::Coordinator::Stub::ReportProgress, request).status();
}

absl::Status CoordinatorClient::Barrier(const v1::BarrierRequest& request) {
  const absl::Duration wait =
      absl::Milliseconds(std::max<int64_t>(request.timeout_ms(), 0));
  return Call(&v1::Coordinator::Stub::Barrier, request, wait).status();
}

absl::Status CoordinatorClient::CompleteTask(
    const v1::CompleteTaskRequest& request) {
  return Call(&v1::Coordinator::Stub::CompleteTask, request).status();
}

absl::StatusOr<std::vector<std::string>> CoordinatorClient::ReportUnreachable(
    const std::string& job_id, const std::string& reporter,
    const std::vector<std::string>& server_ids) {
  v1::ReportUnreachableRequest request;
  request.set_job_id(job_id);
  request.set_reporter(reporter);
  for (const std::string& id : server_ids) request.add_server_ids(id);
  absl::StatusOr<v1::ReportUnreachableResponse> response =
      Call(&v1::Coordinator::Stub::ReportUnreachable, request);
  if (!response.ok()) return response.status();
  return std::vector<std::string>(response->dead().begin(),
                                  response->dead().end());
}

}  // namespace ps::client
