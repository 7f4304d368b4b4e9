// The worker's one task slot: starts a task thread when a heartbeat brings a
// task it has not run yet, and raises the task's cancel flag when a heartbeat
// says the job was cancelled or failed, or when the worker registered again
// under a new member id (the coordinator had declared it dead and handed its
// rank to another worker). A task is a job's rank given to one member id:
// the same process may take a rank of that job again under its new id.
// Thread-safe.
#ifndef PS_WORKER_TASK_TASK_SLOT_H_
#define PS_WORKER_TASK_TASK_SLOT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "proto/ps/v1/ps.pb.h"
#include "worker/model/compute.h"
#include "worker/task/param_stores.h"
#include "worker/task/task_coordinator.h"
#include "worker/task/worker_metrics.h"

namespace ps::worker {

class TaskSlot {
 public:
  // Every task this slot runs computes on the backend `compute` picks and
  // keeps its parameters in `stores` (not owned; null: the job's parameter
  // servers), reached with `security` (null: plaintext); `metrics` (not
  // owned; null: none) records its progress.
  explicit TaskSlot(ComputeOptions compute = {}, ParamStores* stores = nullptr,
                    std::shared_ptr<const RpcSecurity> security = nullptr,
                    WorkerMetrics* metrics = nullptr)
      : compute_(compute),
        stores_(stores),
        security_(std::move(security)),
        metrics_(metrics) {}
  ~TaskSlot() { Shutdown(); }

  // Where tasks report, and as whom: `member_id` is asked each time a task
  // starts (the id changes when the worker registers again). Must be called
  // before heartbeats can start tasks; `coordinator` (not owned) must stay
  // valid until Shutdown() returns.
  void SetCoordinator(std::function<std::string()> member_id,
                      TaskCoordinator* coordinator);
  void OnHeartbeat(const v1::HeartbeatResponse& response);
  // The coordinator no longer knows this worker (it declared it dead, or it
  // restarted without its state): the running task's rank is no longer
  // ours, so it stops, and a task given after the worker registers again
  // runs even when its job id and member id equal the last ones (an
  // in-memory coordinator numbers jobs and members from 1 again).
  void Forgotten();
  // Cancels the running task, if any, and joins its thread.
  void Shutdown();

 private:
  struct Running {
    std::string job_id;
    std::string member_id;  // the id the task was given to
    int attempt = 0;        // Task.attempt
    std::atomic<bool> cancelled{false};
    std::atomic<bool> finished{false};
    // The newest epoch of the job's map in this worker's heartbeats.
    std::atomic<uint64_t> map_epoch{0};
    // The rank's data-plane token, renewed with each heartbeat.
    client::JobTokenHolder job_token;
    std::thread thread;
  };
  void ReapFinished() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ComputeOptions compute_;
  ParamStores* const stores_;
  const std::shared_ptr<const RpcSecurity> security_;  // may be null
  WorkerMetrics* const metrics_;                       // may be null
  absl::Mutex mu_;
  std::function<std::string()> member_id_ ABSL_GUARDED_BY(mu_);
  TaskCoordinator* coordinator_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::unique_ptr<Running> running_ ABSL_GUARDED_BY(mu_);
  // "job member": never runs a task twice.
  std::string last_task_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_TASK_SLOT_H_
