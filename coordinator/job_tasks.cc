// JobManager: the worker-facing calls of a running job.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/auc.h"
#include "common/model_layout.h"
#include "coordinator/job_manager.h"
#include "coordinator/job_progress.h"

namespace ps::coordinator {

absl::StatusOr<JobManager::Record*> JobManager::FindRunningRank(
    const std::string& job_id, int rank, const std::string& member_id) {
  absl::StatusOr<Record*> r = Find(job_id);
  if (!r.ok()) return r.status();
  const v1::Job& job = (*r)->job;
  if (job.state() != v1::RUNNING) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is ", v1::JobState_Name(job.state()),
                     job.reason().empty() ? "" : ": ", job.reason()));
  }
  if (rank < 0 || rank >= job.worker_ids_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rank: ", rank, "; allowed: [0, ", job.worker_ids_size(), ")"));
  }
  if (!member_id.empty() && job.worker_ids(rank) != member_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("rank ", rank, " of ", job_id, " belongs to ",
                     job.worker_ids(rank), ", not ", member_id));
  }
  return *r;
}

absl::Status JobManager::ReportProgress(
    const v1::ReportProgressRequest& request) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Record*> r =
      FindRunningRank(request.job_id(), request.rank(), request.member_id());
  if (!r.ok()) return r.status();
  (*r)->progress[request.rank()] = request;
  *(*r)->job.mutable_progress() = AggregateProgress(
      (*r)->progress, (*r)->job.spec().training().batch_size());
  Changed(*r);
  return absl::OkStatus();
}

absl::Status JobManager::Barrier(const v1::BarrierRequest& request) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Record*> found =
      FindRunningRank(request.job_id(), request.rank(), "");
  if (!found.ok()) return found.status();
  Record* r = *found;
  std::set<int>& arrived = r->barriers[request.name()];
  arrived.insert(request.rank());
  Changed(r);
  const int n = r->job.worker_ids_size();
  auto done = [r, &arrived, n] {
    return static_cast<int>(arrived.size()) == n ||
           r->job.state() != v1::RUNNING;
  };
  const absl::Duration timeout = request.timeout_ms() > 0
                                     ? absl::Milliseconds(request.timeout_ms())
                                     : options_.barrier_timeout;
  if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
    std::vector<std::string> missing;
    for (int rank = 0; rank < n; ++rank) {
      if (!arrived.count(rank)) {
        missing.push_back(
            absl::StrCat(rank, " (", r->job.worker_ids(rank), ")"));
      }
    }
    return absl::DeadlineExceededError(
        absl::StrCat("barrier '", request.name(), "' of ", request.job_id(),
                     " timed out after ", absl::FormatDuration(timeout),
                     "; missing ranks: ", absl::StrJoin(missing, ", ")));
  }
  if (r->job.state() != v1::RUNNING) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", request.job_id(), " is ",
                     v1::JobState_Name(r->job.state()), ": ", r->job.reason()));
  }
  return absl::OkStatus();
}

absl::Status JobManager::CompleteTask(const v1::CompleteTaskRequest& request) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Record*> found =
      FindRunningRank(request.job_id(), request.rank(), request.member_id());
  if (!found.ok()) return found.status();
  Record* r = *found;
  if (request.failed()) {
    Finish(r, v1::FAILED,
           absl::StrCat("rank ", request.rank(), " (", request.member_id(),
                        ") failed: ", request.reason()));
    return absl::OkStatus();
  }
  if (request.test_examples() < 0 || request.test_correct() < 0 ||
      request.test_correct() > request.test_examples()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "test_correct ", request.test_correct(), " and test_examples ",
        request.test_examples(), "; allowed: 0 <= correct <= examples"));
  }
  if (request.score_hist_pos_size() != request.score_hist_neg_size() ||
      (request.score_hist_pos_size() != 0 &&
       request.score_hist_pos_size() != kAucBins)) {
    return absl::InvalidArgumentError(
        absl::StrCat("score_hist_pos has ", request.score_hist_pos_size(),
                     " bins and score_hist_neg ", request.score_hist_neg_size(),
                     "; allowed: both empty or both ", kAucBins));
  }
  for (int b = 0; b < request.score_hist_pos_size(); ++b) {
    if (request.score_hist_pos(b) < 0 || request.score_hist_neg(b) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "score histogram bin ", b, " is negative; allowed: counts >= 0"));
    }
  }
  r->completed[request.rank()] = request;
  r->done[request.rank()] = true;
  if (std::find(r->done.begin(), r->done.end(), false) != r->done.end()) {
    Changed(r);
    return absl::OkStatus();
  }
  v1::JobResult result = CombineEvaluations(r->completed);
  result.set_train_seconds((NowMs() - r->job.start_time_ms()) / 1000.0);
  *r->job.mutable_result() = result;
  Finish(r, v1::SUCCEEDED,
         IsSparseModel(r->job.spec().model().type())
             ? absl::StrCat("test AUC ", result.test_auc())
             : absl::StrCat("test accuracy ", result.test_accuracy()));
  return absl::OkStatus();
}

}  // namespace ps::coordinator
