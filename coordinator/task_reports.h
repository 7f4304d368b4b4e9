// What the ranks of one running job report to the coordinator: progress,
// arrivals at named barriers, and completion with their evaluation. A value
// class, not thread-safe: JobManager keeps one per job under its lock and
// does the waiting and the state changes. The free functions check a
// worker's request against its job before anything is recorded.
#ifndef PS_COORDINATOR_TASK_REPORTS_H_
#define PS_COORDINATOR_TASK_REPORTS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proto/ps/v1/coordinator_state.pb.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::coordinator {

// Whether `rank` of `job` may report: the job is RUNNING
// (FAILED_PRECONDITION naming its state and reason), the rank is one of
// its ranks (INVALID_ARGUMENT), and, unless `member_id` is empty, the rank
// belongs to that member (PERMISSION_DENIED naming both; a rank that lost
// its worker belongs to no one until another takes it over).
absl::Status CheckRunningRank(const v1::Job& job, int rank,
                              const std::string& member_id);

// Whether a successful rank's evaluation is well formed: 0 <= test_correct
// <= test_examples, and score histograms both empty or both of kAucBins
// non-negative counts, per-round evaluations (at most 1000, rounds in
// [1, 1000], 0 <= correct <= examples), and an ensemble member's
// 0 <= test_correct <= test_examples and weight in [0, 1]. INVALID_ARGUMENT
// naming the field
// otherwise.
absl::Status ValidateEvaluation(const v1::CompleteTaskRequest& request);

class TaskReports {
 public:
  // No ranks: a job that is not running yet.
  TaskReports() = default;
  explicit TaskReports(int ranks);

  // Records the rank's latest progress (request.rank() checked by
  // CheckRunningRank) and returns the job's aggregate (AggregateProgress).
  v1::JobProgress AddProgress(const v1::ReportProgressRequest& request,
                              int batch_size);

  // Records `rank`'s arrival at barrier `name`; arriving twice counts once
  // (a worker asks again while it waits). True when the arrival is new.
  bool Arrive(const std::string& name, int rank);
  // Whether every rank has arrived at `name`.
  bool AllArrived(const std::string& name) const;
  // The ranks not yet arrived at `name`, ascending.
  std::vector<int> Missing(const std::string& name) const;

  // The steps `rank` last reported as done (0 before its first report):
  // where a worker taking the rank over resumes.
  int64_t ReportedStep(int rank) const { return progress_[rank].step(); }
  // The rank's total steps as it last reported them (0 before its first).
  int64_t ReportedTotal(int rank) const {
    return progress_[rank].total_steps();
  }
  int ranks() const { return static_cast<int>(progress_.size()); }
  // Whether `rank` has completed its task.
  bool Completed(int rank) const { return done_[rank]; }

  // Records the rank's completion (checked by CheckRunningRank and
  // ValidateEvaluation); returns whether every rank has completed.
  bool Complete(const v1::CompleteTaskRequest& request);
  // The ranks' evaluations combined (CombineEvaluations).
  v1::JobResult Result() const;

  // Everything recorded, into and out of a stored job (state_store.h).
  void SaveTo(v1::StoredJob* stored) const;
  static TaskReports Restore(const v1::StoredJob& stored);

 private:
  std::vector<v1::ReportProgressRequest> progress_;  // by rank
  std::vector<v1::CompleteTaskRequest> completed_;   // by rank
  std::vector<bool> done_;                           // by rank
  std::map<std::string, std::set<int>> barriers_;    // name -> arrived ranks
};

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_TASK_REPORTS_H_
