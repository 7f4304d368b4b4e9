// The coordinator calls a task makes: progress reports, the "trained"
// barrier, and the task's completion. An interface so that the task runner is
// tested without a coordinator; GrpcTaskCoordinator is the real one.
#ifndef PS_WORKER_TASK_TASK_COORDINATOR_H_
#define PS_WORKER_TASK_TASK_COORDINATOR_H_

#include <functional>
#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/coordinator_client.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::worker {

// Implementations must be thread-safe: every running task calls them from
// its own thread.
class TaskCoordinator {
 public:
  virtual ~TaskCoordinator() = default;

  // Records a task's progress. CANCELLED when the job is no longer running
  // (cancelled, or failed by another rank): the task should stop.
  virtual absl::Status ReportProgress(
      const v1::ReportProgressRequest& request) = 0;

  // Waits at request.name() until every rank arrived or request.timeout_ms()
  // passed; arrival is recorded by the first call, asking again only waits
  // again. DEADLINE_EXCEEDED (naming the missing ranks) when the wait ran
  // out, CANCELLED when the job is no longer running.
  virtual absl::Status Barrier(const v1::BarrierRequest& request) = 0;

  // Reports the task's outcome: its evaluation, or failed() with a reason.
  virtual absl::Status CompleteTask(const v1::CompleteTaskRequest& request) = 0;

  // After a data-plane call failed: reports the servers it could not reach
  // (member ids; may be empty) and returns the job's partition map now.
  // CANCELLED when the job is no longer running. The default has no
  // coordinator to ask: UNIMPLEMENTED (the call's error stands).
  virtual absl::StatusOr<v1::PartitionMap> RefreshMap(
      const std::string& job_id, const std::string& member_id,
      const std::vector<std::string>& unreachable) {
    return absl::UnimplementedError("no coordinator to refresh the map from");
  }
};

// The coordinator over a client::CoordinatorClient (its deadlines: each call
// rpc_timeout, a barrier its timeout_ms plus rpc_timeout). The coordinator's
// FAILED_PRECONDITION (job no longer running) to a progress report or a
// barrier comes back as CANCELLED.
//
// A coordinator that is down (UNAVAILABLE: restarting, say) is waited for:
// a barrier arrival and a completion are sent again, every 250 ms, for up to
// `outage` from the first failure, then the last error is returned naming
// the wait; a progress report is kept, not waited for, and sent before the
// rank's next call (a newer report replaces it); RefreshMap's own error
// stands (its caller retries).
class GrpcTaskCoordinator : public TaskCoordinator {
 public:
  // `client` is not owned and must outlive this object.
  explicit GrpcTaskCoordinator(client::CoordinatorClient* client,
                               absl::Duration outage = absl::Seconds(60))
      : client_(client), outage_(outage) {}

  absl::Status ReportProgress(
      const v1::ReportProgressRequest& request) override;
  absl::Status Barrier(const v1::BarrierRequest& request) override;
  absl::Status CompleteTask(const v1::CompleteTaskRequest& request) override;
  absl::StatusOr<v1::PartitionMap> RefreshMap(
      const std::string& job_id, const std::string& member_id,
      const std::vector<std::string>& unreachable) override;

 private:
  // Calls `call` again while it returns UNAVAILABLE, for up to outage_.
  absl::Status WhileUnavailable(const char* what,
                                const std::function<absl::Status()>& call);

  // Sends the rank's kept progress report, if any, first.
  absl::Status FlushProgress(const std::string& job_id, int rank);

  client::CoordinatorClient* const client_;
  const absl::Duration outage_;
  absl::Mutex mu_;
  // Progress reports not yet sent, by (job id, rank).
  std::map<std::pair<std::string, int>, v1::ReportProgressRequest> unsent_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_TASK_COORDINATOR_H_
