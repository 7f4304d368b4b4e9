#include "worker/task/task_coordinator.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

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

absl::Status GrpcTaskCoordinator::WhileUnavailable(
    const char* what, const std::function<absl::Status()>& call) {
  absl::Status s = call();
  if (!absl::IsUnavailable(s)) return s;
  Logger("worker")->warn("{}: coordinator unavailable ({}); trying again for "
                         "up to {}",
                         what, std::string(s.message()),
                         absl::FormatDuration(outage_));
  const absl::Time deadline = absl::Now() + outage_;
  while (absl::IsUnavailable(s) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(250));
    s = call();
  }
  if (!absl::IsUnavailable(s)) return s;
  return absl::UnavailableError(
      absl::StrCat(what, ": the coordinator was unavailable for ",
                   absl::FormatDuration(outage_), ": ", s.message()));
}

absl::Status GrpcTaskCoordinator::ReportProgress(
    const v1::ReportProgressRequest& request) {
  const auto key = std::make_pair(request.job_id(), request.rank());
  absl::Status s = client_->ReportProgress(request);
  absl::MutexLock lock(&mu_);
  if (absl::IsUnavailable(s)) {
    unsent_[key] = request;  // sent before the rank's next call
    return absl::OkStatus();
  }
  unsent_.erase(key);
  return JobEndedIsCancelled(s);
}

absl::Status GrpcTaskCoordinator::FlushProgress(const std::string& job_id,
                                                int rank) {
  std::optional<v1::ReportProgressRequest> kept;
  {
    absl::MutexLock lock(&mu_);
    auto it = unsent_.find({job_id, rank});
    if (it == unsent_.end()) return absl::OkStatus();
    kept = std::move(it->second);
    unsent_.erase(it);
  }
  return JobEndedIsCancelled(WhileUnavailable(
      "progress report", [&] { return client_->ReportProgress(*kept); }));
}

absl::Status GrpcTaskCoordinator::Barrier(const v1::BarrierRequest& request) {
  if (absl::Status s = FlushProgress(request.job_id(), request.rank());
      !s.ok()) {
    return s;
  }
  return JobEndedIsCancelled(WhileUnavailable(
      "barrier", [&] { return client_->Barrier(request); }));
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
  if (absl::Status s = FlushProgress(request.job_id(), request.rank());
      !s.ok() && !request.failed()) {
    return s;
  }
  return WhileUnavailable("completing the task",
                          [&] { return client_->CompleteTask(request); });
}

}  // namespace ps::worker
