#include "worker/task/task_slot.h"

#include <utility>

#include "absl/strings/str_cat.h"
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
  const std::string member = member_id_ ? member_id_() : "";
  if (running_) {
    // Registered again: the coordinator declared the old id dead, and the
    // task's rank went to another worker (or its job failed).
    if (member != running_->member_id && !running_->cancelled.exchange(true)) {
      Logger("worker")->warn(
          "{}: registered again as {} after {} was declared dead; its rank "
          "belongs to another worker now: stopping",
          running_->job_id, member, running_->member_id);
    }
    for (const std::string& id : response.cancelled_job_ids()) {
      if (id == running_->job_id && !running_->cancelled.exchange(true)) {
        Logger("worker")->info("{} was cancelled or failed: stopping", id);
      }
    }
    // The job was resumed: this task is of an earlier attempt.
    if (response.task().job_id() == running_->job_id &&
        response.task().attempt() != running_->attempt &&
        !running_->cancelled.exchange(true)) {
      Logger("worker")->info("{} was resumed as attempt {}: stopping attempt {}",
                             running_->job_id, response.task().attempt(),
                             running_->attempt);
    }
    // A failover raised the epoch: calls waiting on the replaced server
    // give up and follow the new map.
    if (response.task().job_id() == running_->job_id &&
        response.task().partition_map().epoch() > running_->map_epoch.load()) {
      running_->map_epoch.store(response.task().partition_map().epoch());
    }
    if (response.task().job_id() == running_->job_id &&
        response.task().attempt() == running_->attempt &&
        !response.task().job_token().empty()) {
      running_->job_token.Set(response.task().job_token());
    }
    return;
  }
  // A task is one rank of a job given to one member id: the same worker
  // may take a rank of the same job again once it registered anew.
  const std::string task_key =
      absl::StrCat(response.task().job_id(), " ", member, " ",
                   response.task().attempt());
  if (shut_down_ || coordinator_ == nullptr || !response.has_task() ||
      task_key == last_task_) {
    return;
  }
  last_task_ = task_key;
  auto run = std::make_unique<Running>();
  run->job_id = response.task().job_id();
  run->member_id = member;
  run->attempt = response.task().attempt();
  run->map_epoch.store(response.task().partition_map().epoch());
  run->job_token.Set(response.task().job_token());
  Running* r = run.get();
  TaskRunnerOptions options{.member_id = member,
                            .coordinator = coordinator_,
                            .stores = stores_,
                            .compute = compute_,
                            .map_epoch = &r->map_epoch,
                            .security = security_,
                            .job_token = &r->job_token,
                            .metrics = metrics_};
  r->thread = std::thread([r, options, task = response.task()] {
    // Reported to the coordinator inside; here only counted.
    const absl::Status outcome = RunTask(task, options, &r->cancelled);
    if (options.metrics != nullptr) options.metrics->TaskEnded(outcome);
    r->finished.store(true);
  });
  running_ = std::move(run);
}

void TaskSlot::Forgotten() {
  absl::MutexLock lock(&mu_);
  last_task_.clear();
  if (running_ && !running_->cancelled.exchange(true)) {
    Logger("worker")->warn(
        "{}: the coordinator no longer knows {}; stopping its rank",
        running_->job_id, running_->member_id);
  }
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
