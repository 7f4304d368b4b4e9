#include "worker/task/task_slot.h"

#include <utility>

#include "common/logging.h"
#include "worker/task/task_runner.h"

namespace ps::worker {

void TaskSlot::SetCoordinator(std::function<std::string()> member_id,
                              TaskCoordinator* coordinator) {
  absl::MutexLock lock(&mu_);
  member_id_ = std::move(member_id);
  coordinator_ = coordinator;
}

void TaskSlot::ReapFinished() {
  if (running_ && running_->finished.load()) {
    running_->thread.join();
    running_.reset();
  }
}

void TaskSlot::OnHeartbeat(const v1::HeartbeatResponse& response) {
  absl::MutexLock lock(&mu_);
  ReapFinished();
  if (running_) {
    for (const std::string& id : response.cancelled_job_ids()) {
      if (id == running_->job_id && !running_->cancelled.exchange(true)) {
        Logger("worker")->info("{} was cancelled or failed: stopping", id);
      }
    }
    return;
  }
  if (shut_down_ || coordinator_ == nullptr || !response.has_task() ||
      response.task().job_id() == last_job_) {
    return;
  }
  last_job_ = response.task().job_id();
  auto run = std::make_unique<Running>();
  run->job_id = last_job_;
  TaskRunnerOptions options{.member_id = member_id_(),
                            .coordinator = coordinator_,
                            .stores = stores_,
                            .compute = compute_};
  Running* r = run.get();
  r->thread = std::thread([r, options, task = response.task()] {
    RunTask(task, options, &r->cancelled).IgnoreError();  // reported inside
    r->finished.store(true);
  });
  running_ = std::move(run);
}

void TaskSlot::Shutdown() {
  std::unique_ptr<Running> run;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    run = std::move(running_);
  }
  if (run) {
    run->cancelled.store(true);
    run->thread.join();
  }
}

}  // namespace ps::worker
