#include "worker/task/task_coordinator.h"

#include "common/rpc.h"
#include "common/status.h"

namespace ps::worker {
namespace {

// The coordinator answers FAILED_PRECONDITION once the job is no longer
// RUNNING (cancelled, or failed by another rank): for this task that means
// stop, not fail.
absl::Status JobEndedIsCancelled(absl::Status s) {
  if (s.code() != absl::StatusCode::kFailedPrecondition) return s;
  return absl::CancelledError(s.message());
}

}  // namespace

absl::Status GrpcTaskCoordinator::ReportProgress(
    const v1::ReportProgressRequest& request) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(rpc_timeout_));
  v1::ReportProgressResponse response;
  return JobEndedIsCancelled(
      FromGrpcStatus(stub_->ReportProgress(&ctx, request, &response)));
}

absl::Status GrpcTaskCoordinator::Barrier(const v1::BarrierRequest& request) {
  grpc::ClientContext ctx;
  ctx.set_deadline(
      DeadlineIn(absl::Milliseconds(request.timeout_ms()) + rpc_timeout_));
  v1::BarrierResponse response;
  return JobEndedIsCancelled(
      FromGrpcStatus(stub_->Barrier(&ctx, request, &response)));
}

absl::Status GrpcTaskCoordinator::CompleteTask(
    const v1::CompleteTaskRequest& request) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(rpc_timeout_));
  v1::CompleteTaskResponse response;
  return FromGrpcStatus(stub_->CompleteTask(&ctx, request, &response));
}

}  // namespace ps::worker
