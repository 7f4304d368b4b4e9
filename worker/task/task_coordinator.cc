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

absl::StatusOr<v1::PartitionMap> GrpcTaskCoordinator::RefreshMap(
    const std::string& job_id, const std::string& member_id,
    const std::vector<std::string>& unreachable) {
  if (!unreachable.empty()) {
    // Best effort: the lease catches a dead server anyway, later.
    client_->ReportUnreachable(job_id, member_id, unreachable).IgnoreError();
  }
  absl::StatusOr<v1::Job> job = client_->GetJob(job_id);
  if (!job.ok()) return job.status();
  if (job->state() != v1::RUNNING) {
    return absl::CancelledError(absl::StrCat(
        "job ", job_id, " is ", v1::JobState_Name(job->state()), ": ",
        job->reason()));
  }
  return job->partition_map();
}

absl::Status GrpcTaskCoordinator::CompleteTask(
    const v1::CompleteTaskRequest& request) {
  return client_->CompleteTask(request);
}

}  // namespace ps::worker
