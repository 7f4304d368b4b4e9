// Runs one task (one rank of one job) from start to report: loads this
// rank's data shards, builds the model, trains against the job's parameter
// stores, meets the other ranks at the "trained" barrier, evaluates its share
// of the test set and completes the task with the coordinator. Any failure is
// reported as a failed task with its reason, so the job ends FAILED instead
// of hanging.
#ifndef PS_WORKER_TASK_TASK_RUNNER_H_
#define PS_WORKER_TASK_TASK_RUNNER_H_

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/ps/v1/ps.pb.h"
#include "worker/model/compute.h"
#include "worker/task/param_stores.h"
#include "worker/task/task_coordinator.h"
#include "worker/task/worker_metrics.h"

namespace ps::worker {

struct TaskRunnerOptions {
  std::string member_id;
  TaskCoordinator* coordinator = nullptr;  // not owned; required
  // Where the job's parameters live; not owned. Null: the job's parameter
  // servers (ServerParamStores).
  ParamStores* stores = nullptr;
  // Longest wait for the other ranks at the end of training.
  absl::Duration barrier_timeout = absl::Minutes(10);
  // Which backend computes (see worker/model/compute.h).
  ComputeOptions compute;
  // The newest epoch of the job's partition map heard of; may be null (see
  // ServerParamStoresOptions::newest_epoch). Not owned.
  const std::atomic<uint64_t>* map_epoch = nullptr;
  // The channels to the servers (null: plaintext) and the rank's token
  // (null: none); see ServerParamStoresOptions.
  std::shared_ptr<const RpcSecurity> security;
  const client::JobTokenHolder* job_token = nullptr;
  // Records the task's progress reports; not owned; null: no metrics.
  WorkerMetrics* metrics = nullptr;
};

// Blocks until the task ends. Returns the task's outcome, also reported to
// the coordinator (CompleteTask) unless it is CANCELLED: the task was
// cancelled through *cancelled (may be null), or the job had already ended
// at the coordinator.
absl::Status RunTask(const v1::Task& task, const TaskRunnerOptions& options,
                     const std::atomic<bool>* cancelled);

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_TASK_RUNNER_H_
