#include "worker/task/task_coordinator.h"

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
  return JobEndedIsCancelled(client_->ReportProgress(request));
}

absl::Status GrpcTaskCoordinator::Barrier(const v1::BarrierRequest& request) {
  return JobEndedIsCancelled(client_->Barrier(request));
}

absl::Status GrpcTaskCoordinator::CompleteTask(
    const v1::CompleteTaskRequest& request) {
  return client_->CompleteTask(request);
}

}  // namespace ps::worker
