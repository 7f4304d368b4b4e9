// Runs one task (one rank of one job) from start to report: loads this
// rank's data shards, builds the model, trains against the servers, meets the
// other ranks at the "trained" barrier, evaluates its share of the test set
// and completes the task with the coordinator. Any failure is reported as a
// failed task with its reason, so the job ends FAILED instead of hanging.
#ifndef PS_WORKER_TASK_TASK_RUNNER_H_
#define PS_WORKER_TASK_TASK_RUNNER_H_

#include <atomic>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/ps/v1/ps.grpc.pb.h"
#include "worker/model/compute.h"

namespace ps::worker {

struct TaskRunnerOptions {
  std::string member_id;
  v1::Coordinator::Stub* coordinator = nullptr;  // not owned
  absl::Duration rpc_timeout = absl::Seconds(10);
  // Longest wait for the other ranks at the end of training.
  absl::Duration barrier_timeout = absl::Minutes(10);
  // Which backend computes (see worker/model/compute.h).
  ComputeOptions compute;
};

// Blocks until the task ends. Returns the task's outcome (also reported to
// the coordinator, except when the job had already ended there).
absl::Status RunTask(const v1::Task& task, const TaskRunnerOptions& options,
                     const std::atomic<bool>* cancelled);

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_TASK_RUNNER_H_
